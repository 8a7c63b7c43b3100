"""Every registered task: two optimiser steps lower the loss on a tiny batch; a reloaded run
predicts exactly what the trained one did."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

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
}


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_every_task_has_contract_data(name: str) -> None:
    assert name in TASK_DATA, "add the task to TASK_DATA"


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_two_steps_lower_the_loss(name: str) -> None:
    data, opts = TASK_DATA[name]
    spec = build_spec(name, {"data": data, **opts})
    task = get_task_class(name)(spec.data)
    splits = task.load_data()
    torch.manual_seed(0)
    net = task.build_net(spec.net)
    net.eval()  # no dropout noise: the same batch, measured before and after
    batch = {k: v[:32] for k, v in splits.train.items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    before = task.step(net, batch).loss.item()
    for _ in range(2):
        opt.zero_grad()
        task.step(net, batch).loss.backward()
        opt.step()
    assert task.step(net, batch).loss.item() < before


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_reload_gives_identical_predictions(name: str, workdir: Path) -> None:
    data, opts = TASK_DATA[name]
    run = glassnet.train(name, data, epochs=2, quiet=True, out="run", **opts)
    first = run.predict(data)
    again = glassnet.load("run").predict(data)
    pd.testing.assert_frame_equal(first, again)
