from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from glassnet.data.builtin import get_dataset, list_datasets
from glassnet.errors import DataError

EXPECTED_ROWS = {
    "iris": 150,
    "wine": 178,
    "breast-cancer": 569,
    "diabetes": 442,
    "fair": 6366,
    "customers": 5000,
}


def test_every_table_is_listed() -> None:
    assert set(EXPECTED_ROWS) <= {d.name for d in list_datasets("tabular")}


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_make_writes_the_table_a_user_would_supply(name: str, tmp_path: Path) -> None:
    ds = get_dataset(name)
    path = ds.make(tmp_path / name)
    frame = pd.read_csv(path)
    assert len(frame) == EXPECTED_ROWS[name]
    assert ds.defaults["target"] in frame.columns


def test_fair_is_mixed_type_and_customers_has_gaps(tmp_path: Path) -> None:
    fair = pd.read_csv(get_dataset("fair").make(tmp_path / "fair"))
    assert not pd.api.types.is_numeric_dtype(fair["occupation"])
    assert fair["age"].dtype.kind == "f"
    customers = pd.read_csv(get_dataset("customers").make(tmp_path / "c"))
    assert customers["satisfaction"].isna().any()


def test_unknown_builtin_suggests() -> None:
    with pytest.raises(DataError, match="Did you mean 'wine'"):
        get_dataset("wines")
