"""Chaos: SIGKILL a training at 20 random moments (while it trains, validates, writes
checkpoints), resume each time, and end with the bytes of an uninterrupted run: weights and
metrics.csv. One process and two (torchrun). Slow: `make test-all`."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glassnet.engine.distributed import _descendants
from tests.conftest import mixed_frame

pytestmark = pytest.mark.slow
ARGS = [
    "--data", "d.csv", "--target", "label", "--epochs", "6", "--batch-size", "32",
    "--checkpoint-every", "5", "--deterministic", "--patience", "0", "--dropout", "0.2",
    "--quiet",
]  # fmt: skip
KILLS = 20


def _start(cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _kill_all(proc: subprocess.Popen[bytes]) -> None:
    family = [proc.pid, *_descendants(proc.pid)]
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("devices", [1, 2])
def test_twenty_sigkills_end_byte_identical(devices: int, workdir: Path) -> None:
    mixed_frame(700).to_csv("d.csv", index=False)
    base = [sys.executable, "-m", "glassnet", "train", "tabular"]
    extra = ["--devices", str(devices)] if devices > 1 else []
    reference = subprocess.run(
        [*base, *ARGS, *extra, "--out", "reference"], capture_output=True, timeout=600
    )
    assert reference.returncode == 0, reference.stderr.decode()
    rng = random.Random(devices)
    kills = 0
    while True:
        latest = Path("run/checkpoint/LATEST")
        if latest.is_file():
            cmd = [*base, "--resume", "run", "--quiet"]
        else:  # killed before its first checkpoint: start again
            shutil.rmtree("run", ignore_errors=True)
            cmd = [*base, *ARGS, *extra, "--out", "run"]
        proc = _start(cmd)
        if kills < KILLS:
            time.sleep(rng.uniform(0.5, 6.0 if devices > 1 else 3.0))
            if proc.poll() is None:
                _kill_all(proc)
                kills += 1
                continue
        assert proc.wait(timeout=600) == 0, f"failed after {kills} kills"
        break
    for name in ("model.safetensors", "metrics.csv"):
        assert Path("run", name).read_bytes() == Path("reference", name).read_bytes(), name
