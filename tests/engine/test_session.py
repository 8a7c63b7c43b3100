"""The training session the CLI, the Python API and the lab drive: events while it runs,
a clean stop that keeps a resumable checkpoint, and errors that reach the watcher."""

from __future__ import annotations

from pathlib import Path

import pytest

import glassnet
from glassnet.engine.session import TrainingSession, plan


def test_events_tell_the_whole_run(workdir: Path) -> None:
    spec, objects = plan("tabular", "builtin:iris", epochs=3, batch_size=16, patience=0)
    session = TrainingSession(spec, out="run", objects=objects)
    session.start()
    events = list(session.events(timeout=120))
    session.wait()
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    epochs = [e.data for e in events if e.kind == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(epochs[0]["metrics"])
    steps = [e.data for e in events if e.kind == "step"]
    assert steps and all(s["loss"] > 0 for s in steps)
    snapshots = [e.data["path"] for e in events if e.kind == "snapshot"]
    assert len(snapshots) == 3 and Path(snapshots[-1]).is_file()
    assert session.status == "finished" and events[-1].data["metrics"]["test"]["accuracy"] > 0.5
    # a late watcher still sees everything, in order
    assert [e.kind for e in session.events(timeout=1)] == kinds


def test_stop_keeps_a_checkpoint_that_resumes(workdir: Path) -> None:
    spec, _ = plan("tabular", "builtin:iris", epochs=50, batch_size=8, patience=0)
    session = TrainingSession(spec, out="run")
    session.start()
    for event in session.events(timeout=120):
        if event.kind == "epoch":
            session.stop()
    session.wait()
    assert session.status == "stopped"
    assert session.result is not None and session.result.fit is not None
    assert session.result.fit.epochs_run < 50
    resumed = glassnet.train("tabular", resume="run", quiet=True)
    assert resumed.fit is not None and resumed.fit.stopped == "completed"


def test_a_failure_reaches_the_watcher(workdir: Path) -> None:
    Path("bad.csv").write_text("a,label\n1,x\n", encoding="utf-8")
    spec, _ = plan("tabular", "bad.csv", target="label")
    session = TrainingSession(spec, out="run")
    session.start()
    events = list(session.events(timeout=60))
    assert events[-1].kind == "failed" and session.status == "failed"
    with pytest.raises(glassnet.GlassnetError):
        session.wait()


def test_a_missing_target_is_refused_before_data_loads(workdir: Path) -> None:
    Path("t.csv").write_text("a,b,label\n1,2,x\n", encoding="utf-8")
    with pytest.raises(glassnet.GlassnetError, match="no target column given.*a, b, label"):
        plan("tabular", "t.csv")


def test_built_in_defaults_are_in_the_spec(workdir: Path) -> None:
    spec, _ = plan("forecasting", "builtin:sunspots")
    assert spec.data.time and spec.data.target  # type: ignore[attr-defined]
    run = glassnet.train("tabular", "builtin:iris", epochs=1, quiet=True, out="iris")
    assert "target: species" in (run.path / "run.yaml").read_text()
