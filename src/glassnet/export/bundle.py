"""Export a trained net: write the file, prove it matches eager PyTorch, and leave a folder
a user can take away (model + preprocess.json + README with runnable plain-Python code).

The folder appears complete or not at all: it is built beside the target and renamed into
place only after the parity check passed.
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glassnet._version import __version__
from glassnet.config import RunSpec
from glassnet.data.files import atomic_write_json
from glassnet.data.splits import Split, concat_batches
from glassnet.errors import ConfigError, ExportError, RunError, did_you_mean
from glassnet.export.formats import FORMATS, ExportFormat
from glassnet.tasks import Task, redraw_splits

TOLERANCE = 1e-4
MAX_CHECKED = 256  # held-out samples run through both models


@dataclass
class ExportResult:
    folder: Path
    model: Path
    format: str
    max_abs_diff: float  # largest |exported - eager| over the checked inputs
    checked: int  # how many held-out samples were compared
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def export_model(
    task: Task,
    net: nn.Module,
    spec: RunSpec,
    run_path: Path,
    fmt: str = "onnx",
    *,
    out: str | Path | None = None,
    data: Any = None,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Write `net` (with the task's input preparation) in `fmt` under `out` (default
    `<run>/export/<fmt>`), check it against eager PyTorch on held-out inputs, and raise
    `ExportError` when the largest difference is above `tolerance`."""
    if fmt not in FORMATS:
        raise ConfigError(
            f"unknown export format '{fmt}'.{did_you_mean(fmt, FORMATS)}",
            fix=f"Known formats: {', '.join(FORMATS)}",
        )
    if task.cannot_export:
        raise ExportError(f"{spec.task} models cannot be exported: {task.cannot_export}")
    kind = FORMATS[fmt]
    folder = Path(out) if out is not None else run_path / "export" / fmt
    _check_target(folder)

    feeds = held_out_feeds(task, spec, data)
    module = _cpu_copy(task.export_module(net))
    with torch.no_grad():
        eager = _arrays(module(*feeds.values()))

    building = folder.with_name(f".{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        model_file = building / kind.filename
        try:
            kind.write(module, feeds, model_file, task.export_axes, task.export_outputs)
        except Exception as e:  # the exporter's own message says which op failed
            raise ExportError(
                f"{spec.net.name} could not be written as {fmt}: {str(e).splitlines()[0]}",
                fix="Try --format torchscript, or report the net and this message",
            ) from e
        diff = _parity(kind, model_file, feeds, eager, task)
        if not diff <= tolerance:  # also catches NaN
            raise ExportError(
                f"the {fmt} model differs from eager PyTorch by up to {diff:.3g} on "
                f"{len(eager[0])} held-out inputs (the limit is {tolerance:g}); nothing was kept",
                fix="Report this with the run; --format torchscript may match where onnx does not",
            )
        atomic_write_json(building / "preprocess.json", task.state())
        result = ExportResult(folder, folder / kind.filename, fmt, diff, len(eager[0]), tolerance)
        snippet = program(kind, task)
        (building / "predict.py").write_text(snippet, encoding="utf-8")
        (building / "README.md").write_text(
            _readme(kind, spec, run_path, feeds, eager, result, snippet, task),
            encoding="utf-8",
        )
        atomic_write_json(
            building / "export.json",
            {
                **result.to_dict(),
                "run": str(run_path),
                "task": spec.task,
                "net": spec.net.name,
                "inputs": {k: _describe(v, task.export_axes.get(k)) for k, v in feeds.items()},
                "outputs": {
                    name: _describe(torch.from_numpy(a))
                    for name, a in zip(task.export_outputs, eager, strict=True)
                },
                "glassnet": __version__,
                "torch": torch.__version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        _swap_in(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return result


def _check_target(folder: Path) -> None:
    """Refuse to replace a non-empty folder that is not an earlier export."""
    if folder.exists() and any(folder.iterdir()) and not (folder / "export.json").is_file():
        raise RunError(
            f"'{folder}' exists and is not an earlier export",
            fix="Choose another --out (an earlier export's folder is replaced)",
        )


def _swap_in(building: Path, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(building, folder)
    shutil.rmtree(old, ignore_errors=True)


def held_out_feeds(task: Task, spec: RunSpec, data: Any) -> dict[str, torch.Tensor]:
    """The export inputs of up to MAX_CHECKED held-out samples: from `data` when given,
    else the run's own test and validation splits, re-read with the run's seed."""
    if data is not None:
        held: list[Split] = [task.encode(data, with_targets=False).data]
    else:
        fix = "Pass inputs to check it on with --data FILE (Python: data=...)"
        splits = redraw_splits(spec, "check the export", ExportError, fix)
        held = [s for s in (splits.test, splits.val) if s is not None] or [splits.train]
    parts = [s.take(range(min(len(s), MAX_CHECKED))) for s in held]
    feeds = concat_batches([task.export_feeds(p) for p in parts])
    return {name: t[:MAX_CHECKED].cpu().contiguous() for name, t in feeds.items()}


def _arrays(out: Any) -> list[np.ndarray]:
    """A graph's output(s) as numpy arrays, in `export_outputs` order."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().cpu().numpy() for o in outs]


def _cpu_copy(module: nn.Module) -> nn.Module:
    module = copy.deepcopy(module).cpu().float().eval()
    return module.to(memory_format=torch.contiguous_format)


def _parity(
    kind: ExportFormat,
    path: Path,
    feeds: dict[str, torch.Tensor],
    eager: list[np.ndarray],
    task: Task,
) -> float:
    """Largest |exported - eager| over every output, on the whole held-out batch and on a
    batch of one (which proves the batch dimension is really dynamic)."""
    run = kind.runner(path)
    every = run({k: v.numpy() for k, v in feeds.items()})
    one = run({k: v[:1].numpy() for k, v in feeds.items()})
    for e, a, b in zip(eager, every, one, strict=True):
        if a.shape != e.shape or b.shape != e[:1].shape:
            raise ExportError(
                f"the {kind.name} model returned shape {a.shape} where eager PyTorch "
                f"returns {e.shape}"
            )
    return max(
        task.export_difference(eager, every),
        task.export_difference([e[:1] for e in eager], one),
    )


def _describe(t: torch.Tensor, axes: dict[int, str] | None = None) -> dict[str, Any]:
    names = {0: "batch", **(axes or {})}
    shape = [names.get(i, int(n)) for i, n in enumerate(t.shape)]
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": shape}


_HEADERS = {
    "onnx": """\
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

# model.onnx and preprocess.json lie beside this program (the current folder when pasted)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
session = ort.InferenceSession(str(HERE / "model.onnx"))
prep = json.load(open(HERE / "preprocess.json"))
""",
    "torchscript": """\
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit is deprecated upstream
# model.pt and preprocess.json lie beside this program (the current folder when pasted)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
model = torch.jit.load(str(HERE / "model.pt"))


class session:  # the same call as onnxruntime's InferenceSession.run
    @staticmethod
    def run(_, feeds):
        with torch.no_grad():
            out = model(*(torch.from_numpy(v) for v in feeds.values()))
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


prep = json.load(open(HERE / "preprocess.json"))
""",
}


def program(kind: ExportFormat, task: Task) -> str:
    """The plain-Python program of the README: header + the task's snippet + print."""
    return _HEADERS[kind.name] + "\n" + task.export_snippet() + "print(json.dumps(answer))\n"


def _readme(
    kind: ExportFormat,
    spec: RunSpec,
    run_path: Path,
    feeds: dict[str, torch.Tensor],
    eager: list[np.ndarray],
    result: ExportResult,
    snippet: str,
    task: Task,
) -> str:
    axes = task.export_axes

    def shape(t: Any, axes: dict[int, str] | None = None) -> str:
        names = {0: "batch", **(axes or {})}
        return "(" + ", ".join(names.get(i, str(n)) for i, n in enumerate(t.shape)) + ")"

    inputs = "\n".join(
        f"- `{k}`: {str(v.dtype).removeprefix('torch.')} {shape(v, axes.get(k))}"
        for k, v in feeds.items()
    )
    outputs = "\n".join(
        f"- `{name}`: {a.dtype} {shape(a)}"
        for name, a in zip(task.export_outputs, eager, strict=True)
    )
    checked = (
        f"Checked when written: {kind.runtime} on {result.checked} held-out inputs (and on a "
        f"batch of one) matches eager PyTorch within {result.max_abs_diff:.2g} (the limit is "
        f"{result.tolerance:g})."
    )
    needs = " ".join(
        ["numpy", "onnxruntime" if kind.name == "onnx" else "torch", *task.export_requires]
    )
    return f"""# {run_path.name}, exported to {kind.name}

Exported by glassnet {__version__} from `{run_path.name}` ({spec.task} task, net `{spec.net.name}`).

{checked}

## Files
- `{kind.filename}`: the model; axes named below (batch, ...) take any size.
- `preprocess.json`: what was fitted on the training data (scalers, categories, labels,
  image size); the code below reads it.
- `predict.py`: the code below, ready to run.
- `export.json`: this export's facts (shapes, parity, versions).

## Inputs and output
{inputs}
{outputs}

## Use it from plain Python (no glassnet needed)
`pip install {needs}`, then from this folder:

```python
{snippet}```
"""
