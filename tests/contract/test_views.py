"""Every registered net: a one-epoch run on built-in data, explained with an input, renders
every view of its family with a PNG and finite numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.nets import list_nets

FAMILY_RUNS = {
    "mlp": ("tabular", "builtin:iris", lambda: "builtin:iris"),
    "cnn": (
        "images",
        "builtin:faces-vs-background",
        lambda: [
            str(
                sorted(
                    Path(glassnet.tasks.sources.cache_dir(), "faces-vs-background", "face").glob(
                        "*.png"
                    )
                )[0]
            )
        ],
    ),
    "rnn": ("forecasting", "builtin:sunspots", lambda: None),
    "seq": ("sequences", "builtin:toy-reviews", lambda: "the screen is not good"),
    "seq2seq": ("translation", "builtin:numbers-en-fr", lambda: ["forty-two", "nine"]),
    "det": (
        "detection",
        "builtin:scenes",
        lambda: [str(sorted(Path(glassnet.tasks.sources.cache_dir(), "scenes").rglob("*.png"))[0])],
    ),
    "asr": (
        "speech",
        "builtin:spoken-digits",
        lambda: [
            str(
                sorted(Path(glassnet.tasks.sources.cache_dir(), "spoken-digits").rglob("*.flac"))[0]
            )
        ],
    ),
}
OPTIONS = {  # one quick epoch is enough here
    "det": {"image_size": 64, "widths": (16, 32)},
    "asr": {"hidden": 32, "conv": 8, "layers": 1},
}
NET_OPTIONS = {"det.fcos": {"widths": (16, 32, 64)}}  # a pyramid over three stages


@pytest.mark.parametrize("name", [e.name for e in list_nets()])
def test_every_net_explains(name: str, workdir: Path) -> None:
    from tests.contract.test_tasks import needs

    family = name.split(".")[0]
    task, data, inputs = FAMILY_RUNS[family]
    needs(task)
    options = {**OPTIONS.get(family, {}), **NET_OPTIONS.get(name, {})}
    run = glassnet.train(task, data, net=name, epochs=1, quiet=True, out="r", **options)
    result = run.explain(inputs(), sanity="weights")  # views render; the twin is tested apart
    assert result.views and result.report.is_file()
    for view in result.views:
        assert view.png is not None and view.png.stat().st_size > 1000, view.name
        assert view.how_to_read.count(".") >= 2, view.name  # two or three sentences
        for key, arr in view.arrays.items():
            if np.asarray(arr).dtype.kind in "US":  # axis labels (tokens) beside the numbers
                assert len(np.asarray(arr)) > 0, (view.name, key)
                continue
            assert np.isfinite(np.asarray(arr, dtype=float)).all(), (view.name, key)
