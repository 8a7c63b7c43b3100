"""Explain: every family's views render; attributions match input shapes; Integrated
Gradients is complete; the report is one valid HTML page with every image embedded."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.explain.views import views_for
from glassnet.nets import list_nets


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.sections = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])
        if tag == "section":
            self.sections += 1


@pytest.mark.parametrize("family", sorted({e.family for e in list_nets()}))
def test_every_family_has_views(family: str) -> None:
    assert views_for(family, "model") or views_for(family, "input")


def test_ann_views_and_integrated_gradients_completeness(workdir: Path) -> None:
    run = glassnet.train("tabular", "builtin:wine", epochs=5, quiet=True, out="r")
    result = run.explain("builtin:wine")
    names = [v.name for v in result.views]
    assert names == ["ann-weights", "ann-attributions", "ann-decision-regions", "ann-network"]
    drawn = result.views[3].arrays
    assert drawn["layer0"].shape == (13,) and drawn["layer3"].shape == (3,)  # wine: 13 -> 3
    regions = result.views[2].arrays
    assert regions["projection"].shape == (178, 2) and regions["regions"].shape == (150, 150)
    attr = result.views[1]
    assert attr.arrays["attributions"].shape == (len(run.task.encoder.feature_names),)
    assert attr.checks["completeness_gap"] < 0.01  # sum(attr) ~= f(x) - f(baseline)
    parser = _Images()
    parser.feed(result.report.read_text())
    assert parser.sections == 4 and len(parser.srcs) == 4
    assert all(s.startswith("data:image/png;base64,") for s in parser.srcs)


def test_cnn_views_shapes(workdir: Path) -> None:
    run = glassnet.train("images", "builtin:faces-vs-background", epochs=1, quiet=True, out="r")
    face = sorted(
        Path(glassnet.tasks.sources.cache_dir(), "faces-vs-background", "face").glob("*.png")
    )[0]
    views = {v.name: v for v in run.explain([str(face)]).views}
    assert set(views) == {
        "cnn-filters",
        "cnn-filter-evolution",
        "cnn-feature-map-evolution",
        "cnn-top-patches",
        "cnn-feature-maps",
        "cnn-where-it-looked",
    }
    patches = views["cnn-top-patches"].arrays
    assert len(patches) == 6 and all(p.shape[0] == 6 for p in patches.values())
    size = run.task.state()["image_size"]
    assert views["cnn-where-it-looked"].arrays["gradcam"].shape == (size, size)
    assert views["cnn-where-it-looked"].arrays["saliency"].shape == (size, size)
    assert views["cnn-filters"].arrays["filters"].shape[1:] == (1, 3, 3)
    assert all(v.png is not None and v.png.is_file() for v in views.values())


def test_rnn_memory_view_from_the_transparent_loop(workdir: Path) -> None:
    run = glassnet.train("forecasting", "builtin:sunspots", epochs=2, quiet=True, out="r")
    views = {v.name: v for v in run.explain().views}  # a forecaster explains its latest window
    view = views["rnn-memory"]
    look = run.task.state()["lookback"]
    steps = views["rnn-step-attribution"].arrays
    assert steps["per_step"].shape == (look,)
    assert steps["attributions"].shape == (look + run.task.state()["horizon"], 1)
    assert view.arrays["hidden"].shape == (look, 64)
    assert {"gate_input", "gate_forget", "gate_output", "cell"} <= set(view.arrays)
    assert np.all((view.arrays["gate_forget"] >= 0) & (view.arrays["gate_forget"] <= 1))
    assert run.net.transparent is False  # switched back after explaining


def test_sanity_check_passes_for_real_views_and_fails_for_a_broken_one(workdir: Path) -> None:
    import torch

    from glassnet.explain.sanity import randomisation_check

    run = glassnet.train("images", "builtin:faces-vs-background", epochs=3, quiet=True, out="r")
    face = sorted(
        Path(glassnet.tasks.sources.cache_dir(), "faces-vs-background", "face").glob("*.png")
    )[0]
    views = {v.name: v for v in run.explain([str(face)]).views}
    assert views["cnn-where-it-looked"].checks["trustworthy"] is True
    tab = glassnet.train("tabular", "builtin:breast-cancer", epochs=5, quiet=True, out="t")
    ig = {v.name: v for v in tab.explain("builtin:breast-cancer").views}["ann-attributions"]
    assert ig.checks["trustworthy"] is True

    # A deliberately broken "explanation": edges of the input image, whatever the weights.
    x = run.task.net_inputs(run.net, run.task.encode([str(face)], with_targets=False).batch)[0]

    def edges(model: torch.nn.Module) -> torch.Tensor:
        return (x[0, 0, 1:, :] - x[0, 0, :-1, :]).abs().detach().numpy()

    broken = randomisation_check(edges, run.net)
    assert broken["trustworthy"] is False and broken["rank_correlation_with_random_net"] > 0.99
    html = (Path("r") / "report" / "index.html").read_text()
    assert "rank_correlation_with_random_net" in html


def test_first_layer_snapshots_every_epoch_and_resume(workdir: Path) -> None:
    from safetensors.torch import load_file

    from tests.engine.test_resume import StopAt

    run = glassnet.train(
        "images",
        "builtin:faces-vs-background",
        epochs=3,
        quiet=True,
        out="r",
        callbacks=[StopAt(9)],
    )  # stops inside epoch 2
    glassnet.train("images", resume="r", quiet=True)
    snaps = load_file("r/snapshots/learning.safetensors")
    assert sorted(k for k in snaps if k.startswith("weights_")) == [
        f"weights_epoch_{e}" for e in range(4)
    ]
    assert not bool((snaps["weights_epoch_0"] == snaps["weights_epoch_3"]).all())
    assert {f"stage{s}_epoch_{e}" for s in (1, 2, 3) for e in range(4)} <= set(snaps)
    views = {v.name: v for v in glassnet.load("r").explain().views}
    assert {"cnn-filter-evolution", "cnn-feature-map-evolution"} <= set(views)
    assert run.path.name == "r"
