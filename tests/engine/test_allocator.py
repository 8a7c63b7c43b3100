"""While a training runs on a CPU, a block freed by one step is reused by the next without
page faults; afterwards the unused memory goes back to the system."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import glassnet
from glassnet.engine.allocator import _glibc
from glassnet.engine.callbacks import Callback
from tests.conftest import mixed_frame
from tests.engine.test_resume import OPTIONS

pytestmark = pytest.mark.skipif(_glibc() is None, reason="glibc's allocator only")

# A step's pattern: large blocks (40 MB: above any mmap threshold glibc uses, and 8 MB)
# written, freed and allocated again; page faults counted per step.
PROBE = """
import json, resource, torch
from glassnet.engine.allocator import keeping_freed_memory

def faults_per_step(steps=10):
    def step():
        a = torch.empty(10_000_000).fill_(1.0)
        b = torch.empty(2_000_000).fill_(2.0)
        return float(a[-1] + b[-1])
    for _ in range(3):  # the heap grows to the step's size
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6

plain = faults_per_step()
with keeping_freed_memory() as applied:
    kept = faults_per_step()
    inside = rss_mb()
print(json.dumps(dict(applied=applied, plain=plain, kept=kept,
                      inside=inside, released=rss_mb())))
"""


def test_training_reuses_freed_memory_and_gives_it_back_after() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["applied"]
    assert r["plain"] > 5000  # glibc maps the 40 MB block afresh each step: ~10 000 faults
    assert r["kept"] < r["plain"] / 10
    # Afterwards the unused memory goes back to the system (how much depends on where
    # the heap's free blocks lie: 30-150 MB here; none if nothing were trimmed).
    assert r["released"] < r["inside"] - 20


def test_a_cpu_training_runs_with_freed_memory_kept(workdir: Path) -> None:
    from glassnet.engine import allocator

    seen: list[int] = []

    class Look(Callback):
        def on_step(self, **_: Any) -> None:
            seen.append(allocator._active)

    mixed_frame(200).to_csv("d.csv", index=False)
    glassnet.train("tabular", "d.csv", out="run", callbacks=[Look()], **OPTIONS)
    assert seen and set(seen) == {1}
    assert allocator._active == 0  # released when the training ended
