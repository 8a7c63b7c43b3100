from __future__ import annotations

import time
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


def _ask_for_slow(cache: str) -> str:
    from glassnet.data.builtin import materialise

    return str(materialise("builtin:slow-to-make", Path(cache))[0])


def test_two_processes_asking_at_once_write_the_set_once(tmp_path: Path) -> None:
    """Two ranks (or terminals, or test workers) asking for one built-in at the same moment:
    one writes it, the other waits for it; neither reads half-written files."""
    import multiprocessing

    from glassnet.data import builtin

    log = tmp_path / "made.txt"

    def make(target: Path) -> Path:
        with log.open("a") as f:
            f.write("made\n")
        time.sleep(1.0)  # long enough for the other process to arrive meanwhile
        target.mkdir(parents=True, exist_ok=True)
        (target / "data.csv").write_text("a,b\n1,2\n")
        return target / "data.csv"

    builtin.register_dataset(builtin.BuiltinDataset("slow-to-make", "tabular", "a test", make, {}))
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            paths = pool.map(_ask_for_slow, [str(tmp_path / "cache")] * 2)
    finally:
        builtin._DATASETS.pop("slow-to-make")
    assert paths[0] == paths[1] and Path(paths[0]).read_text() == "a,b\n1,2\n"
    assert log.read_text() == "made\n"
