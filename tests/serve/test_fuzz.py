"""Schemathesis fuzzes every operation of the OpenAPI document (bodies made to fit the
schema and bodies that break it): the service must never answer 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from glassnet.serve import create_app, load_models

pytestmark = pytest.mark.xdist_group("serve")  # its trained runs are built once


@pytest.fixture(scope="module")
def app(served_runs: dict[str, Path]):  # type: ignore[no-untyped-def]
    runs = load_models([f"{n}={p}" for n, p in served_runs.items()], device="cpu")
    return create_app(runs)


def test_no_server_errors(app) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 2 + 3 * 3  # health, list, and info/predict/explain per model
    seen: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15 if operation.path.endswith("/explain") else 40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        fuzz()
    assert seen.get(200, 0) > 0 and sum(v for k, v in seen.items() if 400 <= k < 500) > 0
