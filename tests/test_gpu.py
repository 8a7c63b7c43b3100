"""On a CUDA machine: every family trains on the GPU (bf16 autocast, channels_last CNNs,
fused optimiser, no per-step sync), reloads there with the same answers, and serves
eagerly (onnxruntime's graph is for CPUs). Skipped without CUDA (CI has none)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import glassnet

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_a_table_trains_on_the_gpu_in_bf16_and_reloads_there(tmp_path: Path) -> None:
    run = glassnet.train("tabular", "builtin:wine", epochs=40, quiet=True, out=tmp_path / "t")
    assert run.device.type == "cuda"
    assert run.metrics["test"]["accuracy"] >= 0.9, run.metrics["test"]
    import yaml

    written = yaml.safe_load((run.path / "run.yaml").read_text())
    assert written["device"]["type"] == "cuda"
    again = glassnet.load(run.path, device="cuda")
    rows = [{c: 1.0 for c in again.task.encoder.input_columns}] * 3
    a, b = run.predict(rows), again.predict(rows)
    assert list(a["label"]) == list(b["label"])
    assert again.use_engine("auto") == "eager PyTorch"  # the graph is for CPUs


def test_a_cnn_learns_digits_on_the_gpu(tmp_path: Path) -> None:
    run = glassnet.train("images", "builtin:digits", epochs=8, quiet=True, out=tmp_path / "i")
    assert run.device.type == "cuda"
    assert run.metrics["test"]["accuracy"] >= 0.9, run.metrics["test"]
    speed = run.metrics["samples_per_second"]
    print(f"digits on {torch.cuda.get_device_name()}: {speed} samples/s")
    views = {v.name for v in run.explain().views}
    assert "cnn-filters" in views


def test_an_rnn_forecasts_on_the_gpu(tmp_path: Path) -> None:
    run = glassnet.train(
        "forecasting", "builtin:sunspots", epochs=30, quiet=True, out=tmp_path / "f"
    )
    assert run.device.type == "cuda"
    test = run.metrics["test"]
    assert test["mase"] < 1.5 * test["seasonal_naive_mase"], test
    forecast = run.predict("builtin:sunspots")
    assert len(forecast) == run.task.state()["horizon"]


def test_a_translator_and_a_session_on_the_gpu(tmp_path: Path) -> None:
    session = glassnet.session("translation", "builtin:numbers-en-es", epochs=2, out=tmp_path / "s")
    session.start()
    kinds = [e.kind for e in session.events(timeout=600)]
    assert kinds[0] == "started" and kinds[-1] == "finished", kinds
    run = glassnet.load(tmp_path / "s", device="cuda")
    assert len(run.predict(["twenty one"])) == 1
