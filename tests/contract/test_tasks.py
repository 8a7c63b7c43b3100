"""Every registered task: two optimiser steps lower the loss on a tiny batch; training reads
the same batches whether its data is held in memory or streamed by loader processes; a
reloaded run predicts exactly what the trained one did."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import glassnet
from glassnet.config import build_spec
from glassnet.tasks import get_task_class, list_tasks

# A small built-in data set for each task, plus its options.
TASK_DATA = {
    "tabular": ("builtin:iris", {}),
    "images": ("builtin:faces-vs-background", {}),
    "forecasting": ("builtin:sunspots", {}),
    "sequences": ("builtin:japanese-vowels", {}),
    "translation": ("builtin:numbers-en-es", {}),
    "detection": ("builtin:scenes", {"image_size": 64, "widths": (16, 32)}),
    "speech": ("builtin:spoken-digits", {"hidden": 32, "conv": 8, "layers": 1}),
    "faces": ("builtin:cartoon-people", {"image_size": 32, "widths": (16, 32)}),
}
# Programs a task's built-in data needs (the tests skip, saying why, where they are missing).
NEEDS = {"speech": "espeak-ng"}


def needs(name: str) -> None:
    import shutil

    program = NEEDS.get(name)
    if program and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (`make test` installs it where apt works)")


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_every_task_has_contract_data(name: str) -> None:
    assert name in TASK_DATA, "add the task to TASK_DATA"


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_two_steps_lower_the_loss(name: str) -> None:
    needs(name)
    data, opts = TASK_DATA[name]
    spec = build_spec(name, {"data": data, **opts})
    task = get_task_class(name)(spec.data)
    splits = task.load_data()
    torch.manual_seed(0)
    net = task.build_net(spec.net)
    net.eval()  # no dropout noise: the same batch, measured before and after
    batch = splits.train.take(range(32))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    before = task.step(net, batch).loss.item()
    for _ in range(2):
        opt.zero_grad()
        task.step(net, batch).loss.backward()
        opt.step()
    assert task.step(net, batch).loss.item() < before


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_reload_gives_identical_predictions(name: str, workdir: Path) -> None:
    needs(name)
    data, opts = TASK_DATA[name]
    run = glassnet.train(name, data, epochs=2, quiet=True, out="run", **opts)
    first = run.predict(data)
    again = glassnet.load("run").predict(data)
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_streamed_training_equals_in_memory(name: str, workdir: Path) -> None:
    """`--stream on` (loader processes, per-sample reading and collation) and `--stream off`
    (the split on the device) train to the same weights: same order, same batches."""
    data, opts = TASK_DATA[name]
    common = dict(epochs=1, quiet=True, deterministic=True, workers=1, **opts)
    mem = glassnet.train(name, data, out="mem", stream="off", **common)
    streamed = glassnet.train(name, data, out="streamed", stream="on", **common)
    assert mem.fit is not None and streamed.fit is not None
    assert mem.fit.samples_seen == streamed.fit.samples_seen > 0
    a, b = load_file("mem/model.safetensors"), load_file("streamed/model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=f"{k} differs")
