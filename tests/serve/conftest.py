"""Three small trained runs (one per task), shared by the service tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import glassnet
from glassnet.tasks.sources import resolve
from tests.conftest import write_word_pairs


@pytest.fixture(scope="session")
def served_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("served")
    reviews = root / "reviews.csv"
    reviews.write_text(
        "review,sentiment\n"
        + "".join(
            f"the {w} is {a},{lab}\n"
            for w in ("screen", "case", "price", "camera")
            for a, lab in (("great", "pos"), ("awful", "neg"), ("not bad", "pos")) * 4
        ),
        encoding="utf-8",
    )
    pairs = write_word_pairs(root / "pairs.tsv")
    jobs = {
        "review": (
            "sequences",
            str(reviews),
            {"text": "review", "target": "sentiment", "epochs": 2},
        ),
        "words": ("translation", str(pairs), {"epochs": 2}),
        "table": ("tabular", "builtin:iris", {"epochs": 20, "lr": 0.01}),
        "faces": ("images", "builtin:faces-vs-background", {"epochs": 1}),
        "spots": ("forecasting", "builtin:sunspots", {"epochs": 2}),
    }
    runs = {}
    for name, (task, data, opts) in jobs.items():
        runs[name] = glassnet.train(task, data, quiet=True, out=root / name, **opts).path
    return runs


@pytest.fixture(scope="session")
def some_images() -> list[Path]:
    path, _ = resolve("builtin:faces-vs-background")
    assert path is not None
    return sorted(p for p in path.rglob("*") if p.suffix in (".png", ".jpg"))[:6]


@pytest.fixture(scope="session")
def sunspots_history() -> list[dict]:
    import pandas as pd

    path, _ = resolve("builtin:sunspots")
    return pd.read_csv(path).tail(60).to_dict("records")
