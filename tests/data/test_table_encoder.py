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
