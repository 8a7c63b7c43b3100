"""Built-in tables: four from scikit-learn's bundled files, one from statsmodels, one made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from glassnet.data.builtin import BuiltinDataset, register_dataset
from glassnet.data.files import atomic_write_text


def _write_csv(frame: pd.DataFrame, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.csv"
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def _sklearn(
    name: str,
    loader_name: str,
    target: str,  # noqa: ANN202
    rename_target: dict | None = None,
):
    def make(directory: Path) -> Path:
        from sklearn import datasets

        bunch = getattr(datasets, loader_name)(as_frame=True)
        frame = bunch.frame.rename(columns={"target": target})
        if rename_target is not None:
            frame[target] = frame[target].map(rename_target)
        return _write_csv(frame, directory, name)

    return make


def _make_fair(directory: Path) -> Path:
    """statsmodels' `fair` survey (6 366 rows), with coded columns given their names."""
    from statsmodels.datasets import fair

    frame = fair.load_pandas().data.copy()
    occupations = {
        1: "student",
        2: "farming/semi-skilled",
        3: "white-collar",
        4: "teacher/nurse/writer",
        5: "manager/business",
        6: "professional",
    }
    religious = {1: "not", 2: "mildly", 3: "fairly", 4: "strongly"}
    frame["occupation"] = frame["occupation"].astype(int).map(occupations)
    frame["occupation_husb"] = frame["occupation_husb"].astype(int).map(occupations)
    frame["religious"] = frame["religious"].astype(int).map(religious)
    frame["had_affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
    return _write_csv(frame, directory, "fair")


def make_customers(directory: Path, n: int = 5000, seed: int = 0) -> Path:
    """A synthetic customer-churn table: numbers, categories, gaps and an id column."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.55, 0.25, 0.2])
    payment = rng.choice(["card", "bank transfer", "cheque", "electronic"], n)
    region = rng.choice([f"region-{i:02d}" for i in range(14)], n)
    tenure = rng.integers(1, 72, n)
    age = rng.integers(18, 80, n)
    charges = np.round(rng.normal(65, 25, n).clip(10, 150), 2)
    calls = rng.poisson(1.5, n)
    internet = rng.choice(["yes", "no"], n, p=[0.7, 0.3])
    satisfaction = rng.integers(1, 6, n).astype(float)
    region_effect = {f"region-{i:02d}": e for i, e in enumerate(rng.normal(0, 0.6, 14))}
    logit = (
        -1.0
        + 1.6 * (contract == "month-to-month")
        - 0.9 * (contract == "two-year")
        - 0.045 * tenure
        + 0.02 * (charges - 65)
        + 0.45 * calls
        - 0.55 * (satisfaction - 3)
        + 0.5 * (payment == "electronic")
        + np.vectorize(region_effect.get)(region)
        - 0.01 * (age - 45)
    )
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "age": age,
            "tenure_months": tenure,
            "monthly_charges": charges,
            "contract": contract,
            "payment": payment,
            "region": region,
            "support_calls": calls,
            "internet": internet,
            "satisfaction": satisfaction,
            "churned": np.where(churned, "yes", "no"),
        }
    )
    frame.loc[rng.random(n) < 0.05, "monthly_charges"] = np.nan
    frame.loc[rng.random(n) < 0.10, "satisfaction"] = np.nan
    frame.loc[rng.random(n) < 0.03, "payment"] = None
    return _write_csv(frame, directory, "customers")


for _name, _loader, _target, _desc, _map in [
    ("iris", "load_iris", "species", "150 iris flowers, 4 measurements, 3 species", None),
    ("wine", "load_wine", "cultivar", "178 wines, 13 chemical measurements, 3 cultivars", None),
    (
        "breast-cancer",
        "load_breast_cancer",
        "diagnosis",
        "569 tumours, 30 cell-nucleus measurements, malignant or benign",
        {0: "malignant", 1: "benign"},
    ),
    (
        "diabetes",
        "load_diabetes",
        "progression",
        "442 patients, 10 baseline measurements, disease progression after a year (regression)",
        None,
    ),
]:
    register_dataset(
        BuiltinDataset(
            _name, "tabular", _desc, _sklearn(_name, _loader, _target, _map), {"target": _target}
        )
    )
register_dataset(
    BuiltinDataset(
        "fair",
        "tabular",
        "6 366 survey answers (statsmodels), mixed types: had an affair?",
        _make_fair,
        {"target": "had_affair"},
    )
)
register_dataset(
    BuiltinDataset(
        "customers",
        "tabular",
        "5 000 made-up customers: numbers, categories, gaps, an id column; who churned?",
        make_customers,
        {"target": "churned"},
    )
)
