"""Start-up stays light: the CLI's parser and `import glassnet` do not pull in torch, and
the task index read from source equals the tasks as imported."""

from __future__ import annotations

import subprocess
import sys

from glassnet.task_index import task_summaries


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_cli_and_package_import_without_torch() -> None:
    loaded = _modules_after("import glassnet, glassnet.cli; glassnet.cli.build_parser(['--help'])")
    heavy = {"torch", "pandas", "numpy", "sklearn", "pydantic"} & loaded
    assert not heavy, f"`glassnet --help` imports {sorted(heavy)}"


def test_top_level_help_lists_every_verb_fast_path() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "glassnet", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for verb in ("train", "evaluate", "predict", "explain", "faces", "export", "serve", "lab"):
        assert f"    {verb}" in out


def test_task_index_equals_the_imported_tasks() -> None:
    from glassnet.tasks import list_tasks

    imported = [
        (t.name, (t.__doc__ or "").strip().split("\n")[0], t.default_net, t.commands)
        for t in list_tasks()
    ]
    indexed = [(s.name, s.summary, s.default_net, s.commands) for s in task_summaries()]
    assert indexed == imported


def test_lazy_names_resolve() -> None:
    import glassnet

    assert callable(glassnet.train) and glassnet.Run.__name__ == "Run"
    assert {t.name for t in glassnet.list_tasks()} == {s.name for s in task_summaries()}
