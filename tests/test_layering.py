"""Dependencies point one way (ARCHITECTURE section 2): a module may import only its own
layer or the layers below it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import glassnet

SRC = Path(glassnet.__file__).parent
# Lower number = lower layer. A module may import from layers <= its own.
LAYERS = {
    "_version": 0,
    "errors": 0,
    "task_index": 0,
    "discovery": 0,
    "nets": 1,
    "config": 2,
    "data": 2,
    "tasks": 3,
    "engine": 4,
    "explain": 4,
    "export": 4,
    "api": 5,
    "faces": 5,  # a task's own Python API beside api (enrol, verify, identify)
    "demo": 6,
    "serve": 6,
    "lab": 6,
    "faces_service": 6,  # a task's own REST routes, beside serve
    "sklearn": 6,  # scikit-learn estimators over the api
    "cli": 7,
    "cli_options": 7,
    "faces_cli": 7,
    "__main__": 7,
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
    """Nets import only each other (and discovery, the standard-library helper that finds
    the modules registering nets)."""
    for path in (SRC / "nets").rglob("*.py"):
        for target in _imports(path):
            assert target.startswith(("glassnet.nets", "glassnet.discovery")), (
                f"{path.name} imports {target}"
            )


def test_tasks_do_not_import_engine_or_above() -> None:
    for path in (SRC / "tasks").rglob("*.py"):
        for target in _imports(path):
            inner = target.removeprefix("glassnet.")
            assert _layer(inner) <= LAYERS["tasks"], f"{path.name} imports {target}"


# The layers every task plugs into: they read what a task declares and never name one.
GENERIC = ["cli.py", "cli_options.py", "api.py", "serve", "export", "explain", "engine", "lab"]
PROBES = {"hasattr", "getattr", "isinstance"}


def _generic_files() -> list[Path]:
    files: list[Path] = []
    for item in GENERIC:
        p = SRC / item
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.is_file() else []
    return files


def test_generic_layers_never_name_or_probe_a_task() -> None:
    from glassnet.tasks import list_tasks, messages

    task_names = {t.name for t in list_tasks()}
    task_modules = {t.__module__ for t in list_tasks()}
    named_types = {t.__name__ for t in list_tasks()} | {
        name for name, obj in vars(messages).items() if isinstance(obj, type)
    }
    bad = []
    for path in _generic_files():
        rel = path.relative_to(SRC)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and node.value in task_names:
                bad.append(f"{where} names the task '{node.value}'")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    mods = [a.name for a in node.names]
                bad += [f"{where} imports the task module {m}" for m in mods if m in task_modules]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in PROBES
                and node.args
            ):
                probed = ast.unparse(node.args[0])
                kinds = ast.unparse(node.args[1]) if len(node.args) > 1 else ""
                if node.func.id != "isinstance" and "task" in probed.lower():
                    bad.append(f"{where} probes a task: {ast.unparse(node)}")
                if node.func.id == "isinstance" and any(n in kinds for n in named_types):
                    bad.append(f"{where} checks for a particular task's type: {ast.unparse(node)}")
    assert not bad, "\n".join(bad)


def test_the_probe_finder_finds_probes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above would fail on the patterns it exists to catch."""
    fake = tmp_path / "glassnet"
    (fake / "serve").mkdir(parents=True)
    (fake / "serve" / "x.py").write_text(
        "if run.spec.task == 'images': pass\n"
        "if hasattr(run.task, 'frames'): pass\n"
        "if isinstance(req, ImagesRequest): pass\n"
        "from glassnet.tasks.translation import TranslationTask\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    with pytest.raises(AssertionError) as failed:
        test_generic_layers_never_name_or_probe_a_task()
    text = str(failed.value)
    for expected in (
        "names the task 'images'",
        "probes a task",
        "particular task's type",
        "imports the task module",
    ):
        assert expected in text
