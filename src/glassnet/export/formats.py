"""The file formats a model exports to: how to write one and how to run what was written.

Both take the graph's inputs as named tensors with a dynamic first (batch) dimension, so a
caller can send 1 or 1 000 samples to the same file.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

ONNX_OPSET = 17


class ExportFormat(Protocol):
    name: str
    filename: str
    runtime: str  # what runs the file, for messages and the README

    def write(
        self,
        module: nn.Module,
        feeds: dict[str, torch.Tensor],
        path: Path,
        axes: dict[str, dict[int, str]] | None = None,
        outputs: tuple[str, ...] = ("output",),
    ) -> None: ...

    def runner(self, path: Path) -> Runner: ...


class Runner(Protocol):
    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """Point file descriptors 1 and 2 at /dev/null: the exporter's C++ side prints shape
    warnings, and on failure a whole graph dump, past Python's sys.stdout/stderr. Its
    exception still carries the message."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real descriptors (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


@dataclass(frozen=True)
class Onnx:
    name: str = "onnx"
    filename: str = "model.onnx"
    runtime: str = "onnxruntime"

    def write(
        self,
        module: nn.Module,
        feeds: dict[str, torch.Tensor],
        path: Path,
        axes: dict[str, dict[int, str]] | None = None,
        outputs: tuple[str, ...] = ("output",),
    ) -> None:
        names = list(feeds)
        if clash := set(names) & set(outputs):  # the exporter would rename the input
            raise ValueError(f"graph inputs and outputs share the names {sorted(clash)}")
        dynamic = {n: {0: "batch", **(axes or {}).get(n, {})} for n in names}
        buffer = io.BytesIO()
        # The RNN exporter warns (in Python, and from C++ straight to stderr) about shape
        # inference of packed sequences; the parity check afterwards is what counts.
        with warnings.catch_warnings(), _native_output_silenced():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: it handles the fused RNN modules with a
            # dynamic batch and needs no onnxscript; parity is checked after writing.
            torch.onnx.export(
                module,
                tuple(feeds.values()),
                buffer,
                dynamo=False,
                input_names=names,
                output_names=list(outputs),
                dynamic_axes={**dynamic, **{o: {0: "batch"} for o in outputs}},
                opset_version=ONNX_OPSET,
            )
        path.write_bytes(buffer.getvalue())

    def runner(self, path: Path) -> Runner:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # no warnings on stderr for every session
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda feeds: session.run(None, feeds)


@dataclass(frozen=True)
class TorchScript:
    name: str = "torchscript"
    filename: str = "model.pt"
    runtime: str = "torch.jit"

    def write(
        self,
        module: nn.Module,
        feeds: dict[str, torch.Tensor],
        path: Path,
        axes: dict[str, dict[int, str]] | None = None,
        outputs: tuple[str, ...] = ("output",),
    ) -> None:
        with warnings.catch_warnings():  # torch.jit is deprecated upstream but still loads
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, tuple(feeds.values()), check_trace=False)
            torch.jit.save(traced, str(path))

    def runner(self, path: Path) -> Runner:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.jit.load(str(path), map_location="cpu")

        @torch.no_grad()
        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            out = loaded(*(torch.from_numpy(v) for v in feeds.values()))
            return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]

        return run


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (Onnx(), TorchScript())}
