"""Adding a task is adding its module to `tasks/` (and, if it brings them, a net module to
`nets/` and a views module to `explain/`): nothing else is edited. A copy of the package
gains `tasks/rows_again.py` (a table task under a new name, on a net family of its own),
`nets/ridge.py` and `explain/ridge_views.py`; the CLI lists the task, trains it, predicts
and draws its own view, with no other file touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import glassnet

NEW_TASK = '''"""Rows again: the tabular job under a name of its own (a module added by a test)."""

from typing import ClassVar

from glassnet.tasks._base import register_task
from glassnet.tasks.tabular import TabularTask


@register_task
class RowsAgainTask(TabularTask):
    """Rows in, a class out, as a task added by one module."""

    name: ClassVar[str] = "rows-again"
    default_net: ClassVar[str] = "ridge.plain"
'''

NEW_NET = '''"""Ridge: one linear layer (a net family added by a test)."""

from torch import nn

from glassnet.nets._registry import register_net


@register_net("ridge.plain", data_args=("in_features", "num_outputs", "cardinalities"))
def build(*, in_features: int, num_outputs: int, cardinalities: tuple[int, ...] = ()) -> nn.Module:
    """One linear layer from the features to the classes."""
    return nn.Sequential(nn.Linear(in_features, num_outputs))
'''

NEW_VIEWS = '''"""The ridge family's view (added by a test)."""

from glassnet.explain.figures import new_figure
from glassnet.explain.views import View, register_view


@register_view("ridge", "model")
def ridge_weights(run, encoded):
    fig, ax = new_figure(4, 3)
    w = run.net[0].weight.detach().numpy()
    ax.imshow(w)
    return [View("ridge-weights", "The one layer's weights", "Rows: classes.", fig, {"w": w})]
'''


def test_one_new_module_in_tasks_is_a_whole_task(tmp_path: Path) -> None:
    package = tmp_path / "pkg" / "glassnet"
    shutil.copytree(
        Path(glassnet.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    (package / "tasks" / "rows_again.py").write_text(NEW_TASK)
    (package / "nets" / "ridge.py").write_text(NEW_NET)
    (package / "explain" / "ridge_views.py").write_text(NEW_VIEWS)
    env = {**os.environ, "PYTHONPATH": str(package.parent)}

    def glassnet_cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "glassnet", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listing = glassnet_cli("train", "--help")
    assert "rows-again" in listing and "as a task added by one module" in listing
    glassnet_cli(
        "train", "rows-again", "--data", "builtin:iris", "--epochs", "3", "--out", "r", "--quiet"
    )
    assert "task: rows-again" in (tmp_path / "r" / "run.yaml").read_text()
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
        "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    )
    predicted = glassnet_cli("predict", "r", str(rows), "--json")
    assert predicted.count('"label"') == 2
    glassnet_cli("explain", "r", str(rows), "--sanity", "weights", "--quiet")
    assert (tmp_path / "r" / "report" / "index.html").is_file()
    assert (tmp_path / "r" / "report" / "ridge-weights.png").is_file()
