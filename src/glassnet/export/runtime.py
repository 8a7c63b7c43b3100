"""Running an exported graph in place of eager PyTorch, for the service's hot path.

The graph (ONNX through onnxruntime) takes the task's `export_feeds` and returns its
`export_outputs`; `Task.from_export` turns those back into what `Task.forward` returns, so
decoding is unchanged. Whether that round trip really equals eager PyTorch is not assumed:
`ExportedForward.agrees` compares the two on a live batch, and the caller keeps eager
whenever they differ (structure, shape, or values beyond the tolerance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from glassnet.export.formats import FORMATS
from glassnet.tasks import Task

AGREEMENT = 1e-4  # the same tolerance `export` checks parity with


class ExportedForward:
    """`task.forward(net, batch)` answered by an exported ONNX graph."""

    def __init__(self, path: Path, task: Task, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path, self.task = path, task
        self.names = [o.name for o in self.session.get_outputs()]

    def __call__(self, batch: dict[str, Any]) -> Any:
        feeds = {k: v.cpu().numpy() for k, v in self.task.export_feeds(batch).items()}
        arrays = self.session.run(None, feeds)
        return self.task.from_export(
            {
                n: torch.from_numpy(np.ascontiguousarray(a))
                for n, a in zip(self.names, arrays, strict=True)
            }
        )


def agrees(eager: Any, exported: Any, tolerance: float = AGREEMENT) -> bool:
    """Same structure, shapes and dtypes kind, values within `tolerance`."""
    if isinstance(eager, torch.Tensor):
        if not isinstance(exported, torch.Tensor) or eager.shape != exported.shape:
            return False
        if eager.is_floating_point() != exported.is_floating_point():
            return False
        if not eager.is_floating_point():
            return bool(torch.equal(eager.cpu(), exported.cpu()))
        diff = (eager.detach().cpu().double() - exported.cpu().double()).abs()
        return bool(diff.max() <= tolerance) if diff.numel() else True
    if isinstance(eager, dict):
        return (
            isinstance(exported, dict)
            and eager.keys() == exported.keys()
            and all(agrees(eager[k], exported[k], tolerance) for k in eager)
        )
    if isinstance(eager, (list, tuple)):
        return (
            isinstance(exported, (list, tuple))
            and len(eager) == len(exported)
            and all(agrees(a, b, tolerance) for a, b in zip(eager, exported, strict=True))
        )
    return bool(eager == exported)


def graph_file(run_path: Path) -> Path:
    return run_path / "export" / FORMATS["onnx"].name / FORMATS["onnx"].filename
