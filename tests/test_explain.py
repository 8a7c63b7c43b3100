"""Explain: every family's views render; attributions match input shapes; Integrated
Gradients is complete; the report is one valid HTML page with every image embedded."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

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
    # the model, the inputs together, then every input on its own (the first 16 of 178)
    assert names[:2] == ["ann-weights", "ann-decision-regions"]
    assert names[2:] == [f"ann-{k}-{i}" for i in range(1, 17) for k in ("attributions", "network")]
    assert "explained the first 16 of 178 inputs one by one" in run.notes
    drawn = result.views[3].arrays
    assert drawn["layer0"].shape == (13,) and drawn["layer3"].shape == (3,)  # wine: 13 -> 3
    regions = result.views[1].arrays
    assert regions["projection"].shape == (178, 2) and regions["regions"].shape == (150, 150)
    for i in (2, 4):  # two different rows, two different explanations
        attr = result.views[i]
        assert attr.arrays["attributions"].shape == (len(run.task.encoder.feature_names),)
        assert attr.checks["completeness_gap"] < 0.01  # sum(attr) ~= f(x) - f(baseline)
    assert not np.allclose(
        result.views[2].arrays["attributions"], result.views[4].arrays["attributions"]
    )
    parser = _Images()
    page = result.report.read_text()
    parser.feed(page)
    assert parser.sections == 34 and len(parser.srcs) == 34
    assert page.count("<h1 class='part'>Input: ") == 16
    assert all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    again = run.explain([{c: 1.0 for c in run.task.encoder.input_columns}], each=1)
    assert result.earlier is None and again.earlier == Path("r/report/earlier/index-1.html")
    assert again.earlier.read_text() == page  # the first page is kept whole, pictures inside


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
    size = run.task.state()["image_size"]
    assert patches["pictures"].shape == (6, 6) and patches["boxes"].shape == (6, 6, 4)
    rows = zip(patches["pictures"], patches["boxes"], patches["field_size"], strict=True)
    for row, box, field in rows:
        assert len(set(row.tolist())) == len(row)  # each picture once per channel
        height, width = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
        # the crop is the peak cell's receptive field, clipped to the picture
        assert (box >= 0).all() and (box[:, [1, 3]] <= size).all()
        assert (height <= field + 1).all() and (height >= min(field, size) / 2).all()
        assert (width <= field + 1).all()
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
    checks = views["cnn-where-it-looked"].checks
    assert checks["trustworthy"] is True, checks
    assert checks["verdict"].startswith("passes") and "accuracy" in checks["model_skill"]
    assert set(checks["similarity_to_random_nets"]) == {"top layer", "top half", "all layers"}

    # A deliberately weight-independent "explanation": edges of the input, whatever the net.
    x = run.task.net_inputs(run.net, run.task.encode([str(face)], with_targets=False).batch)[0]

    def edges(model: torch.nn.Module) -> torch.Tensor:
        return (x[0, 0, 1:, :] - x[0, 0, :-1, :]).abs().detach().numpy()

    broken = randomisation_check(edges, run)
    assert broken["trustworthy"] is False and "hardly changes" in broken["verdict"]
    assert broken["similarity_to_random_nets"]["all layers"] > 0.99
    html = (Path("r") / "report" / "index.html").read_text()
    assert "similarity_to_random_nets" in html and "verdict: passes" in html


def test_flat_maps_are_uninformative_never_identical() -> None:
    from glassnet.explain.sanity import similarity

    rng = np.random.default_rng(0)
    real = rng.random((16, 16))
    assert similarity(np.zeros((16, 16)), real) is None  # the map checked is flat
    assert similarity(real, np.zeros((16, 16))) == 0.0  # a random net's flat map: unlike it
    assert similarity(real, real) == 1.0


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
    # The title's claim follows the measurement: after 3 short epochs the filters still
    # correlate > 0.8 with their start, and the view must say so, not "from noise to edges".
    start, end = snaps["weights_epoch_0"].numpy(), snaps["weights_epoch_3"].numpy()
    still = np.corrcoef(start.ravel(), end.ravel())[0, 1]
    title = views["cnn-filter-evolution"].title
    assert ("mostly their random start" in title) == (still > 0.8), (title, still)
    assert f"{still:.2f}" in views["cnn-filter-evolution"].how_to_read


def test_memory_view_puts_the_unit_that_tracks_the_input_on_top() -> None:
    """A small unit that follows the season exactly must not hide under a saturated one."""
    from glassnet.explain.rnn_views import _units_by_tracking

    t = np.arange(36)
    season = np.sin(2 * np.pi * t / 12)
    rng = np.random.default_rng(0)
    hidden = np.stack(
        [np.sign(rng.normal(size=36)) * 0.95, rng.normal(0, 0.3, 36), 0.01 * season], 1
    )
    assert _units_by_tracking(hidden, season)[0] == 2


def _quadrant_images(folder: Path, n: int = 320, size: int = 32, seed: int = 0) -> None:
    """Class 'h' / 'v': a horizontal / vertical bar in the top-left quadrant; every other
    quadrant holds a bar of a random orientation (a distractor that says nothing)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    half = size // 2
    for i in range(n):
        label = "hv"[i % 2]
        img = rng.uniform(0, 0.25, (size, size))
        for q, (r0, c0) in enumerate([(0, 0), (0, half), (half, 0), (half, half)]):
            kind = label if q == 0 else "hv"[int(rng.integers(2))]
            at = int(rng.integers(4, half - 4))
            if kind == "h":
                img[r0 + at : r0 + at + 2, c0 + 3 : c0 + half - 3] = 1.0
            else:
                img[r0 + 3 : r0 + half - 3, c0 + at : c0 + at + 2] = 1.0
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / label / f"{i}.png")


def test_gradcam_finds_the_only_quadrant_that_decides(workdir: Path) -> None:
    """Known structure: only the top-left quadrant tells the classes apart, so a trained net's
    Grad-CAM must put more of its mass there than anywhere else (uniform: 25 % each)."""
    from glassnet.explain.cnn_views import feature_maps_and_gradcam
    from glassnet.explain.figures import close_figures

    _quadrant_images(Path("quad"))
    # no flips or crops: they would move the deciding quadrant
    run = glassnet.train("images", "quad", epochs=12, augment="off", quiet=True, out="q", seed=0)
    assert run.metrics["test"]["accuracy"] >= 0.9, run.metrics["test"]
    probes = Path("probe")
    _quadrant_images(probes, n=12, seed=1)
    shares, passed = [], []
    for png in sorted(probes.rglob("*.png")):
        views = feature_maps_and_gradcam(run, run.task.encode([str(png)], with_targets=False))
        where = next(v for v in views if v.name == "cnn-where-it-looked")
        cam = where.arrays["gradcam"]
        h = cam.shape[0] // 2
        quads = [cam[:h, :h].sum(), cam[:h, h:].sum(), cam[h:, :h].sum(), cam[h:, h:].sum()]
        shares.append(np.array(quads) / max(cam.sum(), 1e-12))
        passed.append(where.checks["trustworthy"])
        close_figures(views)
    mean = np.mean(shares, 0)  # top-left, top-right, bottom-left, bottom-right
    # The last stage's map is coarse (4x4 here, upsampled), so mass bleeds over the borders:
    # the deciding quadrant must still hold clearly more than its uniform 25 % and more than
    # any distractor quadrant.
    assert mean[0] > 0.35 and mean[0] == mean.max(), mean
    assert np.mean(passed) >= 0.8, passed


def test_forecast_attribution_finds_the_lag_the_series_depends_on(workdir: Path) -> None:
    """Known structure: y[t] = -0.9 y[t-5] + noise. With --season 1 the net starts from the
    last value or the window mean, not from the answer; after training, every forecast
    step's attribution must peak at lag 5."""
    import pandas as pd

    from glassnet.explain.figures import close_figures
    from glassnet.explain.rnn_views import step_attribution

    rng = np.random.default_rng(0)
    y = np.zeros(420)
    y[:5] = rng.normal(0, 1, 5)
    for t in range(5, 420):
        y[t] = -0.9 * y[t - 5] + rng.normal(0, 0.3)
    frame = pd.DataFrame({"step": np.arange(420), "y": y + 10})
    run = glassnet.train(
        "forecasting",
        frame,
        time="step",
        target="y",
        horizon=5,
        season=1,
        lookback=15,
        quiet=True,
        out="lag",
    )
    assert run.task.state()["start_lag"] in (0, 1)  # the start is not the answer
    # One window's attribution also carries that window's values (IG starts from the window
    # mean): the reliance shows in the average over windows.
    total, passed = 0.0, []
    for end in range(300, 420, 12):
        views = step_attribution(run, run.task.encode(frame.iloc[:end], with_targets=False))
        total = total + np.abs(views[0].arrays["per_horizon"])  # (horizon, lookback)
        passed.append(views[0].checks["trustworthy"])
        close_figures(views)
    look = total.shape[1]
    peaks = total.argmax(1)
    assert (peaks == [look - 5 + h for h in range(5)]).all(), peaks
    assert np.mean(passed) >= 0.8, passed


def test_permuted_answers_keep_inputs_and_break_pairs() -> None:
    import torch

    from glassnet.data.splits import RowsOf, TensorSplit, permute_answers

    split = TensorSplit({"x": torch.arange(20.0)[:, None], "y": torch.arange(20)})
    for given in (split, RowsOf(split)):
        shuffled = permute_answers(given, ("y",), seed=0)
        rows = shuffled.take(list(range(20)))
        assert torch.equal(rows["x"], split.batch["x"])  # inputs untouched, in order
        assert sorted(rows["y"].tolist()) == list(range(20))  # the same answers ...
        assert (rows["y"] != split.batch["y"]).sum() >= 15  # ... given to other inputs


def test_shuffled_twin_is_trained_once_kept_and_renewed_with_the_weights(workdir: Path) -> None:
    from glassnet.explain.shuffled_twin import load_twin, twin_path

    run = glassnet.train("tabular", "builtin:iris", epochs=8, quiet=True, out="r")
    heard: list[str] = []
    first = run.explain(
        [
            {
                "sepal length (cm)": 5.0,
                "sepal width (cm)": 3.4,
                "petal length (cm)": 1.5,
                "petal width (cm)": 0.2,
            }
        ],
        notify=heard.append,
    )
    assert any("shuffled answers" in h for h in heard), heard
    checks = next(v.checks for v in first.views if "verdict" in v.checks)
    assert "similarity_to_shuffled_label_net" in checks
    assert "shuffled answers" in checks["shuffled_label_net"]
    made = twin_path(run).stat().st_mtime_ns
    again = glassnet.load("r")  # a fresh process reads the kept twin, trains nothing
    heard.clear()
    again.explain("builtin:iris", each=1, notify=heard.append)
    assert heard == [] and twin_path(run).stat().st_mtime_ns == made
    twin, _ = load_twin(again)
    assert twin is not None
    # other weights (a resumed or retrained run): the kept twin is not theirs
    (Path("r") / "model.safetensors").write_bytes(b"changed")
    assert load_twin(again)[0] is None


def test_a_map_the_shuffled_twin_shares_fails() -> None:
    """Verdict logic: a map unlike random nets' but like the shuffled-answer twin's fails."""
    from types import SimpleNamespace

    import torch

    from glassnet.explain.sanity import randomisation_check

    net, twin = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    rng = np.random.default_rng(0)
    shared = rng.random((8, 8))
    run = SimpleNamespace(
        net=net, metrics={}, shuffled_twin=(twin, "a copy trained on shuffled answers")
    )

    def attribute(model: torch.nn.Module) -> np.ndarray:
        return shared if model is net or model is twin else rng.random((8, 8))

    checks = randomisation_check(attribute, run)
    assert checks["trustworthy"] is False and "shuffled answers" in checks["verdict"], checks
    assert checks["similarity_to_shuffled_label_net"] == 1.0
    run.shuffled_twin = None  # without the twin the same map passes on weights alone
    assert randomisation_check(attribute, run)["trustworthy"] is True


def test_filter_kinds_on_known_filters() -> None:
    from glassnet.explain.cnn_views import filter_kinds

    rng = np.random.default_rng(0)
    assert filter_kinds(rng.normal(size=(50, 3, 5, 5))).count("noise-like") >= 48
    ramp = np.tile(np.linspace(-1, 1, 5), (5, 1))  # brightness rising left to right
    edge = np.stack([ramp, ramp, ramp])[None]
    blob = np.ones((1, 3, 5, 5)) * np.array([1.0, -0.5, 0.2])[None, :, None, None]
    assert filter_kinds(edge) == ["edge"] and filter_kinds(edge.transpose(0, 1, 3, 2)) == ["edge"]
    assert filter_kinds(blob) == ["colour blob"]
    assert filter_kinds(rng.normal(size=(4, 3, 3, 3))) is None  # 3x3: no room to tell


@pytest.mark.slow  # the tour's own settings: about 80 s on 2 cores
def test_the_tours_first_layer_learns_edges_and_blobs(workdir: Path) -> None:
    """The tour's CNN settings (5x5 first filters from a small start) move the filters from
    noise to edges and colour blobs in its 6 epochs, and the views say what was measured
    (measured: 16 noise-like at the start; 6 edges, 7 colour blobs, 3 noise-like after)."""
    from safetensors.torch import load_file

    from glassnet.data.builtin import get_dataset
    from glassnet.explain.cnn_views import filter_kinds

    pets = get_dataset("cartoon-pets").make(Path("pets"), n=1200, size=64)
    run = glassnet.train(
        "images",
        str(pets),
        epochs=6,
        widths=(16, 32, 64),
        first_kernel=5,
        first_init=0.2,
        quiet=True,
        out="r",
    )
    snaps = load_file("r/snapshots/learning.safetensors")
    start = filter_kinds(snaps["weights_epoch_0"].numpy())
    end = filter_kinds(snaps["weights_epoch_6"].numpy())
    assert run.metrics["test"]["accuracy"] >= 0.9, run.metrics["test"]
    assert start.count("noise-like") >= 14, start
    assert end.count("noise-like") <= 8 and end.count("edge") + end.count("colour blob") >= 8, end
    views = {v.name: v for v in run.explain().views}
    title = views["cnn-filters"].title
    for kind in set(end):
        assert f"{end.count(kind)} {kind}" in title, (title, end)
    assert "learned" in views["cnn-filter-evolution"].title


def _one_word_texts(n: int, seed: int) -> Any:
    """Label 'yes' exactly when the text holds the word 'zebra' (once, anywhere)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    filler = [f"w{k}" for k in range(30)]
    rows = []
    for i in range(n):
        words = list(rng.choice(filler, int(rng.integers(6, 11))))
        if i % 2 == 0:
            words[int(rng.integers(len(words)))] = "zebra"
        rows.append({"text": " ".join(words), "label": "yes" if i % 2 == 0 else "no"})
    return pd.DataFrame(rows)


def test_text_views_find_the_one_word_that_decides(workdir: Path) -> None:
    """Known structure: the label is decided by one word. Integrated Gradients puts the
    most on it, and the units that decide fire on it (the unit-contexts view)."""
    from glassnet.explain.figures import close_figures
    from glassnet.explain.seq_views import token_attribution, unit_contexts

    frame = _one_word_texts(800, seed=0)
    run = glassnet.train(
        "sequences", frame, text="text", target="label", epochs=8, quiet=True, out="z"
    )
    assert run.metrics["test"]["accuracy"] >= 0.95, run.metrics["test"]
    probes = _one_word_texts(20, seed=1).iloc[::2]  # texts with the word
    hits = []
    for text in probes["text"]:
        views = token_attribution(run, run.task.encode([text], with_targets=False))
        words = text.split()
        hits.append(words[int(np.argmax(views[0].arrays["per_token"]))] == "zebra")
        close_figures(views)
    assert np.mean(hits) >= 0.9, hits
    view = unit_contexts(run, None)[0]
    peaks = view.arrays["tokens"][:, :, view.arrays["tokens"].shape[2] // 2]  # (units, texts)
    assert (peaks[0] == "zebra").mean() >= 0.75, peaks  # the unit that decides most
    assert (peaks == "zebra").mean() >= 0.5, peaks
    close_figures([view])
