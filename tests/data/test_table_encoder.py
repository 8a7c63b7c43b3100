from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from glassnet.data.table_encoder import TableEncoder, infer_kind
from glassnet.errors import DataError
from tests.conftest import mixed_frame


def test_kind_inference() -> None:
    assert infer_kind(pd.Series(["a", "b"])) == "classification"
    assert infer_kind(pd.Series([0, 1, 2, 1])) == "classification"
    assert infer_kind(pd.Series([0.0, 1.0, 1.0])) == "classification"
    assert infer_kind(pd.Series([0.5, 1.2, 3.3])) == "regression"
    assert infer_kind(pd.Series(range(100))) == "regression"


def test_fit_transform_layout_and_json_state() -> None:
    frame = mixed_frame()
    enc = TableEncoder.fit(frame, target="label", source="t", onehot_max=5)
    types = [c["type"] for c in enc.state["columns"]]
    assert types == ["numeric", "numeric", "onehot", "embed"]  # embedded codes last
    x = enc.features(frame, "t")
    # x1, x2, x2-missing flag, 3 one-hot colours, 1 city code
    assert x.shape == (len(frame), 7) and np.isfinite(x).all()
    assert enc.cardinalities == (16,)
    restored = TableEncoder(json.loads(json.dumps(enc.state)))  # plain JSON, no pickle
    np.testing.assert_array_equal(restored.features(frame, "t"), x)
    assert restored.labels == ["high", "low"]


def test_unseen_category_is_handled_and_noted() -> None:
    frame = mixed_frame()
    enc = TableEncoder.fit(frame, target="label", source="t")
    new = frame.head(3).copy()
    new.loc[0, "color"] = "purple"
    x = enc.features(new, "new.csv")
    color_block = [i for i, n in enumerate(enc.feature_names) if n.startswith("color=")]
    assert x[0, color_block].sum() == 0
    assert any("purple" in n for n in enc.notes)


def test_missing_columns_at_predict_time_are_named() -> None:
    enc = TableEncoder.fit(mixed_frame(), target="label", source="t")
    with pytest.raises(DataError, match=r"new.csv lacks the column\(s\) 'color'"):
        enc.features(mixed_frame().drop(columns=["color"]), "new.csv")


def test_text_in_a_numeric_column_names_the_row() -> None:
    enc = TableEncoder.fit(mixed_frame(), target="label", source="t")
    bad = mixed_frame().astype({"x1": object})
    bad.loc[4, "x1"] = "oops"
    with pytest.raises(DataError, match="column 'x1' should be numeric but row 5 holds 'oops'"):
        enc.features(bad, "new.csv")


@pytest.mark.parametrize(
    "frame,kind,message",
    [
        (pd.DataFrame({"a": [1, 2, 3], "y": ["x", "x", "x"]}), "auto", "single value"),
        (pd.DataFrame({"a": [1, 2, 3], "y": ["p", "q", "r"]}), "regression", "numeric target"),
        (
            pd.DataFrame({"a": [None, None, None], "b": [1, 2, 3], "y": [1, 2, 1]}),
            "auto",
            "column 'a' is entirely empty",
        ),
        (
            pd.DataFrame({"a": [1, 2, 3], "y": [None, None, None]}),
            "auto",
            "target column 'y' is empty",
        ),
    ],
)
def test_bad_tables_get_clear_errors(frame: pd.DataFrame, kind: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        TableEncoder.fit(frame, target="y", source="t.csv", kind=kind)  # type: ignore[arg-type]


def test_regression_target_is_standardised_and_unscaled() -> None:
    frame = pd.DataFrame({"a": np.arange(50.0), "y": np.arange(50.0) * 3.5 + 100})
    enc = TableEncoder.fit(frame, target="y", source="t")
    assert enc.kind == "regression"
    z = enc.targets(frame, "t")
    assert abs(z.mean()) < 1e-6
    np.testing.assert_allclose(enc.unscale(z), frame["y"], rtol=1e-5)


NUMBERS = [None, 0, 1, 2, 2.0, 2.5, -3.25, 1e40, float("nan"), float("inf")]
ANYTHING = [*NUMBERS, True, "red", "city3", "blue", "purple", "3", "x", "1.5"]
DATES = [None, "", " 2024-02-29 ", "2024-02-30", "1999-12-31", "31/12/1999", 5]


@pytest.mark.parametrize("seed", range(60))
def test_rows_without_pandas_encode_exactly_as_a_dataframe(seed: int) -> None:
    """The service's numpy path: same features, notes and errors as the DataFrame path, on
    rows mixing gaps, ints, floats, huge values, text, bools, unseen categories and dates
    well and badly written (or it declines, for text in a numeric column)."""
    frame = mixed_frame()
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.arange(len(frame)) * 3, unit="D")
    frame["day"] = days.strftime("%Y-%m-%d").where(np.arange(len(frame)) % 11 > 0, None)
    enc = TableEncoder.fit(frame, target="label", source="t", onehot_max=5)
    assert enc.state["columns"][2]["type"] == "date"
    rng = np.random.default_rng(seed)

    def value(column: dict) -> object:
        roll = rng.random()
        if roll < 0.4:  # a value seen in training
            v = frame[column["name"]].iloc[int(rng.integers(len(frame)))]
            return v.item() if isinstance(v, np.generic) else v
        if column["type"] == "date" and roll < 0.9:
            return DATES[int(rng.integers(len(DATES)))]
        pool = NUMBERS if column["type"] == "numeric" and roll < 0.9 else ANYTHING
        return pool[int(rng.integers(len(pool)))]

    rows = [
        {c["name"]: value(c) for c in enc.state["columns"]} for _ in range(int(rng.integers(1, 6)))
    ]
    try:
        slow, slow_error = enc.features(pd.DataFrame(rows), "the list"), None
    except DataError as e:
        slow, slow_error = None, str(e)
    slow_notes = list(enc.notes)
    try:
        fast, fast_error = enc.features_from_rows(rows, "the list"), None
    except DataError as e:
        fast, fast_error = None, str(e)
    fast_notes = list(enc.notes)
    try:  # the notes alone (a shared pass's callers): the same notes, errors and refusals
        notes_only, notes_error = enc.notes_from_rows(rows, "the list"), None
    except DataError as e:
        notes_only, notes_error = None, str(e)
    assert notes_error == fast_error
    assert notes_only == (fast_notes if fast is not None else None)
    if fast is None and fast_error is None:
        assert any(
            isinstance(r["x1"], (str, bool)) or isinstance(r["x2"], (str, bool)) for r in rows
        )  # declines only for text (or bools) in numbers
        return  # the caller takes the DataFrame path
    assert fast_error == slow_error
    if slow is not None:
        np.testing.assert_array_equal(fast, slow)
        assert fast_notes == slow_notes


def test_rows_judged_unremarkable_are_those_the_walk_gives_no_note() -> None:
    """A shared pass asks each caller's notes; rows whose every cell is a plain in-range
    number or a known category skip the walk. On rows that are mostly such, with now and
    then a gap, a huge or odd number, a bool, numpy scalars or an unseen category: the
    notes, errors and refusals stay those of `features_from_rows`, and the shortcut is
    taken where (and only where) nothing is remarked."""
    frame = mixed_frame()
    enc = TableEncoder.fit(frame, target="label", source="t", onehot_max=5)
    assert {c["type"] for c in enc.state["columns"]} == {"numeric", "onehot", "embed"}
    rng = np.random.default_rng(0)
    odd = [*ANYTHING, 10**40, -(10**31), np.float64(0.5), np.int64(2), "RED", 3]

    def value(name: str) -> object:
        if rng.random() < 0.93:  # a value seen in training
            v = frame[name].dropna().iloc[int(rng.integers(len(frame) - 40))]
            return v.item() if isinstance(v, np.generic) else v
        return odd[int(rng.integers(len(odd)))]

    taken = 0
    for _ in range(400):
        rows = [
            {c["name"]: value(c["name"]) for c in enc.state["columns"]}
            for _ in range(int(rng.integers(1, 4)))
        ]
        try:
            fast, error = enc.features_from_rows(rows, "the list"), None
        except DataError as e:
            fast, error = None, str(e)
        walked = list(enc.notes) if fast is not None else None
        try:
            notes, notes_error = enc.notes_from_rows(rows, "the list"), None
        except DataError as e:
            notes, notes_error = None, str(e)
        assert (notes, notes_error) == (walked, error), rows
        quiet = enc._unremarkable(rows)
        taken += quiet
        assert not quiet or (walked == [] and error is None), rows
    assert 100 < taken < 390  # both ways were taken


def test_the_numpy_path_declines_text_in_a_numeric_column() -> None:
    enc = TableEncoder.fit(mixed_frame(), target="label", source="t")
    row = {"x1": "1.5", "x2": 0.3, "color": "red", "city": "city1"}
    assert enc.features_from_rows([row], "the list") is None
    row["x1"] = 1.5
    assert enc.features_from_rows([row], "the list").shape == (
        1,
        enc.features(pd.DataFrame([row]), "t").shape[1],
    )


def test_category_numbers_are_written_each_on_its_own() -> None:
    """A coded category given as numbers: 3 stays '3' even beside a 2.5 in the same batch
    (it would be '3.0', unseen, if one fraction decided for all), and huge values do not
    wrap around as integers."""
    from glassnet.data.table_encoder import MISSING, _as_strings

    got = _as_strings(pd.Series([3.0, 2.5, None, 1e40, -7.0])).tolist()
    assert got == ["3", "2.5", MISSING, "1e+40", "-7"]
    assert got[3] == _as_strings(pd.Series(["x", 1e40], dtype=object)).tolist()[1]
