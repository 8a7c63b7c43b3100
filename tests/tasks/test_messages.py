"""Request models: the rows fast path (orjson + a type check) gives exactly what pydantic's
`model_validate_json` gives, and leaves every body it is not sure of to pydantic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from glassnet.tasks.messages import MAX_ROWS, HistoryRequest, RowsRequest

VALUES = [None, 0, -3, 2.5, 1e300, True, False, "red", "", "3", [1], {"a": 1}, 10**30, 2**63]


def _parsed(model: type, body: bytes) -> tuple[str, object]:
    try:
        return "ok", repr(model.from_json(body).model_dump())  # repr: nan equals nan
    except ValidationError as e:
        return "error", [(err["loc"], err["type"]) for err in e.errors()]


def _reference(model: type, body: bytes) -> tuple[str, object]:
    try:
        return "ok", repr(model.model_validate_json(body).model_dump())
    except ValidationError as e:
        return "error", [(err["loc"], err["type"]) for err in e.errors()]


@pytest.mark.parametrize("seed", range(40))
def test_rows_parse_exactly_as_pydantic_parses_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 3]))
    rows = [
        {f"c{j}": VALUES[int(rng.integers(len(VALUES)))] for j in range(int(rng.integers(0, 4)))}
        for _ in range(n)
    ]
    shapes = [
        {"rows": rows},
        {"rows": rows, "extra": 1},
        {"rows": rows[0] if rows else {}},
        {"rows": [*rows, 5]},
        {"ROWS": rows},
        rows,
    ]
    body = json.dumps(shapes[int(rng.integers(len(shapes)))]).encode()
    assert _parsed(RowsRequest, body) == _reference(RowsRequest, body)


def test_bodies_pydantic_must_judge_are_left_to_it() -> None:
    bodies = [b"{", b"", b'{"rows": [{"a": NaN}]}', b'{"rows": [{"a": 1}], "rows": []}']
    for body in [*bodies, b'{"rows": [{"a": 18446744073709551616}]}', b'{"rows": [{"a": -1e400}]}']:
        assert _parsed(RowsRequest, body) == _reference(RowsRequest, body)
    too_many = json.dumps({"rows": [{"a": 1}] * (MAX_ROWS + 1)}).encode()
    assert _parsed(RowsRequest, too_many)[0] == "error"
    # a request model without the fast path validates as before
    history = json.dumps({"history": [{"t": 1, "y": 2.0}]}).encode()
    assert HistoryRequest.from_json(history).history == [{"t": 1, "y": 2.0}]
