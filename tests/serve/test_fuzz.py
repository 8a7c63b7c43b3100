"""Schemathesis fuzzes every operation of the OpenAPI document (bodies made to fit the
schema and bodies that break it): the service must never answer 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassnet.serve import create_app, load_models
from tests.fuzzing import fuzz_every_operation, operations

pytestmark = pytest.mark.xdist_group("serve")  # its trained runs are built once


@pytest.fixture(scope="module")
def app(served_runs: dict[str, Path]):  # type: ignore[no-untyped-def]
    runs = load_models([f"{n}={p}" for n, p in served_runs.items()], device="cpu")
    return create_app(runs)


@pytest.mark.parametrize(
    "explains",
    # An explain draws every view (~3 s each on a slow 2-core machine, ~11 s for a text
    # model beside the rest of the suite): 5 per model by default, 15 in the slow suite.
    [5, pytest.param(15, marks=pytest.mark.slow)],
)
def test_no_server_errors(app, explains: int) -> None:  # type: ignore[no-untyped-def]
    ops = operations(app)
    assert len(ops) >= 2 + 3 * 3  # health, list, and info/predict/explain per model
    seen = fuzz_every_operation(ops, lambda path: explains if path.endswith("/explain") else 40)
    assert seen.get(200, 0) > 0 and sum(v for k, v in seen.items() if 400 <= k < 500) > 0
