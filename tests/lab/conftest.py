"""A runs folder for the lab's tests: two small tabular runs that differ in their learning
rate (to compare) and one image classifier (to look inside with Grad-CAM)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import glassnet
from glassnet.tasks.sources import resolve


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
