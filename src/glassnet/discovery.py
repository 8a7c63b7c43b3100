"""Which modules of a package register something (a task, a net, views, a data set), found
by reading their source for the registering call, so adding one is adding its module: no
list of modules to edit. Reading source (not importing) keeps the lazy imports lazy."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path


def modules_declaring(package_dir: Path, marker: str) -> list[tuple[str, Path]]:
    """(module name, path) of each `package_dir/*.py`, `_private` ones aside, whose source
    holds `marker` (e.g. "@register_net("), sorted by name."""
    return [
        (path.stem, path)
        for path in sorted(package_dir.glob("*.py"))
        if not path.name.startswith("_") and marker in path.read_text(encoding="utf-8")
    ]


@cache  # once per process: the registries live as long
def import_declaring(package: str, marker: str) -> None:
    """Import every module of `package` that holds `marker`: each registers itself on
    import. (`package` may be the one being imported: its `__file__` is set by then.)"""
    folder = Path(str(importlib.import_module(package).__file__)).parent
    for name, _ in modules_declaring(folder, marker):
        importlib.import_module(f"{package}.{name}")
