"""Schemathesis fuzzes every operation the lab's page calls: never a 5xx. Trainings the
fuzz manages to submit are validated for real but never run (the queue's worker is
replaced), so the fuzz cannot start hundreds of epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassnet.lab import create_lab_app, jobs
from tests.fuzzing import fuzz_every_operation, operations

pytestmark = pytest.mark.xdist_group("lab")


def test_no_server_errors(fresh_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs.JobQueue, "_work", lambda self: None)
    app = create_lab_app(fresh_runs)
    ops = operations(app)
    paths = {op.path for op in ops}
    assert {"/lab/api/runs", "/lab/api/jobs", "/lab/api/uploads", "/lab/api/tasks"} <= paths
    seen = fuzz_every_operation(ops, lambda p: 5 if p.endswith(("/views", "/look")) else 30)
    assert seen.get(200, 0) > 0 and sum(v for k, v in seen.items() if 400 <= k < 500) > 0
