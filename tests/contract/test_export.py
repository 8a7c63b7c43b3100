"""Every registered task exports to ONNX (or says in one line why it cannot); the exported
file matches eager PyTorch, and the plain-Python program in the export README, run in a
separate interpreter without glassnet's help, answers what `Run.predict` answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import glassnet
from glassnet.tasks import list_tasks
from glassnet.tasks.sources import resolve
from tests.contract.test_tasks import needs, task_data


def _raw_inputs(name: str, data: str, tmp: Path) -> tuple[list[str], Any]:
    """(command-line arguments for the README program, the same inputs for Run.predict)."""
    path, _ = resolve(data)
    assert path is not None
    if name == "tabular":
        frame = pd.read_csv(path).head(6)
        rows = frame.drop(columns=[frame.columns[-1]])
        rows.to_csv(tmp / "rows.csv", index=False)  # the program reads CSV (and JSON)
        return [str(tmp / "rows.csv")], rows.to_dict("records")
    if name in ("images", "detection", "faces"):
        files = sorted(str(p) for p in path.rglob("*") if p.suffix in (".png", ".jpg"))[:4]
        return files, files
    if name == "forecasting":
        return [str(path)], str(path)
    if name == "sequences":  # japanese-vowels: the first three test utterances, long format
        frame = pd.read_csv(path / "test.csv")
        frame = frame[frame["id"].isin(frame["id"].unique()[:3])].drop(columns="speaker")
        frame.to_csv(tmp / "three.csv", index=False)
        return [str(tmp / "three.csv")], str(tmp / "three.csv")
    if name == "translation":
        texts = ["forty-two", "seventy-one thousand, four hundred and five", "nine"]
        return texts, texts
    if name == "speech":
        clips = sorted(str(p) for p in (path / "test").glob("*.flac"))[:3]
        return clips, clips
    raise AssertionError(f"add raw inputs for task '{name}' to this test")


def _readme_program(folder: Path) -> str:
    text = (folder / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the README shows one program"
    return blocks[0]


def _run_program(folder: Path, code: str, args: list[str]) -> Any:
    """The README's program is predict.py; it runs from any folder (here: the run's
    parent), finding the model beside itself."""
    script = (folder / "predict.py").resolve()
    assert script.read_text(encoding="utf-8") == code
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=folder.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _assert_same_answers(name: str, answer: Any, predicted: pd.DataFrame) -> None:
    if name in ("tabular", "images", "sequences"):
        assert [a["label"] for a in answer] == list(predicted["label"])
        for a, (_, row) in zip(answer, predicted.iterrows(), strict=True):
            for label, p in a["probabilities"].items():
                assert p == pytest.approx(row[f"probability_{label}"], abs=1e-5)
    elif name == "translation":
        assert [a["translation"] for a in answer] == list(predicted["translation"])
        np.testing.assert_allclose([a["logprob"] for a in answer], predicted["logprob"], atol=1e-4)
    elif name == "detection":  # one row per detection above the threshold
        rows = [
            (a["source"], d["label"], d["score"], *d["box"])
            for a in answer
            for d in a["detections"]
        ]
        assert [r[:2] for r in rows] == list(
            zip(predicted["source"], predicted["label"], strict=True)
        )
        got = np.array([r[2:] for r in rows], dtype=float).reshape(-1, 5)
        expected = predicted[["score", "x0", "y0", "x1", "y1"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, atol=0.11)  # both round boxes to 0.1 px
    elif name == "speech":
        assert [a["transcript"] for a in answer] == list(predicted["transcript"])
    elif name == "faces":
        got = np.array([a["embedding"] for a in answer])
        expected = np.array([list(e) for e in predicted["embedding"]])
        np.testing.assert_allclose(got, expected, atol=1e-4)
    elif name == "forecasting":
        for column, values in answer.items():
            np.testing.assert_allclose(values, predicted[column].to_numpy(), atol=1e-3)
    else:
        raise AssertionError(f"add a comparison for task '{name}'")


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_export_matches_eager_and_readme_program_runs(name: str, workdir: Path) -> None:
    needs(name)
    data, opts = task_data(name)
    run = glassnet.train(name, data, epochs=1, quiet=True, out="run", **opts)
    if run.task.cannot_export:
        with pytest.raises(glassnet.errors.ExportError, match=re.escape(run.task.cannot_export)):
            run.export("onnx")
        return
    result = run.export("onnx")
    assert result.max_abs_diff <= 1e-4
    assert result.checked >= 3
    folder = result.folder
    assert {p.name for p in folder.iterdir()} == {
        "model.onnx",
        "preprocess.json",
        "README.md",
        "predict.py",
        "export.json",
    }
    facts = json.loads((folder / "export.json").read_text())
    assert all(i["shape"][0] == "batch" for i in facts["inputs"].values())

    args, inputs = _raw_inputs(name, data, workdir)
    answer = _run_program(folder, _readme_program(folder), args)
    _assert_same_answers(name, answer, run.predict(inputs))
