"""Exact resume: interrupted after epoch k (or mid-epoch) and resumed == uninterrupted,
bitwise on CPU in deterministic mode, weights and metrics alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

import glassnet
from glassnet.engine.callbacks import Callback
from tests.conftest import mixed_frame

OPTIONS = dict(
    target="label", epochs=4, batch_size=32, deterministic=True, patience=0, dropout=0.3, quiet=True
)  # dropout: the RNG stream must resume too


class StopAt(Callback):
    """Request a stop (as Ctrl-C does) after the given global step."""

    def __init__(self, global_step: int) -> None:
        self.global_step = global_step
        self.seen = 0

    def on_step(self, **_: Any) -> None:
        self.seen += 1
        if self.seen == self.global_step:
            self.trainer.stop.requested = True


def _weights(run_dir: Path) -> dict:
    return load_file(
        run_dir
        / "checkpoint"
        / (run_dir / "checkpoint/LATEST").read_text().strip()
        / "weights.safetensors"
    )


@pytest.mark.parametrize(
    "stop_step,checkpoint_every,stream", [(16, 0, "off"), (21, 3, "off"), (21, 3, "on")]
)
def test_resume_is_exact(stop_step: int, checkpoint_every: int, stream: str, workdir: Path) -> None:
    """Also when the data is streamed by loader processes (`stream` on)."""
    mixed_frame(600).to_csv("d.csv", index=False)  # 420 train rows -> 14 steps per epoch
    opts = dict(OPTIONS, checkpoint_every=checkpoint_every, stream=stream, workers=1)
    full = glassnet.train("tabular", "d.csv", out="full", **opts)
    part = glassnet.train("tabular", "d.csv", out="part", callbacks=[StopAt(stop_step)], **opts)
    assert part.fit is not None and part.fit.stopped == "interrupted"
    resumed = glassnet.train("tabular", resume="part", quiet=True)
    assert resumed.fit is not None and resumed.fit.stopped == "completed"

    a, b = _weights(Path("full")), _weights(Path("part"))
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), f"{k} differs after resume"
    assert Path("full/metrics.csv").read_text() == Path("part/metrics.csv").read_text()
    assert full.metrics["test"] == resumed.metrics["test"]


def test_resume_needs_a_checkpoint(workdir: Path) -> None:
    with pytest.raises(glassnet.GlassnetError, match="does not exist"):
        glassnet.train("tabular", resume="nowhere")
