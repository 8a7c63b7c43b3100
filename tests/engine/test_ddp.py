"""Data-parallel training: two CPU processes (gloo) end with the weights of one process
using the same global batch; rank 0 alone writes the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.conftest import mixed_frame

ARGS = [
    "--data",
    "d.csv",
    "--target",
    "label",
    "--epochs",
    "3",
    "--batch-size",
    "32",
    "--dropout",
    "0",
    "--patience",
    "0",
    "--quiet",
]


def test_two_processes_match_one(workdir: Path) -> None:
    mixed_frame(500).to_csv("d.csv", index=False)  # 350 rows: the last batch is uneven
    cmd = [sys.executable, "-m", "glassnet", "train", "tabular", *ARGS]
    one = subprocess.run([*cmd, "--out", "one"], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [*cmd, "--out", "two", "--devices", "2"], capture_output=True, text=True, timeout=300
    )
    assert two.returncode == 0, two.stderr
    a, b = load_file("one/model.safetensors"), load_file("two/model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    # rank 0 alone wrote: one run directory, one TensorBoard file, summary printed once
    assert sorted(p.name for p in Path(".").iterdir()) == ["d.csv", "one", "two"]
    assert len(list(Path("two/tensorboard").iterdir())) == 1
    assert two.stdout.count("run saved in two") == 1
    assert "processes: 2" in Path("two/run.yaml").read_text()
