"""Which tasks exist, read from their modules' source without importing them.

Importing a task imports torch and its data stack (seconds); `glassnet --help`, `glassnet
train --help` and the verbs a task adds only need each task's name, one-line summary and
module text. `tasks/__init__` imports exactly the modules listed here, so this list is the
one registry's table of contents; a test checks the index equals the imported classes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TASK_MODULES = (
    "detection",
    "faces",
    "forecasting",
    "images",
    "sequences",
    "speech",
    "tabular",
    "translation",
)
_TASKS_DIR = Path(__file__).parent / "tasks"


@dataclass(frozen=True)
class TaskSummary:
    name: str
    summary: str  # the first line of the task class's docstring
    description: str  # the task module's docstring
    default_net: str
    commands: str | None  # the module that adds the task's own verbs (faces: enrol, ...)


def _class_constants(node: ast.ClassDef) -> dict[str, object]:
    """`name: ClassVar[str] = "x"` and `name = "x"` assignments in a class body."""
    out: dict[str, object] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
            target, value = stmt.target.id, stmt.value
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            if not isinstance(stmt.targets[0], ast.Name):
                continue
            target, value = stmt.targets[0].id, stmt.value
        else:
            continue
        if isinstance(value, ast.Constant):
            out[target] = value.value
    return out


def _is_registered(node: ast.ClassDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "register_task" for d in node.decorator_list)


@cache
def task_summaries() -> tuple[TaskSummary, ...]:
    """Every task, sorted by name (the order `tasks.list_tasks()` gives)."""
    found = []
    for module in TASK_MODULES:
        tree = ast.parse((_TASKS_DIR / f"{module}.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and _is_registered(node):
                consts = _class_constants(node)
                found.append(
                    TaskSummary(
                        name=str(consts["name"]),
                        summary=(ast.get_docstring(node) or "").strip().split("\n")[0],
                        description=ast.get_docstring(tree) or "",
                        default_net=str(consts["default_net"]),
                        commands=consts.get("commands"),  # type: ignore[arg-type]
                    )
                )
    return tuple(sorted(found, key=lambda s: s.name))
