"""Streamed vs in-memory training on one image folder of 20 000 64 px PNGs (cartoon-pets):
training samples/s, time to read the data, and peak memory of the whole process tree
(loader workers included), each contender in its own process, in the same run.

    python benchmarks/bench_streaming.py     # writes benchmarks/results/streaming.md
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import ROUNDS, entry, run_all, save, table  # noqa: E402
from memory import TreeMemory  # noqa: E402

N, SIZE, EPOCHS, WIDTHS = 20_000, 64, 1, (16, 32, 64)
FOLDER = Path(tempfile.gettempdir()) / f"glassnet-bench-pets-{N}"


def folder() -> Path:
    """The PNG folder, written once (about 90 s)."""
    from glassnet.data.builtin_images import make_cartoon_pets

    done = FOLDER / ".complete"
    if not done.exists():
        make_cartoon_pets(FOLDER, n=N, size=SIZE, seed=0)
        done.touch()
    return FOLDER


def _train(stream: str) -> dict[str, Any]:
    import glassnet

    data = folder()
    # Reading smaps_rollup walks the page tables under the memory-map lock (~30 ms here):
    # it would slow the very training it watches, so memory is measured in runs of its own.
    memory = TreeMemory(every=0.5) if os.environ.get("BENCH_MEMORY") else contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as out, memory:
        start = time.perf_counter()
        run = glassnet.train(
            "images",
            str(data),
            out=str(Path(out) / "run"),
            stream=stream,
            epochs=EPOCHS,
            widths=WIDTHS,
            val_fraction=0.05,
            test_fraction=0.05,
            patience=0,
            quiet=True,
        )
        wall = time.perf_counter() - start
    assert run.fit is not None
    result = {
        "samples_per_s": run.fit.samples_seen / run.fit.train_seconds,
        "train_s": run.fit.train_seconds,
        "outside_loop_s": wall - run.fit.train_seconds,
        "whole_s": wall,  # the in-memory path decodes before its loop, the streamed one in it
        "test_accuracy": run.metrics["test"]["accuracy"],
    }
    if isinstance(memory, TreeMemory):
        result |= {"tree_peak_rss_mb": memory.peak_rss_mb, "tree_peak_pss_mb": memory.peak_pss_mb}
    return result


RUNNERS = {
    "in memory (--stream off)": lambda: _train("off"),
    "streamed (--stream on)": lambda: _train("on"),
}


def main() -> None:
    folder()
    results = run_all(__file__, list(RUNNERS), rounds=ROUNDS)
    memory = run_all(__file__, list(RUNNERS), env={"BENCH_MEMORY": "1"}, rounds=1)
    for name, measured in memory.items():
        results[name].update({k: v for k, v in measured.items() if k.startswith("tree_")})
    text = (
        f"### Streaming: {N} PNGs of {SIZE} px, cnn.small {WIDTHS}, {EPOCHS} epochs, "
        f"{os.cpu_count()} cores; speed: median of {ROUNDS} interleaved rounds, each contender "
        "in its own process; memory: one more run each, sampled every 0.5 s\n\n"
        + table(
            results,
            [
                ("samples_per_s", "train samples/s", ".0f"),
                ("outside_loop_s", "data check + load + eval (s)", ".1f"),
                ("whole_s", "whole run (s)", ".1f"),
                ("tree_peak_pss_mb", "peak PSS, all processes (MB)", ".0f"),
                ("tree_peak_rss_mb", "peak RSS summed (MB)", ".0f"),
                ("test_accuracy", "test accuracy", ".3f"),
            ],
            reference="in memory (--stream off)",
            ratio_key="samples_per_s",
        )
    )
    save("streaming", text, results)


if __name__ == "__main__":
    entry(RUNNERS, main)
