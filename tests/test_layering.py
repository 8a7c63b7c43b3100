"""Dependencies point one way (ARCHITECTURE section 2): a module may import only its own
layer or the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import glassnet

SRC = Path(glassnet.__file__).parent
# Lower number = lower layer. A module may import from layers <= its own.
LAYERS = {
    "_version": 0,
    "errors": 0,
    "nets": 1,
    "config": 2,
    "data": 2,
    "tasks": 3,
    "engine": 4,
    "explain": 4,
    "export": 4,
    "api": 5,
    "demo": 6,
    "cli": 7,
    "cli_options": 7,
    "__main__": 7,
    "serve": 7,
    "lab": 8,
    "__init__": 9,
}


def _layer(module: str) -> int:
    first = module.split(".")[0]
    return LAYERS[first]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "glassnet":
            found += [f"glassnet.{a.name}" for a in node.names]  # from glassnet import api
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("glassnet")
        ):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("glassnet")]
    return found


def test_imports_point_down() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        me = ".".join(rel.parts)
        for target in _imports(path):
            inner = target.removeprefix("glassnet").lstrip(".")
            if not inner:
                if me != "__init__":
                    bad.append(f"{me} imports the glassnet package itself")
                continue
            if _layer(inner) > _layer(me):
                bad.append(f"{me} (layer {_layer(me)}) imports {inner} (layer {_layer(inner)})")
    assert not bad, "\n".join(bad)


def test_nets_use_torch_only() -> None:
    for path in (SRC / "nets").rglob("*.py"):
        for target in _imports(path):
            assert target.startswith("glassnet.nets"), f"{path.name} imports {target}"


def test_tasks_do_not_import_engine_or_above() -> None:
    for path in (SRC / "tasks").rglob("*.py"):
        for target in _imports(path):
            inner = target.removeprefix("glassnet.")
            assert _layer(inner) <= LAYERS["tasks"], f"{path.name} imports {target}"
