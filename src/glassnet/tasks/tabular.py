"""Tabular task: pattern recognition on tables (CSV/Parquet) with an ANN (`mlp.*`).

Classification or regression is inferred from the target column (override with `kind`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from sklearn import metrics as skm
from torch import nn
from torch.nn import functional as F

from glassnet.config import DataSpec, NetSpec, TableDataSpec
from glassnet.data.builtin import is_builtin
from glassnet.data.splits import Batch, TensorSplit
from glassnet.data.table_dates import day_text
from glassnet.data.table_encoder import MISSING, TableEncoder, check_target, check_values
from glassnet.data.tables import THOUSANDS
from glassnet.errors import ConfigError, DataError, did_you_mean
from glassnet.nets import create_net
from glassnet.tasks import sources
from glassnet.tasks._base import DataSplits, Encoded, StepOutput, Task, register_task
from glassnet.tasks.classification import SOFTMAX_SNIPPET, decode_classes, score_classes
from glassnet.tasks.splitting import split_indices


class TabularDataSpec(TableDataSpec):
    target: str | None = Field(None, description="the column to predict")
    kind: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: classes for text/few integer values, else regression"
    )
    categorical: Literal["auto", "onehot", "embed"] = Field(
        "auto", description="how text columns enter the net (auto: one-hot up to --onehot-max)"
    )
    onehot_max: int = Field(10, ge=2, description="most categories a column may have for one-hot")
    features: list[str] | None = Field(None, description="use only these columns (default: all)")
    drop: list[str] = Field(default_factory=list, description="columns to leave out")


SMALL_TABLE = 50  # rows below which every score is mostly noise: say so


def kind_notes(y: pd.Series, kind: str, asked: str, target: str) -> list[str]:
    """Say what 'auto' decided when the column could be read either way: whole numbers
    (ages, weights, counts) taken as classes."""
    if asked != "auto" or kind != "classification":
        return []
    numbers = pd.to_numeric(y.dropna(), errors="coerce")
    if numbers.isna().any():
        return []  # text labels: classes, nothing to say
    codes = sorted(numbers.unique())
    k = len(codes)
    if k <= 10 and codes in (list(range(k)), list(range(1, k + 1))):
        return []  # 0..k-1 or 1..k: class codes, nothing to say
    return [
        f"'{target}' holds {y.nunique()} whole-number values, taken as classes; if they are "
        "amounts (a weight, a count), pass --kind regression"
    ]


@register_task
class TabularTask(Task):
    """Rows in, a class or a number out."""

    name: ClassVar[str] = "tabular"
    data_spec: ClassVar[type[DataSpec]] = TabularDataSpec
    default_net: ClassVar[str] = "mlp.small"
    spec: TabularDataSpec

    def __init__(
        self, spec: TabularDataSpec, state: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        super().__init__(spec, state, **kw)
        self.encoder = TableEncoder(state) if state else None

    def sized_train_defaults(self, n_train: int, batch_size: int) -> dict[str, Any]:
        """A table of a few hundred rows gets 2-4 steps an epoch at batch 64: too few to
        learn in 30 epochs (iris: 2 steps an epoch, still improving at the 30th).
        Below 2048 rows, batches of about n/16 rows (8 at least), so every epoch takes
        about 16 steps; epochs stay as they are (each costs a validation pass)."""
        if n_train >= 2048:
            return {}
        return {"batch_size": max(8, min(64, 2 ** int(math.log2(max(n_train, 1) / 16))))}

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        super().check_spec(spec)
        assert isinstance(spec, TabularDataSpec)
        columns = sources.peek_columns(spec.data)
        if not spec.target:
            raise ConfigError(
                "no target column given",
                fix="Pass --target COLUMN"
                + (f"; columns are: {', '.join(columns)}" if columns else ""),
            )
        if columns is not None and spec.target not in columns:  # before any data loads
            name = spec.data if is_builtin(spec.data) else Path(str(spec.data)).name
            raise DataError(
                f"the target column '{spec.target}' is not in '{name}'."
                f"{did_you_mean(spec.target, columns)}",
                fix=f"Columns are: {', '.join(columns[:30])}{' ...' if len(columns) > 30 else ''}",
            )

    # ---- data ----------------------------------------------------------------------------
    def _frame(self, option: str) -> tuple[pd.DataFrame | None, str]:
        src = self.source(option)
        if src is None:
            return None, ""
        return sources.frame_of(src, self.spec.sep), src.name

    def load_data(self) -> DataSplits:
        frame, source = self._frame("data")
        assert frame is not None and self.spec.target
        val_frame, val_source = self._frame("val")
        test_frame, test_source = self._frame("test")
        notes: list[str] = list(frame.attrs.get("notes", []))
        target = self.spec.target
        if target in frame.columns and frame[target].isna().any():
            n = int(frame[target].isna().sum())
            notes.append(f"{n} row(s) without a '{target}' value were left out of training")
            frame = frame[frame[target].notna()].reset_index(drop=True)

        # Checked on the whole file first, so its errors name the file, not a split.
        kind = check_target(frame, target=target, source=source, kind=self.spec.kind)
        check_values(frame, source)
        notes += kind_notes(frame[target], kind, self.spec.kind, target)
        if len(frame) < SMALL_TABLE:
            notes.append(
                f"only {len(frame)} rows: the validation and test splits hold a handful each, "
                "so their scores swing from run to run; more rows, or fewer features and a "
                "smaller net (--hidden 16), help most"
            )
        train_idx, val_idx, test_idx = split_indices(
            len(frame),
            val_fraction=self.spec.val_fraction,
            test_fraction=self.spec.test_fraction,
            seed=self.seed,
            labels=frame[target].astype(str).to_numpy() if kind == "classification" else None,
            given={k for k, f in (("val", val_frame), ("test", test_frame)) if f is not None},
        )

        def rows(idx: np.ndarray | None, given: pd.DataFrame | None) -> pd.DataFrame | None:
            return frame.iloc[idx].reset_index(drop=True) if idx is not None else given

        train, val, test = (
            rows(train_idx, None),
            rows(val_idx, val_frame),
            rows(test_idx, test_frame),
        )
        assert train is not None
        self.encoder = TableEncoder.fit(
            train,
            target=target,
            source=f"the training split of {source}",
            kind=kind,
            categorical=self.spec.categorical,
            onehot_max=self.spec.onehot_max,
            features=self.spec.features,
            drop=self.spec.drop,
        )
        notes += self.encoder.notes
        return DataSplits(
            train=self._split(train, source),
            val=self._split(val, val_source or source) if val is not None else None,
            test=self._split(test, test_source or source) if test is not None else None,
            notes=notes,
        )

    def _split(self, frame: pd.DataFrame, source: str, with_targets: bool = True) -> TensorSplit:
        assert self.encoder is not None
        batch = {"x": torch.tensor(self.encoder.features(frame, source))}
        if with_targets:
            batch["y"] = torch.tensor(self.encoder.targets(frame, source))
        return TensorSplit(batch)

    def state(self) -> dict[str, Any]:
        assert self.encoder is not None, "load_data() or a stored state comes first"
        return self.encoder.state

    # ---- net -----------------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        assert self.encoder is not None
        return create_net(
            net.name,
            in_features=len(self.encoder.feature_names),
            num_outputs=self.encoder.num_outputs,
            cardinalities=self.encoder.cardinalities,
            **net.options,
        )

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        out = net(batch["x"])
        if self.is_classification:
            loss = F.cross_entropy(out, batch["y"])
        else:
            loss = F.mse_loss(out.squeeze(-1), batch["y"])
        return StepOutput(loss=loss, outputs=out)

    @property
    def is_classification(self) -> bool:
        assert self.encoder is not None
        return self.encoder.kind == "classification"

    # ---- use -----------------------------------------------------------------------------
    def _array_frame(self, array: np.ndarray, notes: list[str]) -> pd.DataFrame:
        """A 2-D numpy array as rows: possible when every input column of the model is
        numeric (their order is then the training table's) and the widths agree."""
        assert self.encoder is not None
        columns = self.encoder.state["columns"]
        names = [c["name"] for c in columns]
        rows = array.reshape(1, -1) if array.ndim == 1 else array
        if (
            any(c["type"] != "numeric" for c in columns)
            or rows.ndim != 2
            or rows.shape[1] != len(names)
        ):
            raise ConfigError(
                f"a numpy array of shape {array.shape} cannot be matched to this model's "
                f"columns ({len(names)}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''})",
                fix="Pass a pandas DataFrame (or row dicts) with those column names",
            )
        notes.append(
            f"array columns taken as {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
        )
        return pd.DataFrame(rows, columns=names)

    def input_notes(self, source: Any) -> list[str]:
        """Rows' notes without their features (~1/3 of encoding them: a shared pass asks
        this for each of its callers)."""
        assert self.encoder is not None
        if _row_dicts(source):
            notes = self._check_rows(source)
            found = self.encoder.notes_from_rows(source, sources.open_source(source).name)
            if found is not None:
                return notes + found
        return super().input_notes(source)

    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        assert self.encoder is not None
        notes: list[str] = []
        if _row_dicts(source):
            notes += self._check_rows(source)
            if not with_targets:  # a service's rows: encoded without a DataFrame
                x = self.encoder.features_from_rows(source, sources.open_source(source).name)
                if x is not None:
                    split = TensorSplit({"x": torch.from_numpy(x)})
                    return Encoded(split, notes + self.encoder.notes)
        if isinstance(source, np.ndarray):
            source = self._array_frame(source, notes)
        src = sources.open_source(source)
        frame, name = sources.frame_of(src, self.spec.sep), src.name
        target = self.encoder.state["target"]
        if with_targets:
            if target not in frame.columns:
                raise DataError(
                    f"{name} has no '{target}' column to evaluate against",
                    fix="Use `glassnet predict` for data without targets",
                )
            if frame[target].isna().any():
                notes.append(
                    f"{int(frame[target].isna().sum())} row(s) without a target were left out"
                )
                frame = frame[frame[target].notna()].reset_index(drop=True)
        extra: dict[str, Any] = {}
        if not with_targets:  # what `predict` hands back beside the answers
            used = set(self.encoder.input_columns) | {target}
            extra = {
                "passthrough": frame[[c for c in frame.columns if c not in used]],
                "index": frame.index,
            }
        split = self._split(frame, name, with_targets)
        return Encoded(split, notes + self.encoder.notes, extra=extra)

    def to_frame(self, predictions: list[dict[str, Any]], encoded: Encoded) -> pd.DataFrame:
        """The answers beside the columns the model did not read (ids, notes), with the
        input's own index, so they join back onto the user's table."""
        frame = super().to_frame(predictions, encoded)
        kept = encoded.extra.get("passthrough")
        if kept is None or len(kept) != len(frame):
            return frame
        kept = kept[[c for c in kept.columns if c not in frame.columns]]
        frame = pd.concat([kept.reset_index(drop=True), frame.reset_index(drop=True)], axis=1)
        frame.index = encoded.extra["index"]
        return frame

    def _check_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        """Rows given one by one (Python, REST) are checked one by one: each must name every
        column the model reads (null for a gap), so a row is never completed by its
        neighbours' columns when requests are batched together."""
        assert self.encoder is not None
        needed = self.encoder.input_columns
        for i, row in enumerate(rows, 1):
            lacking = [c for c in needed if c not in row]
            if lacking:
                shown = ", ".join(map(repr, lacking[:8])) + (" ..." if len(lacking) > 8 else "")
                raise DataError(
                    f"row {i} lacks the column(s) {shown} the model reads",
                    fix=f"Give every row all of: {', '.join(needed)} (null for a missing value)",
                )
        unused = sorted({k for r in rows for k in r} - set(needed) - {self.encoder.state["target"]})
        if unused:
            return [f"columns the model does not read were ignored: {', '.join(unused[:8])}"]
        return []

    @property
    def labels(self) -> list[str]:
        assert self.encoder is not None
        return self.encoder.labels

    def feature_names(self) -> list[str] | None:
        assert self.encoder is not None
        return list(self.encoder.feature_names)

    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        assert self.encoder is not None
        if self.is_classification:
            return decode_classes(outputs, self.encoder.labels)
        values = self.encoder.unscale(outputs.float().squeeze(-1).cpu().numpy().astype(np.float64))
        name = self.encoder.state["target"]  # the answer is named after what it predicts
        return [{name: float(v)} for v in values]

    def describe_inputs(self) -> dict[str, Any]:
        assert self.encoder is not None
        columns = []
        for c in self.encoder.state["columns"]:
            if c["type"] == "numeric":
                columns.append({"name": c["name"], "type": "number"})
            elif c["type"] == "date":
                columns.append({"name": c["name"], "type": "date", "format": c["format"]})
            else:
                cats = [v for v in c["categories"] if v != MISSING]
                columns.append({"name": c["name"], "type": "category", "categories": cats[:100]})
        return {
            "rows": "a JSON object {'rows': [{column: value, ...}, ...]}",
            "columns": columns,
            "target": self.encoder.state["target"],
            "kind": self.encoder.kind,
        }

    def class_labels(self) -> list[str] | None:
        return self.labels if self.is_classification else None

    def request_example(self) -> dict[str, Any] | None:
        assert self.encoder is not None
        return {"rows": [{c["name"]: _example_value(c) for c in self.encoder.state["columns"]}]}

    def export_snippet(self) -> str:
        assert self.encoder is not None
        example = {c["name"]: _example_value(c) for c in self.encoder.state["columns"]}
        tail = (
            SOFTMAX_SNIPPET
            if self.is_classification
            else f"answer = [{{{json.dumps(self.encoder.state['target'])}: "
            'float(v) * prep["target_std"] + prep["target_mean"]} for v in out[:, 0]]\n'
        )
        return TABLE_SNIPPET.format(example=json.dumps(example), thousands=THOUSANDS) + tail

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        assert self.encoder is not None
        if self.is_classification:
            return score_classes(outputs, batch["y"])
        y = batch["y"].cpu().numpy()
        pred = self.encoder.unscale(outputs.float().cpu().squeeze(-1).numpy().astype(np.float64))
        true = self.encoder.unscale(y.astype(np.float64))
        return {
            "mae": float(skm.mean_absolute_error(true, pred)),
            "rmse": float(np.sqrt(skm.mean_squared_error(true, pred))),
            "r2": float(skm.r2_score(true, pred)),
        }


def _example_value(column: dict[str, Any]) -> Any:
    if column["type"] == "numeric":
        return round(float(column["mean"]), 3)
    if column["type"] == "date":
        return day_text(column["fill"], column["format"])
    seen = [c for c in column["categories"] if c != MISSING]
    return seen[0] if seen else None


# Plain-Python twin of TableEncoder.features, for the export README (run by the tests).
TABLE_SNIPPET = """\
import math
import re
from datetime import datetime


# Rows: a CSV file with a header, or a JSON list of {{column: value}}, as the first
# argument (any other columns are left alone); without one, this example.
def read_rows(path):
    if path.lower().endswith((".csv", ".tsv")):
        import csv

        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="," if path.lower().endswith("csv") else "\t"))
    return json.load(open(path))


rows = read_rows(sys.argv[1]) if len(sys.argv) > 1 else [{example}]
EPOCH = datetime(1970, 1, 1)
THOUSANDS = r"{thousands}"


def encode(row):
    features = []
    for c in prep["columns"]:
        v = row.get(c["name"])
        if c["type"] == "numeric":
            if isinstance(v, str) and re.fullmatch(THOUSANDS, v.strip()):
                v = v.replace(",", "")  # 12,345.6: thousands separators
            try:
                v = float(v)
            except (TypeError, ValueError):
                v = float("nan")
            gap = v != v  # NaN: a blank
            features.append(((c["fill"] if gap else v) - c["mean"]) / c["std"])
            if c["missing_indicator"]:
                features.append(float(gap))
            continue
        if c["type"] == "date":  # days since 1970, time of year and weekday (sin, cos)
            try:
                day = (datetime.strptime(str(v).strip(), c["format"]) - EPOCH).total_seconds()
                day /= 86400
            except ValueError:  # a blank
                day = float("nan")
            gap = day != day
            day = c["fill"] if gap else day
            year, week = 2 * math.pi * (day % 365.2425) / 365.2425, (math.floor(day) + 3) % 7
            features.append((day - c["mean"]) / c["std"])
            features += [math.sin(year), math.cos(year)]
            features += [math.sin(2 * math.pi * week / 7), math.cos(2 * math.pi * week / 7)]
            if c["missing_indicator"]:
                features.append(float(gap))
            continue
        if v is None or v != v or v == "":  # a gap (an empty CSV cell too)
            key = "<missing>"
        elif isinstance(v, float) and v.is_integer():
            key = str(int(v))
        else:
            key = str(v)
        code = c["categories"].index(key) if key in c["categories"] else -1  # -1: unseen
        if c["type"] == "onehot":
            features += [float(i == code) for i in range(len(c["categories"]))]
        else:
            features.append(float(code + 1))  # embedded category: 0 means unknown
    return features


x = np.array([encode(r) for r in rows], dtype=np.float32)
out = session.run(None, {{"x": x}})[0]
"""


def _row_dicts(source: Any) -> bool:
    """Rows given one by one as dicts (Python, REST)."""
    return isinstance(source, list) and bool(source) and all(isinstance(r, dict) for r in source)
