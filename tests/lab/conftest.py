"""A runs folder for the lab's tests: two small tabular runs that differ in their learning
rate (to compare), an image classifier (Grad-CAM, feature maps), a forecaster (an RNN's
memory to step through) and a translator (attention to pick tokens in)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import glassnet
from glassnet.tasks.sources import resolve
from tests.conftest import write_word_pairs


@pytest.fixture(scope="session")
def lab_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lab") / "runs"
    glassnet.train("tabular", "builtin:iris", epochs=12, quiet=True, out=root / "iris-slow")
    glassnet.train(
        "tabular", "builtin:iris", epochs=12, lr=0.02, quiet=True, out=root / "iris-fast"
    )
    glassnet.train(
        "images", "builtin:faces-vs-background", epochs=1, quiet=True, out=root / "faces"
    )
    glassnet.train("forecasting", "builtin:sunspots", epochs=2, quiet=True, out=root / "spots")
    pairs = write_word_pairs(root.parent / "pairs.tsv")
    glassnet.train("translation", str(pairs), epochs=2, quiet=True, out=root / "words")
    return root


@pytest.fixture(scope="session")
def face_image() -> Path:
    path, _ = resolve("builtin:faces-vs-background")
    assert path is not None
    return next(p for p in sorted(path.rglob("*.png")) if "face" in p.parent.name)


@pytest.fixture()
def fresh_runs(lab_runs: Path, tmp_path: Path) -> Path:
    """A copy of the runs folder a test may add to."""
    return Path(shutil.copytree(lab_runs, tmp_path / "runs"))


ARTIFACTS = Path(os.environ.get("GLASSNET_TEST_ARTIFACTS", "test-artifacts")) / "lab"
