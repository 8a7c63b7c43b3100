"""The service's ONNX engine: the same answers as eager PyTorch for every task (the first
request is answered by both and compared), eager kept where the graph differs or cannot
be made, and decode options other than the run's own answered eagerly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import glassnet
from glassnet.tasks.messages import (
    HistoryRequest,
    ImagesRequest,
    RowsRequest,
    TextsRequest,
    UploadedFile,
)

pytestmark = pytest.mark.xdist_group("serve")  # its trained runs are built once


def _requests(some_images: list[Path], sunspots_history: list[dict]) -> dict[str, Any]:
    return {
        "review": TextsRequest(texts=["the case is great", "the price is awful"]),
        "words": TextsRequest(texts=["red cat", "old owl"]),
        "faces": ImagesRequest(
            files=[UploadedFile(name=p.name, data=p.read_bytes()) for p in some_images[:3]]
        ),
        "spots": HistoryRequest(history=sunspots_history),
    }


def same(a: Any, b: Any) -> bool:
    """Equal answers: labels, texts and ids exactly, numbers to 1e-5, relative or
    absolute (onnxruntime's float kernels round differently from PyTorch's in the last
    bits)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-5, abs=1e-5)
    return bool(a == b)


@pytest.mark.parametrize("name", ["table", "review", "words", "faces", "spots"])
def test_onnx_answers_equal_eager(
    name: str,
    served_runs: dict[str, Path],
    some_images: list[Path],
    sunspots_history: list[dict],
) -> None:
    eager = glassnet.load(served_runs[name], device="cpu")
    fast = glassnet.load(served_runs[name], device="cpu")
    assert eager.use_engine("torch") == "eager PyTorch"
    chosen = fast.use_engine("auto", threads=1)
    requests = _requests(some_images, sunspots_history)
    if name == "table":
        requests["table"] = RowsRequest(rows=[*fast.task.request_example()["rows"]] * 3)
    request = requests[name]
    first = fast.predict_request(request)
    assert fast.graph_checked or fast.graph is None
    assert same(first.predictions, eager.predict_request(request).predictions)
    assert same(fast.predict_request(request).predictions, first.predictions)  # and after
    if name in ("table", "faces", "review"):  # plain classifiers: the graph serves them
        assert chosen.startswith("onnxruntime") and fast.graph is not None


def test_a_graph_that_differs_is_dropped(
    served_runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = glassnet.load(served_runs["table"], device="cpu")
    run.use_engine("onnx")
    off = run.task.from_export
    monkeypatch.setattr(run.task, "from_export", lambda outputs: off(outputs) + 1.0)
    request = RowsRequest(rows=run.task.request_example()["rows"])
    answer = run.predict_request(request)
    assert run.graph is None  # noticed on the first request
    eager = glassnet.load(served_runs["table"], device="cpu")
    assert same(answer.predictions, eager.predict_request(request).predictions)


def test_other_decode_options_run_eagerly(served_runs: dict[str, Path]) -> None:
    run = glassnet.load(served_runs["words"], device="cpu")
    run.use_engine("onnx")
    eager = glassnet.load(served_runs["words"], device="cpu")
    texts = TextsRequest(texts=["red cat", "big dog"])
    beam = run.predict_request(texts, beam=3).predictions
    assert beam == eager.predict_request(texts, beam=3).predictions
    assert not run.graph_checked  # the greedy graph never answered a beam-3 request
