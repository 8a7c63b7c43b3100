"""The Task interface every task implements, and the task registry.

A task turns user data into tensors (fitting its preprocessing on the training split), builds
its net from the registry, computes the loss for a batch, turns outputs into user-facing
predictions, and scores them. The engine and the explainers see only this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from glassnet.config import DataSpec, NetSpec, register_task_spec
from glassnet.errors import ConfigError, did_you_mean
from glassnet.tasks.messages import Request, RowsRequest

Batch = dict[str, torch.Tensor]  # every tensor has the same first (sample) dimension
LOWER_IS_BETTER = ("loss", "mae", "rmse", "smape", "mase", "wer", "cer")


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, mean over the batch
    outputs: torch.Tensor  # raw net outputs, (B, ...)


@dataclass
class Encoded:
    """User inputs turned into a batch: the tensors, notes for the user (e.g. unseen
    categories, skipped files), and a name per sample (file paths) where there is one."""

    batch: Batch
    notes: list[str] = field(default_factory=list)
    names: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific (e.g. future times)


@dataclass
class DataSplits:
    train: Batch
    val: Batch | None
    test: Batch | None
    notes: list[str] = field(default_factory=list)  # what the data check found, for the user


def batch_size_of(batch: Batch) -> int:
    return int(next(iter(batch.values())).shape[0])


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (e.g. 'val_accuracy', 'val_loss') is better."""
    return not metric.split("_", 1)[-1].endswith(LOWER_IS_BETTER)


class Task(ABC):
    """One job (tabular, images, ...) behind the interface the engine and explainers use."""

    name: ClassVar[str]
    data_spec: ClassVar[type[DataSpec]]
    default_net: ClassVar[str]
    train_defaults: ClassVar[dict[str, Any]] = {}  # TrainSpec values that suit this task

    def __init__(self, spec: DataSpec, state: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed  # for the train/val/test split
        self._st = state  # the fitted preprocessing: from load_data() or preprocess.json

    @abstractmethod
    def load_data(self) -> DataSplits:
        """Read and check the data, split it, fit the preprocessing; returns tensors."""

    def state(self) -> dict[str, Any]:
        """The fitted preprocessing as plain JSON (stored as preprocess.json)."""
        assert self._st is not None, "load_data() or a stored state comes first"
        return self._st

    @abstractmethod
    def build_net(self, net: NetSpec) -> nn.Module:
        """Create the registered net with the data-given sizes filled in."""

    def forward(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        """Raw outputs for a batch without targets (prediction); tasks that prepare their
        inputs (normalise, augment) override this and use it in `step`."""
        return net(batch["x"])

    @abstractmethod
    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        """Forward one batch and compute the loss."""

    @abstractmethod
    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        """User inputs (file, folder, frame, ...) -> a batch, notes and sample names."""

    @abstractmethod
    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        """Raw outputs -> one user-facing prediction (a dict) per sample."""

    @abstractmethod
    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        """Task metrics for outputs against the batch's targets."""

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

    def use_beam(self, beam: int) -> None:
        """Decode with this beam width from now on (not saved); only decoders have one."""
        raise ConfigError(
            f"--beam applies to translation models, not to {self.name} models",
            fix="Leave --beam out",
        )

    # ---- serving (glassnet.serve, Run.predict_request) -----------------------------------------
    request_model: ClassVar[type[Request]] = RowsRequest

    def request_source(self, request: Request) -> Any:
        """A request -> what `encode` takes. Never a path: requests carry data only."""
        assert isinstance(request, RowsRequest)
        return [dict(r) for r in request.rows]

    def describe_inputs(self) -> dict[str, Any]:
        """What a caller must send, for `Run.info()` and `GET /v1/models`."""
        return {}

    def class_labels(self) -> list[str] | None:
        """Class names for classifiers, else None."""
        return None

    def to_records(self, predictions: list[dict[str, Any]], encoded: Encoded) -> list[dict]:
        """Predictions as JSON-ready objects ('source' first when inputs are named)."""
        names = encoded.names or [None] * len(predictions)
        return [
            plain({"source": n, **p} if n is not None else p)
            for n, p in zip(names, predictions, strict=True)
        ]

    # ---- export (glassnet.export) ---------------------------------------------------------
    export_inputs: ClassVar[tuple[str, ...]] = ("x",)  # batch keys the exported graph takes
    cannot_export: ClassVar[str | None] = None  # one line saying why, for tasks that can't
    # Dynamic axes beyond the batch: {input: {axis: name}}, e.g. sequence length.
    export_axes: ClassVar[dict[str, dict[int, str]]] = {}

    def export_module(self, net: nn.Module) -> nn.Module:
        """The graph to export: takes the batch tensors named in `export_inputs`, in order,
        and returns what `forward` returns. Tasks whose `forward` prepares inputs wrap it."""
        return net

    def export_snippet(self) -> str:
        """Plain Python (numpy + onnxruntime, no glassnet) that turns a raw input into the
        exported graph's inputs, runs `session` and prints the answer; it reads
        `preprocess.json` from the export folder. Shown in the export README and run by the
        tests."""
        raise NotImplementedError


def plain(value: Any) -> Any:
    """numpy / pandas values -> JSON-ready Python values (timestamps as ISO text)."""
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


_TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    if cls.name in _TASKS:
        raise ValueError(f"task '{cls.name}' is already registered")
    _TASKS[cls.name] = cls
    register_task_spec(cls.name, cls.data_spec, cls.default_net, cls.train_defaults)
    return cls


def get_task_class(name: str) -> type[Task]:
    if name not in _TASKS:
        raise ConfigError(
            f"unknown task '{name}'.{did_you_mean(name, _TASKS)}",
            fix=f"Known tasks: {', '.join(sorted(_TASKS))}",
        )
    return _TASKS[name]


def list_tasks() -> list[type[Task]]:
    return [c for _, c in sorted(_TASKS.items())]
