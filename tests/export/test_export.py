"""Export details beyond the per-task contract: TorchScript, failures that keep nothing,
runs whose data is gone, refusing to overwrite, and the CLI verb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import glassnet
from glassnet.cli import main
from glassnet.errors import ConfigError, ExportError, RunError
from glassnet.export import formats
from tests.conftest import mixed_frame


@pytest.fixture
def table_run(workdir: Path, mixed_csv: Path) -> glassnet.api.Run:
    # city has 15 values: embedded (codes last) when one-hot stops at 10
    return glassnet.train(
        "tabular", str(mixed_csv), target="label", epochs=1, onehot_max=10, quiet=True, out="run"
    )


def test_torchscript_export_matches_with_embedded_categories(table_run: glassnet.api.Run) -> None:
    assert table_run.task.encoder.cardinalities  # the net really embeds a column
    result = table_run.export("torchscript")
    assert result.model.name == "model.pt"
    assert result.max_abs_diff <= 1e-4 and result.checked > 50


def test_a_mismatch_fails_loudly_and_keeps_nothing(
    table_run: glassnet.api.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_runner = formats.Onnx.runner

    def off_by_a_little(self: formats.Onnx, path: Path):  # type: ignore[no-untyped-def]
        run = real_runner(self, path)
        return lambda feeds: [out + 1e-3 for out in run(feeds)]

    monkeypatch.setattr(formats.Onnx, "runner", off_by_a_little)
    with pytest.raises(ExportError, match=r"differs from eager PyTorch by up to 0\.001"):
        table_run.export("onnx")
    export_dir = table_run.path / "export"
    assert not export_dir.exists() or not any(export_dir.iterdir())


def test_unknown_format_suggests_the_closest(table_run: glassnet.api.Run) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'onnx'"):
        table_run.export("onx")


def test_run_on_in_memory_data_needs_inputs_to_check(workdir: Path) -> None:
    frame = mixed_frame()
    run = glassnet.train("tabular", frame, target="label", epochs=1, quiet=True, out="run")
    with pytest.raises(ExportError, match="--data"):
        run.export("onnx")
    assert run.export("onnx", data=frame.drop(columns="label")).checked == 256


def test_refuses_a_folder_that_is_not_an_export_and_replaces_an_old_export(
    table_run: glassnet.api.Run, workdir: Path
) -> None:
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RunError, match="not an earlier export"):
        table_run.export("onnx", out=workdir / "mine")
    assert (workdir / "mine" / "notes.txt").read_text() == "keep me"
    first = table_run.export("onnx", out=workdir / "exp")
    (first.folder / "stale.txt").write_text("from before")
    second = table_run.export("onnx", out=workdir / "exp")
    assert not (second.folder / "stale.txt").exists()
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []


def test_a_task_that_cannot_export_says_why(
    table_run: glassnet.api.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_run.task, "cannot_export", "its decoder loops in Python")
    with pytest.raises(ExportError, match="tabular models cannot be exported: its decoder"):
        table_run.export("onnx")


def test_cli_export(table_run: glassnet.api.Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "run", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "onnx" and doc["max_abs_diff"] <= 1e-4
    assert main(["export", "run", "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "parity: largest |torchscript - pytorch|" in out and "README.md" in out
    assert main(["export", "nowhere"]) == 2
