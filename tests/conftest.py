"""Shared fixtures: an isolated data cache, a scratch working directory, small tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Built-in data sets are written once per test session, never into the user's home;
    # under xdist the workers share one cache (materialise locks each set while it is
    # written), so spoken digits or scenes are made once, not once per worker.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    os.environ["GLASSNET_CACHE"] = str(shared / "glassnet-cache")
    os.environ.setdefault("CI", "1")  # plain progress lines, no live bar
    torch.set_num_threads(1)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def mixed_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers, a low- and a high-cardinality category, gaps; target depends on all."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    city = rng.choice([f"city{i}" for i in range(15)], n)
    score = x1 + 0.5 * x2 + (color == "red") * 1.0 + np.array([int(c[4:]) % 3 for c in city]) * 0.3
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "color": color,
            "city": city,
            "label": np.where(score > np.median(score), "high", "low"),
        }
    )
    frame.loc[rng.random(n) < 0.1, "x2"] = np.nan
    return frame


@pytest.fixture
def mixed_csv(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    return path


def write_word_pairs(path: Path) -> Path:
    """A tiny translation set: 'red cat' -> 'cat red' for 16 colour/animal pairs."""
    path.write_text(
        "".join(
            f"{a} {b}\t{b} {a}\n"
            for a in ("red", "blue", "big", "old")
            for b in ("cat", "dog", "fox", "owl")
        ),
        encoding="utf-8",
    )
    return path
