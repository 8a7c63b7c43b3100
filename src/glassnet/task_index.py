"""Which tasks exist, read from their modules' source without importing them.

Importing a task imports torch and its data stack (seconds); `glassnet --help`, `glassnet
train --help` and the verbs a task adds only need each task's name, one-line summary and
module text. A task module is any `tasks/*.py` (not `_private`) that defines a
`@register_task` class: adding a task is adding its module, nothing is edited elsewhere.
`tasks/__init__` and the registry import exactly the modules found here; a test checks
the index equals the imported classes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from glassnet.discovery import modules_declaring

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


def _registered_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [n for n in tree.body if isinstance(n, ast.ClassDef) and _is_registered(n)]


@cache
def _task_trees() -> tuple[tuple[str, ast.Module], ...]:
    """(module name, parsed source) of every task module, by name."""
    found = []
    for name, path in modules_declaring(_TASKS_DIR, "@register_task"):  # helpers: not parsed
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _registered_classes(tree):
            found.append((name, tree))
    return tuple(found)


def task_modules() -> tuple[str, ...]:
    """The names of the modules in `tasks/` that register a task."""
    return tuple(name for name, _ in _task_trees())


@cache
def task_summaries() -> tuple[TaskSummary, ...]:
    """Every task, sorted by name (the order `tasks.list_tasks()` gives)."""
    found = []
    for _, tree in _task_trees():
        for node in _registered_classes(tree):
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
