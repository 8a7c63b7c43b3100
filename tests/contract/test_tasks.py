"""Every registered task: two optimiser steps lower the loss on a tiny batch; training reads
the same batches whether its data is held in memory or streamed by loader processes; a
reloaded run predicts exactly what the trained one did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import glassnet
from glassnet.config import build_spec
from glassnet.data.splits import TensorSplit
from glassnet.nets import create_net
from glassnet.tasks import Encoded, get_task_class, list_tasks
from glassnet.tasks._base import plain

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
# Built-in sets too large for a contract check, made smaller (same generator, n samples):
# training and predicting 3 000 clips, 2 600 scenes or 4 000 faces proves no more than 240.
SMALLER = {
    "detection": ("glassnet.data.builtin_scenes:make_scenes", {"n": 600, "size": 64}),
    "speech": ("glassnet.data.builtin_speech:make_spoken_digits", {"n": 240}),
    "faces": ("glassnet.data.builtin_people:make_cartoon_people", {"people": 60, "per_person": 12}),
}
_made: dict[str, str] = {}


def task_data(name: str) -> tuple[str, dict]:
    """TASK_DATA[name], with a smaller generated copy where SMALLER names one (made once
    per test process, in its own temporary folder)."""
    import importlib
    import tempfile

    data, opts = TASK_DATA[name]
    if name in SMALLER:
        if name not in _made:
            where, kwargs = SMALLER[name]
            module, fn = where.split(":")
            folder = Path(tempfile.mkdtemp(prefix=f"glassnet-contract-{name}-")) / name
            made = getattr(importlib.import_module(module), fn)(folder, **kwargs)
            _made[name] = str(made)
        data = _made[name]
    return data, opts


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
    data, opts = task_data(name)
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
    data, opts = task_data(name)
    run = glassnet.train(name, data, epochs=1, quiet=True, out="run", **opts)
    first = _answers(run, data)
    again = _answers(glassnet.load("run"), data)
    assert len(first) == min(64, len(run.task.encode(data, with_targets=False)))
    assert first == again
    _rebuilt_in_plain_pytorch(run, data)


def _rebuilt_in_plain_pytorch(run: glassnet.api.Run, data: str) -> None:
    """net.json + model.safetensors rebuild the net with create_net and load_state_dict
    alone (the README's recipe), and it computes what the run's net computes."""
    if run.task.name == "faces":  # an embedder assembled around its backbone: no net.json
        assert not Path("run/net.json").exists()
        return
    net = create_net(**json.loads(Path("run/net.json").read_text()))
    net.load_state_dict(load_file("run/model.safetensors"))
    net.eval()
    encoded = run.task.encode(data, with_targets=False)
    batch = encoded.data.take(list(range(min(4, len(encoded)))))
    with torch.no_grad():
        expected = run.task.forward(run.net, batch)
        got = run.task.forward(net, batch)
    torch.testing.assert_close(got, expected)


def _answers(run: glassnet.api.Run, data: str) -> list[dict]:
    """The decoded answers for the first 64 inputs of `data` (a whole built-in set of
    clips or scenes takes minutes to predict and proves no more)."""
    encoded = run.task.encode(data, with_targets=False)
    part = Encoded(TensorSplit(encoded.data.take(range(min(64, len(encoded))))))
    out = run._outputs(part, with_loss=False)
    return plain(run.task.decode(out.outputs, out.batch))


@pytest.mark.parametrize("name", [t.name for t in list_tasks()])
def test_streamed_training_equals_in_memory(name: str, workdir: Path) -> None:
    """`--stream on` (loader processes, per-sample reading and collation) and `--stream off`
    (the split on the device) train to the same weights: same order, same batches."""
    needs(name)
    data, opts = task_data(name)
    common = dict(epochs=1, quiet=True, deterministic=True, workers=1, **opts)
    mem = glassnet.train(name, data, out="mem", stream="off", **common)
    streamed = glassnet.train(name, data, out="streamed", stream="on", **common)
    assert mem.fit is not None and streamed.fit is not None
    assert mem.fit.samples_seen == streamed.fit.samples_seen > 0
    a, b = load_file("mem/model.safetensors"), load_file("streamed/model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=f"{k} differs")
