"""glassnet's networks as scikit-learn estimators: `Pipeline`, `GridSearchCV` and
`cross_val_score` use them like any other.

    >>> from glassnet.sklearn import NeuralClassifier
    >>> from sklearn.model_selection import cross_val_score
    >>> cross_val_score(NeuralClassifier(epochs=50), X, y, cv=5)   # doctest: +SKIP

`NeuralClassifier` / `NeuralRegressor` train glassnet's tabular MLP on a numeric array
(columns x0, x1, ...); `NeuralImageClassifier` trains its CNN on an (N, H, W) or
(N, H, W, C) array of images. Each `fit` is a glassnet run in a temporary folder (removed
with the estimator); `run_` is the fitted `glassnet.Run`, so `run_.explain(...)` opens it up.
Pickling keeps the run's files (weights, preprocessing, config) as bytes.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from glassnet import api
from glassnet.errors import GlassnetError

# What a run needs to be loaded again (pickling carries these, nothing else).
_RUN_FILES = ("run.yaml", "preprocess.json", "model.safetensors", "metrics.json")
_TARGET = "target"


class _RunHolder:
    """A fitted run in a temporary folder that disappears with its holder."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self._run: api.Run | None = None

    @classmethod
    def train(cls, task: str, frame: Any, options: dict[str, Any]) -> _RunHolder:
        folder = Path(tempfile.mkdtemp(prefix="glassnet-sklearn-"))
        try:
            run = api.train(task, frame, out=str(folder / "run"), quiet=True, **options)
            files = {n: (run.path / n).read_bytes() for n in _RUN_FILES if (run.path / n).is_file()}
        except GlassnetError as e:  # scikit-learn's callers expect a ValueError
            raise ValueError(str(e)) from e
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return cls(files)

    @property
    def run(self) -> api.Run:
        if self._run is None:
            folder = Path(tempfile.mkdtemp(prefix="glassnet-sklearn-"))
            weakref.finalize(self, shutil.rmtree, folder, True)
            for name, data in self.files.items():
                (folder / name).write_bytes(data)
            self._run = api.load(folder, device="cpu")
        return self._run

    def __getstate__(self) -> dict[str, Any]:
        return {"files": self.files}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.files, self._run = state["files"], None


class _FittedRun:
    holder_: _RunHolder

    @property
    def run_(self) -> api.Run:
        """The fitted glassnet run (explain, export, serve it like any other)."""
        check_is_fitted(self, "holder_")
        return self.holder_.run


class _NeuralTable(_FittedRun, BaseEstimator):
    """Shared by the classifier and the regressor: options map to `glassnet train tabular`
    flags; None keeps glassnet's default (for small tables, sized from the data)."""

    _kind = "classification"

    def __init__(
        self,
        *,
        net: str = "mlp.small",
        hidden: tuple[int, ...] | None = None,
        dropout: float | None = None,
        activation: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float | None = None,
        patience: int = 10,
        validation_fraction: float = 0.15,
        random_state: int | None = 0,
    ) -> None:
        self.net = net
        self.hidden = hidden
        self.dropout = dropout
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # gaps are filled and flagged, as in any table
        return tags

    def _options(self, n: int) -> dict[str, Any]:
        given = {
            "net": self.net,
            "hidden": None if self.hidden is None else list(self.hidden),
            "dropout": self.dropout,
            "activation": self.activation,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "patience": self.patience,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "kind": self._kind,
            "test_fraction": 0.0,  # scoring is the caller's (cross_val_score, a test set)
        }
        # Too few rows to hold some out: train on all of them, stop on the training loss.
        if self.validation_fraction and n * self.validation_fraction >= 2:
            given["val_fraction"] = self.validation_fraction
        else:
            given.update(val_fraction=0.0, monitor="train_loss")
        return {k: v for k, v in given.items() if v is not None}

    def _frame(self, X: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])

    def _validated(self, X: Any, y: Any, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=numeric)
        return np.asarray(X, dtype=np.float64), np.asarray(y)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> _NeuralTable:
        if len(X) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to learn from; got 1 sample"
            )
        frame = self._frame(X).assign(**{_TARGET: y})
        options = {**self._options(len(frame)), "target": _TARGET}
        self.holder_ = _RunHolder.train("tabular", frame, options)
        return self

    def _outputs(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "holder_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        frame = self._frame(np.asarray(X, dtype=np.float64))
        return self.run_.predict(frame)


class NeuralClassifier(ClassifierMixin, _NeuralTable):
    """An MLP classifier (glassnet's `mlp.*` nets) with the scikit-learn estimator API."""

    def fit(self, X: Any, y: Any) -> NeuralClassifier:
        X, y = self._validated(X, y, numeric=False)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"NeuralClassifier needs samples of at least 2 classes; y holds only one class "
                f"({self.classes_[0]!r})"
            )
        return self._fit(X, codes.astype(np.int64))  # type: ignore[return-value]

    def predict_proba(self, X: Any) -> np.ndarray:
        out = self._outputs(X)
        # glassnet names columns after the class codes it was given (0, 1, ...)
        columns = [f"probability_{i}" for i in range(len(self.classes_))]
        return out[columns].to_numpy(dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it says when the model is not fitted
        return self.classes_[np.argmax(proba, axis=1)]


class NeuralRegressor(RegressorMixin, _NeuralTable):
    """An MLP regressor (glassnet's `mlp.*` nets) with the scikit-learn estimator API."""

    _kind = "regression"

    def fit(self, X: Any, y: Any) -> NeuralRegressor:
        X, y = self._validated(X, y, numeric=True)
        return self._fit(X, y.astype(np.float64))  # type: ignore[return-value]

    def predict(self, X: Any) -> np.ndarray:
        return self._outputs(X)[_TARGET].to_numpy(dtype=np.float64)


class NeuralImageClassifier(ClassifierMixin, _FittedRun, BaseEstimator):
    """A CNN image classifier (glassnet's `cnn.*` nets) over arrays of images: X is
    (N, H, W) grey or (N, H, W, 3) colour, uint8 0-255 or any numbers (scaled to 0-255 by
    the training data's range). Each fit writes the pictures as PNG files, one folder per
    class, and trains `glassnet train images` on them."""

    def __init__(
        self,
        *,
        net: str = "cnn.small",
        widths: tuple[int, ...] | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        augment: str = "auto",
        validation_fraction: float = 0.15,
        random_state: int | None = 0,
    ) -> None:
        self.net = net
        self.widths = widths
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _images(self, X: Any, reset: bool) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim not in (3, 4) or (X.ndim == 4 and X.shape[-1] not in (1, 3)):
            raise ValueError(
                f"{type(self).__name__} takes images as an (N, H, W) or (N, H, W, 3) array; "
                f"got shape {X.shape}"
            )
        if not np.isfinite(X).all():
            raise ValueError("the images hold NaN or infinite values")
        if reset:
            self.image_shape_ = X.shape[1:]
            self.n_features_in_ = int(np.prod(X.shape[1:]))
            self.range_ = (0.0, 255.0) if X.dtype == np.uint8 else (float(X.min()), float(X.max()))
        elif X.shape[1:] != self.image_shape_:
            raise ValueError(f"X holds images of shape {X.shape[1:]}; fit saw {self.image_shape_}")
        lo, hi = self.range_
        scaled = (X.astype(np.float64) - lo) / ((hi - lo) or 1.0) * 255.0
        return scaled.clip(0, 255).round().astype(np.uint8)

    def _write(self, images: np.ndarray, folder: Path, names: list[str]) -> list[Path]:
        from PIL import Image

        paths = []
        for i, (img, name) in enumerate(zip(images, names, strict=True)):
            (folder / name).mkdir(parents=True, exist_ok=True)
            path = folder / name / f"{i:06d}.png"
            Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img).save(path)
            paths.append(path)
        return paths

    def fit(self, X: Any, y: Any) -> NeuralImageClassifier:
        images = self._images(X, reset=True)
        y = np.asarray(y)
        check_classification_targets(y)
        if len(y) != len(images):
            raise ValueError(f"X holds {len(images)} images but y {len(y)} labels")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs images of at least 2 classes")
        options = {
            "net": self.net,
            "widths": None if self.widths is None else list(self.widths),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "augment": self.augment,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "val_fraction": self.validation_fraction,
            "test_fraction": 0.0,
        }
        with tempfile.TemporaryDirectory(prefix="glassnet-sklearn-") as tmp:
            self._write(images, Path(tmp) / "images", [f"{c:04d}" for c in codes])
            given = {k: v for k, v in options.items() if v is not None}
            self.holder_ = _RunHolder.train("images", str(Path(tmp) / "images"), given)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "holder_")
        images = self._images(X, reset=False)
        with tempfile.TemporaryDirectory(prefix="glassnet-sklearn-") as tmp:
            paths = self._write(images, Path(tmp), ["x"] * len(images))
            out = self.run_.predict([str(p) for p in paths])
        columns = [f"probability_{c:04d}" for c in range(len(self.classes_))]
        return out[columns].to_numpy(dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
