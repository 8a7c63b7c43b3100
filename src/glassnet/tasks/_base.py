"""The Task interface every task implements, and the task registry.

A task turns user data into tensors (fitting its preprocessing on the training split), builds
its net from the registry, computes the loss for a batch, turns outputs into user-facing
predictions, and scores them. The engine and the explainers see only this interface.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from glassnet.config import (
    DataSpec,
    NetSpec,
    RunSpec,
    TaskEntry,
    TrainSpec,
    register_task_entry,
    task_entries,
    task_entry,
)
from glassnet.data.splits import Batch, Split, TensorSplit, concat_batches, materialise
from glassnet.errors import ConfigError, GlassnetError
from glassnet.tasks import sources
from glassnet.tasks.messages import Request, RowsRequest

LOWER_IS_BETTER = ("loss", "mae", "rmse", "smape", "mase", "wer", "cer")


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, mean over the batch
    outputs: Any  # raw net outputs: a tensor (B, ...) or a dict / tuple of them


@dataclass
class Encoded:
    """User inputs turned into a split: the samples, notes for the user (e.g. unseen
    categories, skipped files), and a name per sample (file paths) where there is one."""

    data: Split
    notes: list[str] = field(default_factory=list)
    names: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific (e.g. future times)
    _batch: Batch | None = field(default=None, repr=False)

    @property
    def batch(self) -> Batch:
        """All samples as one in-memory batch (for views of a few inputs)."""
        if self._batch is None:
            self._batch = materialise(self.data).batch
        return self._batch

    def __len__(self) -> int:
        return len(self.data)

    def only(self, i: int) -> Encoded:
        """Sample i alone (per-sample lists in `extra` cut down with it)."""
        n = len(self.data)
        extra = {
            k: [v[i]] if isinstance(v, list) and len(v) == n else v for k, v in self.extra.items()
        }
        names = [self.names[i]] if self.names else None
        return Encoded(TensorSplit(self.data.take([i])), list(self.notes), names, extra)


@dataclass
class DataSplits:
    train: Split
    val: Split | None
    test: Split | None
    notes: list[str] = field(default_factory=list)  # what the data check found, for the user


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (e.g. 'val_accuracy', 'val_loss') is better."""
    return not metric.split("_", 1)[-1].endswith(LOWER_IS_BETTER)


class DecodeOptions(BaseModel):
    """How a task turns outputs into answers at predict / evaluate time (beam width, score
    threshold, ...). Tasks subclass it; the CLI, the Python API and REST read the fields."""

    model_config = ConfigDict(extra="forbid")


class Task(ABC):
    """One job (tabular, images, ...) behind the interface the engine and explainers use.

    A task plugs in whole: everything that differs between tasks is declared here, by the
    task, and read by the generic layers (engine, api, cli, serve, export, explain)."""

    name: ClassVar[str]
    data_spec: ClassVar[type[DataSpec]]
    default_net: ClassVar[str]
    train_defaults: ClassVar[dict[str, Any]] = {}  # TrainSpec values that suit this task
    # A net learning from scratch needs some hundreds of steps whatever the data's size:
    # a task sets how many its default run on a built-in set takes (0: no rule).
    min_steps: ClassVar[int] = 0
    max_epochs: ClassVar[int] = 60
    # whether `calibrate` chooses a setting from the validation answers after training
    calibrates: ClassVar[bool] = False
    takes_objects: ClassVar[bool] = True  # the Python API may hand it in-memory data
    input_keys: ClassVar[tuple[str, ...]] = ("x",)  # batch values the net reads, in order
    answer_keys: ClassVar[tuple[str, ...]] = ("y",)  # batch values the net learns to give
    decode_options: ClassVar[type[DecodeOptions]] = DecodeOptions
    # a module whose `add_commands(verbs) -> {verb: handler}` adds CLI verbs for this task's
    # runs (faces: enrol, verify, identify); the CLI imports it without naming the task
    commands: ClassVar[str | None] = None
    # likewise a module whose `add_routes(app, base, model, auth, tag)` adds REST routes
    # beside predict and explain (faces: verify, identify, enrol)
    service: ClassVar[str | None] = None
    prediction_figure: ClassVar[str | None] = None  # a figure kind `explain` draws (predict)
    # the evaluation report's pictures: None = a classifier's (confusion matrix, mistakes)
    evaluation_figure: ClassVar[str | None] = None

    def __init__(
        self,
        spec: DataSpec,
        state: dict[str, Any] | None = None,
        seed: int = 0,
        objects: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.seed = seed  # for the train/val/test split
        self._st = state  # the fitted preprocessing: from load_data() or preprocess.json
        self.objects = dict(objects or {})  # in-memory data by option ("data", "val", "test")
        self._decoding: DecodeOptions | None = None

    # ---- the spec, before any data loads -------------------------------------------------
    @classmethod
    def data_defaults(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Data options implied by the data itself (a built-in set's target column, ...);
        they fill what the user left out, before the spec is validated."""
        return sources.builtin_defaults(data.get("data"))

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Refuse a spec training cannot start from (e.g. no target), before data loads."""
        if spec.data is None:
            raise ConfigError("no training data given", fix="Pass --data PATH (or builtin:NAME)")

    def source(self, option: str = "data") -> sources.Source | None:
        """Where the `data`, `val` or `test` option points (None when not given)."""
        value = getattr(self.spec, option)
        if value is None and option not in self.objects:
            return None
        return sources.open_source(value, self.objects, option)

    # ---- data ------------------------------------------------------------------------------
    @abstractmethod
    def load_data(self) -> DataSplits:
        """Read and check the data, split it, fit the preprocessing; returns the splits."""

    def sized_train_defaults(self, n_train: int, batch_size: int) -> dict[str, Any]:
        """TrainSpec values that suit this much training data (e.g. smaller batches for a
        small table), given the batch size in effect; they replace the defaults the user
        did not set. By default: epochs for at least `min_steps` optimiser steps on small
        data (between the task's default and `max_epochs`; early stopping still ends a run
        that has learned)."""
        if not self.min_steps:
            return {}
        steps = max(1, math.ceil(n_train / batch_size))
        wanted = min(self.max_epochs, math.ceil(self.min_steps / steps))
        default = self.train_defaults.get("epochs", TrainSpec.model_fields["epochs"].default)
        return {"epochs": wanted} if wanted > default else {}

    def state(self) -> dict[str, Any]:
        """The fitted preprocessing as plain JSON (stored as preprocess.json)."""
        assert self._st is not None, "load_data() or a stored state comes first"
        return self._st

    @abstractmethod
    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        """User inputs (file, folder, frame, ...) -> a split, notes and sample names."""

    def input_notes(self, source: Any) -> list[str]:
        """The notes `encode(source, with_targets=False)` gives, for a service's callers that
        shared a pass (a task may find them without building the inputs)."""
        return self.encode(source, with_targets=False).notes

    # ---- the net -----------------------------------------------------------------------------
    @abstractmethod
    def build_net(self, net: NetSpec) -> nn.Module:
        """Create the registered net with the data-given sizes filled in."""

    def net_inputs(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, ...]:
        """The net's positional inputs for a batch, prepared as the net sees them (tasks
        that normalise or augment inputs override this)."""
        return tuple(batch[k] for k in self.input_keys)

    def forward(self, net: nn.Module, batch: Batch) -> Any:
        """Raw outputs for a batch without targets (prediction)."""
        return net(*self.net_inputs(net, batch))

    @abstractmethod
    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        """Forward one batch and compute the loss."""

    def advise(self, epoch: int, metrics: dict[str, float]) -> str | None:
        """A note for the user after an epoch (e.g. 'still only blanks'), or None."""
        return None

    def worst_samples(self, outputs: Any, batch: Batch, names: list[str] | None) -> list[dict]:
        """The samples the net got most wrong, worst first, as rows a person can read (what
        was expected, what came out, how wrong); [] where the task has no such list."""
        return []

    def caveats(self, metrics: dict[str, Any]) -> list[str]:
        """Warnings to give with this run's answers, from its own recorded metrics (e.g. a
        forecaster whose backtest lost to its baseline)."""
        return []

    def collate_outputs(self, parts: list[Any]) -> Any:
        """Per-batch outputs (on CPU, in order) -> the outputs of the whole split."""
        return concat_batches(parts)

    # ---- answers -----------------------------------------------------------------------------
    @abstractmethod
    def decode(self, outputs: Any, batch: Batch) -> list[dict[str, Any]]:
        """Raw outputs -> one user-facing prediction (a dict) per sample. `batch` holds the
        split's values other than the net's inputs (targets, scales, ...)."""

    @abstractmethod
    def score(self, outputs: Any, batch: Batch) -> dict[str, float]:
        """Task metrics for outputs against the batch's targets (values other than inputs)."""

    def to_frame(self, predictions: list[dict[str, Any]], encoded: Encoded) -> pd.DataFrame:
        """Predictions as a table, one row per sample ('source' first when named). Nested
        dicts are flattened: {'probabilities': {'a': .1}} -> 'probability_a'."""
        rows = []
        for p in predictions:
            row: dict[str, Any] = {}
            for k, v in p.items():
                if isinstance(v, dict):
                    prefix = k[:-3] + "y" if k.endswith("ies") else k
                    row.update({f"{prefix}_{kk}": vv for kk, vv in v.items()})
                else:
                    row[k] = v
            rows.append(row)
        frame = pd.DataFrame(rows)
        if encoded.names is not None:
            frame.insert(0, "source", encoded.names)
        return frame

    def evaluates_own_data(self) -> bool:
        """Whether `evaluate` without data makes sense (a backtest on the run's own data)."""
        return False

    def calibrate(self, outputs: Any, batch: Batch) -> list[str]:
        """After training (`calibrates` True), with the best weights' outputs on the
        validation split: choose a setting from them (detection: its score threshold),
        keep it in the state (written to preprocess.json), return notes saying what."""
        return []

    # ---- decode options (beam width, thresholds): the same names everywhere ---------------
    def default_decoding(self) -> dict[str, Any]:
        """The run's own decode settings (e.g. the beam width it was trained with)."""
        return {}

    @property
    def decoding(self) -> DecodeOptions:
        if self._decoding is None:
            return self.decode_options(**self.default_decoding())
        return self._decoding

    @contextlib.contextmanager
    def decoded_with(self, **options: Any) -> Iterator[DecodeOptions]:
        """Decode with these options inside the block (None values keep the run's own)."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(self.decode_options.model_fields))
        if unknown:
            takes = sorted(self.decode_options.model_fields)
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise ConfigError(
                f"{flags} {'does' if len(unknown) == 1 else 'do'} not apply to {self.name} models",
                fix=f"{self.name} models take {', '.join(takes)}"
                if takes
                else "Leave it out: this task has no decode options",
            )
        try:
            chosen = self.decode_options(**{**self.default_decoding(), **given})
        except ValidationError as e:
            problems = "; ".join(
                f"--{'.'.join(map(str, err['loc'])).replace('_', '-')} "
                f"{err.get('input')!r}: {err['msg']}"
                for err in e.errors()
            )
            raise ConfigError(f"bad decode option: {problems}") from None
        previous, self._decoding = self._decoding, chosen
        try:
            yield chosen
        finally:
            self._decoding = previous

    # ---- what the views read (explain) -------------------------------------------------------
    def class_labels(self) -> list[str] | None:
        """Class names for classifiers, else None."""
        return None

    def feature_names(self) -> list[str] | None:
        """Names of the net's input features, for tables."""
        return None

    def output_tokens(self, outputs: Any) -> list[list[str]] | None:
        """Generated tokens per sample, for sequence generators (the attention view)."""
        return None

    def vocabularies(self) -> dict[str, list[str]]:
        """Token lists by role ('input', 'source', 'target'), ids in order."""
        return {}

    def pictures(self, batch: Batch) -> torch.Tensor | None:
        """The inputs as uint8 images (N, C, H, W) when they are pictures (mistake grids)."""
        return None

    # ---- serving (glassnet.serve, Run.predict_request) -----------------------------------------
    request_model: ClassVar[type[Request]] = RowsRequest

    def request_source(self, request: Request) -> Any:
        """A request -> what `encode` takes. Never a path: requests carry data only."""
        assert isinstance(request, RowsRequest)
        return [dict(r) for r in request.rows]

    def describe_inputs(self) -> dict[str, Any]:
        """What a caller must send, for `Run.info()` and `GET /v1/models`."""
        return {}

    def request_example(self) -> dict[str, Any] | None:
        """A request body this model answers (the API document shows it); None for files."""
        return None

    def to_records(self, predictions: list[dict[str, Any]], encoded: Encoded) -> list[dict]:
        """Predictions as JSON-ready objects ('source' first when inputs are named)."""
        names = encoded.names or [None] * len(predictions)
        return [
            plain({"source": n, **p} if n is not None else p)
            for n, p in zip(names, predictions, strict=True)
        ]

    # ---- export (glassnet.export) ---------------------------------------------------------
    cannot_export: ClassVar[str | None] = None  # one line saying why, for tasks that can't
    # Dynamic axes beyond the batch: {input: {axis: name}}, e.g. sequence length.
    export_axes: ClassVar[dict[str, dict[int, str]]] = {}
    export_outputs: ClassVar[tuple[str, ...]] = ("output",)  # names of the graph's outputs
    export_requires: ClassVar[tuple[str, ...]] = ()  # pip packages the snippet needs beyond numpy

    def export_feeds(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The exported graph's named inputs for a batch (tasks whose batches hold lists
        pad them here)."""
        return {k: batch[k] for k in self.input_keys}

    def export_difference(self, eager: list[np.ndarray], exported: list[np.ndarray]) -> float:
        """How far the exported graph's outputs are from eager PyTorch's (the parity check
        compares this with --tolerance): the largest absolute difference. A task whose
        outputs are discrete choices (detection picks peaks) compares what the choices
        mean instead, so that rounding cannot flip a near tie into a failure."""
        return max(
            (
                float(np.abs(a.astype(np.float64) - e.astype(np.float64)).max(initial=0.0))
                for e, a in zip(eager, exported, strict=True)
            ),
            default=0.0,
        )

    def export_module(self, net: nn.Module) -> nn.Module:
        """The graph to export: takes `export_feeds`' tensors, in order, and returns
        `export_outputs` (one tensor, or a tuple in that order). Tasks whose `forward`
        prepares inputs wrap the net."""
        return net

    def from_export(self, outputs: dict[str, torch.Tensor]) -> Any:
        """The exported graph's outputs (by `export_outputs` name) as `forward` returns
        them, so a service can answer from the graph and decode as usual. One output is
        the tensor itself; several are a dict by name. A task whose graph differs from its
        `forward` (padded where forward is ragged, renamed) overrides this; where the two
        still differ, the service notices on its first request and stays eager."""
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return dict(outputs)

    def export_snippet(self) -> str:
        """Plain Python (numpy + onnxruntime, no glassnet) that turns a raw input into the
        exported graph's inputs, runs `session` and prints the answer; it reads
        `preprocess.json` from the export folder. Shown in the export README and run by the
        tests."""
        raise NotImplementedError


def plain(value: Any) -> Any:
    """numpy / pandas values -> JSON-ready Python values (timestamps as ISO text)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values: as they are
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def register_task(cls: type[Task]) -> type[Task]:
    register_task_entry(
        TaskEntry(cls.name, cls, cls.data_spec, cls.default_net, dict(cls.train_defaults))
    )
    return cls


def get_task_class(name: str) -> type[Task]:
    return task_entry(name).cls  # type: ignore[no-any-return]


# A task may use another trained run (faces: a detection run that finds the faces). Opening
# a run is the engine's job, a layer above; it hands tasks the means here at import.
_run_opener: Callable[[str | Path], tuple[Task, nn.Module]] | None = None


def provide_run_opener(opener: Callable[[str | Path], tuple[Task, nn.Module]]) -> None:
    global _run_opener
    _run_opener = opener


def open_trained_run(path: str | Path) -> tuple[Task, nn.Module]:
    """Another trained run's task (its fitted state loaded) and net (weights loaded, eval
    mode, on the CPU)."""
    if _run_opener is None:
        raise RuntimeError("import glassnet.engine.trained first: it opens trained runs")
    return _run_opener(path)


def redraw_splits(
    spec: RunSpec,
    purpose: str,
    error: type[GlassnetError],
    fix: str,
    objects: dict[str, Any] | None = None,
) -> DataSplits:
    """A run's splits as it trained on them: its data read again (or the in-memory
    `objects` it was given) and split with its seed (a fresh task fits the same
    preprocessing). A failure says it was for `purpose`."""
    try:
        return get_task_class(spec.task)(spec.data, seed=spec.seed, objects=objects).load_data()
    except GlassnetError as e:
        raise error(f"the run's data could not be read again to {purpose} ({e})", fix=fix) from None


def list_tasks() -> list[type[Task]]:
    return [e.cls for e in task_entries()]
