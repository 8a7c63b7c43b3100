"""Faults injected at the dangerous moments: a kill while a checkpoint is rewritten, Ctrl-C
before the first epoch ends, a full disk, a damaged run folder."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

import glassnet
from glassnet.engine import checkpoint
from tests.conftest import mixed_frame
from tests.engine.test_resume import OPTIONS, StopAt


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler sees it."""


def test_a_kill_while_rewriting_the_latest_step_keeps_a_checkpoint(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed_frame(600).to_csv("d.csv", index=False)  # 14 steps per epoch
    opts = dict(OPTIONS, checkpoint_every=7)  # step 14 is saved twice: mid-epoch, epoch end
    full = glassnet.train("tabular", "d.csv", out="full", **opts)
    real, saves = checkpoint.atomic_write_bytes, []

    def dies_in_the_third_save(path: Path, data: bytes) -> None:
        if path.name == "weights.safetensors" and "step-" in str(path):
            saves.append(path)
            if len(saves) == 3:  # the epoch-end save of step 14: LATEST names step 14
                raise Killed
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", dies_in_the_third_save)
    with pytest.raises(Killed):
        glassnet.train("tabular", "d.csv", out="part", **opts)
    monkeypatch.setattr(checkpoint, "atomic_write_bytes", real)
    latest = Path("part/checkpoint") / Path("part/checkpoint/LATEST").read_text().strip()
    assert (latest / "state.json").is_file() and (latest / "weights.safetensors").is_file()
    resumed = glassnet.train("tabular", resume="part", quiet=True)
    assert resumed.fit is not None and resumed.fit.stopped == "completed"
    a, b = load_file("full/model.safetensors"), load_file("part/model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)
    assert full.metrics["test"] == resumed.metrics["test"]


def test_ctrl_c_in_the_first_epoch_saves_and_resumes(workdir: Path) -> None:
    mixed_frame(600).to_csv("d.csv", index=False)
    stopped = glassnet.train("tabular", "d.csv", out="run", callbacks=[StopAt(3)], **OPTIONS)
    assert stopped.fit is not None and stopped.fit.stopped == "interrupted"
    assert stopped.metrics == {}  # no epoch finished: nothing to score yet
    resumed = glassnet.train("tabular", resume="run", quiet=True)
    assert resumed.fit is not None and resumed.fit.stopped == "completed"
    assert resumed.metrics["test"]["accuracy"] > 0.5


def test_a_full_disk_names_the_path_and_keeps_the_last_checkpoint(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glassnet.data import files

    mixed_frame(600).to_csv("d.csv", index=False)
    real, calls = files.os.fsync, []

    def full_after_a_while(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 15:  # into the second epoch: a checkpoint exists
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(files.os, "fsync", full_after_a_while)
    with pytest.raises(glassnet.GlassnetError) as failed:
        glassnet.train("tabular", "d.csv", out="run", **OPTIONS)
    assert "no space left" in str(failed.value).lower() and "run" in str(failed.value)
    monkeypatch.setattr(files.os, "fsync", real)
    assert not list(Path("run").rglob("*.tmp"))  # no half-written file left behind
    resumed = glassnet.train("tabular", resume="run", quiet=True)
    assert resumed.fit is not None and resumed.fit.stopped == "completed"


@pytest.mark.parametrize(
    "damage,expected",
    [
        (lambda p: p.joinpath("model.safetensors").write_bytes(b"\x00" * 10), "model.safetensors"),
        (
            lambda p: p.joinpath("model.safetensors").write_bytes(b"\x80\x04K\x01."),
            "model.safetensors",
        ),
        (lambda p: p.joinpath("preprocess.json").write_text(""), "preprocess.json"),
        (lambda p: p.joinpath("preprocess.json").write_text("{nope"), "preprocess.json"),
        (
            lambda p: p.joinpath("preprocess.json").write_text(json.dumps({"x": 1})),
            "preprocess.json",
        ),
        (lambda p: p.joinpath("run.yaml").write_text("task: [unclosed"), "run.yaml"),
    ],
)
def test_a_damaged_run_folder_is_named_not_a_traceback(
    damage: Any, expected: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import shutil
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("damaged")
    mixed_frame(200).to_csv(root / "d.csv", index=False)
    run = glassnet.train(
        "tabular", str(root / "d.csv"), target="label", epochs=1, quiet=True, out=root / "good"
    )
    broken = root / "broken"
    shutil.copytree(run.path, broken)
    damage(broken)
    done = subprocess.run(
        [sys.executable, "-m", "glassnet", "predict", str(broken), str(root / "d.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
