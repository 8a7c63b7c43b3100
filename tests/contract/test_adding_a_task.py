"""Adding a task is adding one module to `tasks/`: nothing else is edited. A copy of the
package gains `tasks/rows_again.py` (a task registered under a new name); the CLI lists
it, trains it, predicts and explains with it, with no other file touched."""

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
    default_net: ClassVar[str] = "mlp.small"
'''


def test_one_new_module_in_tasks_is_a_whole_task(tmp_path: Path) -> None:
    package = tmp_path / "pkg" / "glassnet"
    shutil.copytree(
        Path(glassnet.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    (package / "tasks" / "rows_again.py").write_text(NEW_TASK)
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
    assert list((tmp_path / "r" / "report").glob("*.png"))
