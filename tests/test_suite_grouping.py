"""The suite's own plumbing: tests that share an expensive session fixture are marked
with one xdist_group, and `make test` (`--dist loadgroup`) must keep each group on one
worker, else every such fixture is built once per worker (pytest 9.2 with xdist 3.8 broke
this silently and cost the suite ~5 minutes)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("grouping-check")


def test_a_grouped_test_is_tagged_with_its_group(request: pytest.FixtureRequest) -> None:
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("not run under xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping-check"), request.node.nodeid
