"""The sanity check tells nets that learned from nets that did not, in every family: for a
trained net, an untrained one (learning rate ~0) and one trained on shuffled answers, on the
same data, the trained net's maps pass on most inputs and the other two fail on most.

Measured (12 inputs each, trained / untrained / shuffled): MLP Integrated Gradients on
breast-cancer 95 / 0 / 0 %, text IG on toy-reviews 100 / 0 / 0 %, CNN Grad-CAM on
cartoon-pets 83 / 0 / 0 % (its saliency 83 / 0 / 0 %), translation attention on numbers
92 / 0 / 0 %, forecast IG per step on airline 90 / 0 / 0 %. Each check includes the
data-randomisation twin."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import glassnet
from glassnet.api import _prepare_twin
from glassnet.data.builtin import get_dataset
from glassnet.explain.figures import close_figures


def _rates(
    runs: dict[str, Any], view: Callable, inputs: list[Any], part: str = ""
) -> dict[str, float]:
    """Share of maps that pass, per net; `part` names a map checked inside a view's checks
    (the saliency beside Grad-CAM)."""
    rates = {}
    for name, run in runs.items():
        _prepare_twin(run, "full", None)
        passed = []
        for one in inputs:
            views = view(run, run.task.encode(one, with_targets=False))
            for v in views:
                checks = v.checks.get(part, v.checks) if part else v.checks
                if "trustworthy" in checks:
                    passed.append(checks["trustworthy"])
            close_figures(views)
        rates[name] = float(np.mean(passed))
    return rates


def _shuffled(frame: pd.DataFrame, column: Any) -> pd.DataFrame:
    out = frame.copy()
    out[column] = np.random.default_rng(0).permutation(out[column].to_numpy())
    return out


def _assert_tells_apart(rates: dict[str, float], trained: float = 0.8) -> None:
    assert rates["trained"] >= trained, rates
    assert rates["untrained"] <= 0.2 and rates["shuffled"] <= 0.2, rates


def test_mlp_attributions(workdir: Path) -> None:
    from glassnet.explain.ann_views import integrated_gradients

    ds = get_dataset("breast-cancer")
    frame = pd.read_csv(ds.make(Path("data")))
    target = ds.defaults["target"]
    runs = {
        "trained": glassnet.train("tabular", frame, target=target, quiet=True, out="t"),
        "untrained": glassnet.train(
            "tabular", frame, target=target, lr=1e-12, epochs=1, quiet=True, out="u"
        ),
        "shuffled": glassnet.train(
            "tabular", _shuffled(frame, target), target=target, quiet=True, out="s"
        ),
    }
    rows = frame.drop(columns=[target]).sample(12, random_state=1)
    rates = _rates(runs, integrated_gradients, [rows.iloc[[i]] for i in range(len(rows))])
    _assert_tells_apart(rates)
    checks = integrated_gradients(
        runs["trained"], runs["trained"].task.encode(rows.iloc[[0]], with_targets=False)
    )[0].checks
    assert "similarity_to_shuffled_label_net" in checks, checks


@pytest.mark.slow
def test_text_attributions(workdir: Path) -> None:
    from glassnet.explain.seq_views import token_attribution

    ds = get_dataset("toy-reviews")
    frame = pd.read_csv(ds.make(Path("data")))
    d = ds.defaults
    runs = {
        "trained": glassnet.train("sequences", frame, quiet=True, out="t", **d),
        "untrained": glassnet.train(
            "sequences", frame, lr=1e-12, epochs=1, quiet=True, out="u", **d
        ),
        "shuffled": glassnet.train(
            "sequences", _shuffled(frame, d["target"]), quiet=True, out="s", **d
        ),
    }
    rows = frame.drop(columns=[d["target"]]).sample(10, random_state=1)
    _assert_tells_apart(_rates(runs, token_attribution, [rows.iloc[[i]] for i in range(10)]))


@pytest.mark.slow
def test_cnn_gradcam(workdir: Path) -> None:
    from glassnet.explain.cnn_views import feature_maps_and_gradcam

    root = Path(get_dataset("cartoon-pets").make(Path("pets")))
    files = sorted(root.rglob("*.png"))
    labels = np.random.default_rng(0).permutation([f.parent.name for f in files])
    for f, label in zip(files, labels, strict=True):  # the same pictures, answers shuffled
        (Path("shuffled") / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, Path("shuffled") / label / f"{f.parent.name}-{f.name}")
    runs = {
        "trained": glassnet.train("images", str(root), quiet=True, out="t"),
        "untrained": glassnet.train("images", str(root), lr=1e-12, epochs=1, quiet=True, out="u"),
        "shuffled": glassnet.train("images", "shuffled", quiet=True, out="s"),
    }
    probes = [[str(files[i])] for i in np.random.default_rng(1).choice(len(files), 10, False)]

    def where(run: Any, encoded: Any) -> list[Any]:
        views = feature_maps_and_gradcam(run, encoded)
        return [v for v in views if v.name == "cnn-where-it-looked"]

    _assert_tells_apart(_rates(runs, where, probes))
    _assert_tells_apart(_rates(runs, where, probes, part="saliency"))


@pytest.mark.slow
def test_translation_attention(workdir: Path) -> None:
    from glassnet.explain.seq_views import attention_matrix

    path = get_dataset("numbers-en-fr").make(Path("numbers"))
    frame = pd.read_csv(path, sep="\t", header=None, quoting=3).sample(4000, random_state=0)
    frame.to_csv("pairs.tsv", sep="\t", header=False, index=False, quoting=3)
    _shuffled(frame, 1).to_csv("shuffled.tsv", sep="\t", header=False, index=False, quoting=3)
    runs = {
        "trained": glassnet.train("translation", "pairs.tsv", epochs=20, quiet=True, out="t"),
        "untrained": glassnet.train(
            "translation", "pairs.tsv", lr=1e-12, epochs=1, quiet=True, out="u"
        ),
        "shuffled": glassnet.train("translation", "shuffled.tsv", epochs=20, quiet=True, out="s"),
    }
    texts = frame[0].sample(12, random_state=1).tolist()
    _assert_tells_apart(_rates(runs, attention_matrix, [texts[i : i + 3] for i in (0, 3, 6, 9)]))


def _shuffled_answer_run(run: Any, out: str) -> Any:
    """The run's net trained as long as the run, on the same inputs with the answers
    shuffled among them (for a forecaster: each window's future given to another window;
    shuffling the series itself would leave it something true to learn, its mean)."""
    from glassnet.api import Run
    from glassnet.engine.inference import run_outputs
    from glassnet.errors import GlassnetError
    from glassnet.explain.shuffled_twin import trained_on_shuffled_answers
    from glassnet.tasks import redraw_splits

    splits = redraw_splits(run.spec, "shuffle", GlassnetError, "", run.task.objects)
    net, _ = trained_on_shuffled_answers(run, splits, run.metrics["epochs_run"], seed=11)
    scored = run_outputs(run.task, net, splits.val, device=run.device)
    metrics = {"val": run.task.score(scored.outputs, scored.batch)}
    Path(out).mkdir()
    return Run(Path(out), run.spec, run.task, net, run.device, metrics)


@pytest.mark.slow
def test_forecast_attributions(workdir: Path) -> None:
    from glassnet.explain.rnn_views import step_attribution

    ds = get_dataset("airline")
    frame = pd.read_csv(ds.make(Path("data")))
    d = ds.defaults
    trained = glassnet.train("forecasting", frame, quiet=True, out="t", **d)
    runs = {
        "trained": trained,
        "untrained": glassnet.train(
            "forecasting", frame, lr=1e-12, epochs=1, quiet=True, out="u", **d
        ),
        "shuffled": _shuffled_answer_run(trained, "s"),
    }
    ends = np.linspace(len(frame) - 40, len(frame), 10).astype(int)
    _assert_tells_apart(_rates(runs, step_attribution, [frame.iloc[:e] for e in ends]))
