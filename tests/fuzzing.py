"""Schemathesis over an app's OpenAPI document: every operation fuzzed (bodies made to fit
the schema and bodies that break it), never a 5xx. Shared by the service's and the lab's
fuzz tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def fuzz_every_operation(ops: list[Any], examples: Callable[[str], int]) -> dict[int, int]:
    """Fuzz each operation `examples(path)` times; returns how often each status came."""
    seen: dict[int, int] = {}
    for operation in ops:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples(operation.path),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            # explain trains nothing but draws every view: on a slow 2-core machine, beside
            # the rest of the suite, one can take over schemathesis' default 10 s. Slow is
            # not a server error; the budget is wide so that only a hang fails.
            response = case.call(timeout=180)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        fuzz()
    return seen
