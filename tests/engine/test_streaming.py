"""Streaming: `--stream auto` streams what does not fit the memory budget, and a folder of
20 000 images trains in little memory (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import glassnet
from glassnet.engine import batches


def _streamed(**options: object) -> bool:
    session = glassnet.session("images", "builtin:faces-vs-background", epochs=1, **options)
    session.run()
    return next(e.data["streamed"] for e in session.history if e.kind == "started")


def test_auto_streams_only_what_does_not_fit(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _streamed(out="fits") is False
    monkeypatch.setattr(batches, "memory_budget", lambda: 1000)  # bytes: nothing fits
    assert _streamed(out="too-big", workers=1) is True
    assert _streamed(out="forced", stream="off") is False


@pytest.mark.slow
def test_a_folder_of_20000_images_trains_in_under_1_5_gb(workdir: Path) -> None:
    """Peak PSS of the training process and its loader workers together."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from memory import TreeMemory

    # Written by another process, so drawing 20 000 pictures leaves nothing behind here.
    made = subprocess.run(
        [sys.executable, "-m", "glassnet", "data", "make", "cartoon-pets", "pets"]
        + ["--n", "20000", "--size", "64"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert made.returncode == 0, made.stderr
    folder = next(p.parent.parent for p in Path("pets").rglob("*.png"))
    with TreeMemory() as memory:
        run = glassnet.train(
            "images", str(folder), stream="on", epochs=1, widths=(16, 32), quiet=True, out="run"
        )
    assert run.fit is not None and run.fit.samples_seen > 10_000
    assert memory.peak_pss_mb < 1500, f"peak {memory.peak_pss_mb:.0f} MB"


class _NicenessSplit(batches.ItemSplit):
    """Each sample is the priority (niceness) of the process that loaded it."""

    def __len__(self) -> int:
        return 8

    def load(self, i: int) -> dict:
        import os

        import torch

        return {"nice": torch.tensor(os.nice(0))}


@pytest.mark.parametrize("threads", [1, 2])
def test_loader_workers_yield_to_training_only_when_cores_are_short(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decoding worker that preempts one of the training threads stalls them all; so
    workers run at a lower priority exactly when workers + training threads > cores."""
    import os

    import torch

    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # read in the worker too (fork)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        made = batches.StreamedBatches(
            _NicenessSplit(), 4, device=torch.device("cpu"), workers=1, seed=0
        )
        nice = {int(v) for batch, _ in made.epoch(0) for v in batch["nice"]}
        made.close()
    finally:
        torch.set_num_threads(before)
    assert nice == ({min(19, os.nice(0) + 10)} if threads + 1 > 2 else {os.nice(0)})


@pytest.mark.parametrize(
    ("cores", "device", "expected"),
    [(1, "cpu", 0), (2, "cpu", 0), (2, "cuda", 1), (3, "cpu", 2), (16, "cpu", 4)],
)
def test_default_workers_leave_a_small_cpu_to_the_training(
    cores: int, device: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU of 2 cores the training's threads use both: the loop decodes between
    steps instead of a worker taking turns with them; a GPU's training leaves the cores
    free, and bigger machines keep one core for the loop (at most 4 workers)."""
    import os

    import torch

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert batches.default_workers(torch.device(device)) == expected
