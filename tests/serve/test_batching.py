"""Micro-batching: concurrent requests share forward passes, yet each caller gets exactly
its own answers, errors and notes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest

import glassnet
from glassnet.errors import DataError
from glassnet.serve.batching import MicroBatcher
from glassnet.tasks.messages import RowsRequest
from glassnet.tasks.sources import resolve

pytestmark = pytest.mark.xdist_group("serve")  # its trained runs are built once


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    path, _ = resolve("builtin:iris")
    return pd.read_csv(path).drop(columns="species").to_dict("records")


def _busy(run: glassnet.api.Run):  # type: ignore[no-untyped-def]
    """A model that takes 10 ms a pass (requests queue up meanwhile), and the number of
    rows each of its passes answered."""
    calls: list[int] = []

    def slow_answer(request: RowsRequest):  # type: ignore[no-untyped-def]
        calls.append(len(request.rows))
        time.sleep(0.01)
        return run.predict_request(request)

    return slow_answer, calls


def test_shared_passes_give_each_caller_its_own_answers(
    served_runs: dict[str, Path], rows: list[dict]
) -> None:
    run = glassnet.load(served_runs["table"], device="cpu")
    slow_answer, calls = _busy(run)

    requests = [RowsRequest(rows=rows[i : i + 1 + i % 3]) for i in range(0, 120, 4)]
    bad = RowsRequest(rows=[{**rows[0], "petal width (cm)": "wide"}])
    unseen_note = RowsRequest(rows=[{**rows[0], "sepal width (cm)": None}])  # a gap

    async def drive():  # type: ignore[no-untyped-def]
        batcher = MicroBatcher(slow_answer)
        good = await asyncio.gather(*(batcher.submit(r) for r in requests[:10]))
        joint = batcher.joint_passes
        mixed = [bad, unseen_note, *requests[10:]]  # one bad request spoils no one else's
        rest = await asyncio.gather(*(batcher.submit(r) for r in mixed), return_exceptions=True)
        await batcher.close()
        return joint, good + rest[2:], rest[:2]

    joint, answers, (bad_result, note_result) = asyncio.run(drive())
    assert joint >= 1 and max(calls) > 3
    for request, answer in zip(requests, answers, strict=True):
        alone = run.predict_request(request)
        assert [p["label"] for p in answer.predictions] == [p["label"] for p in alone.predictions]
        assert answer.notes == []
    assert isinstance(bad_result, DataError) and "'wide'" in str(bad_result)
    assert note_result.notes == run.predict_request(unseen_note).notes


def test_a_row_is_never_completed_by_its_neighbours(
    served_runs: dict[str, Path], rows: list[dict]
) -> None:
    """A request whose rows lack the model's columns is refused whether it is answered alone
    or batched with good ones (it used to get a median-filled answer when batched)."""
    run = glassnet.load(served_runs["table"], device="cpu")
    lacking = RowsRequest(rows=[{"nope": 1}])
    half = RowsRequest(rows=[rows[0], {"nope": 1}])
    with pytest.raises(DataError, match="row 1 lacks the column"):
        run.predict_request(lacking)
    with pytest.raises(DataError, match="row 2 lacks the column"):
        run.predict_request(half)

    async def drive():  # type: ignore[no-untyped-def]
        batcher = MicroBatcher(run.predict_request)
        mixed = [RowsRequest(rows=rows[i : i + 2]) for i in range(0, 40, 2)]
        mixed[3], mixed[7] = lacking, half
        out = await asyncio.gather(*(batcher.submit(r) for r in mixed), return_exceptions=True)
        await batcher.close()
        return out

    answers = asyncio.run(drive())
    assert isinstance(answers[3], DataError) and isinstance(answers[7], DataError)
    assert all(not isinstance(a, Exception) for i, a in enumerate(answers) if i not in (3, 7))


def test_extreme_values_are_refused_or_noted(
    served_runs: dict[str, Path], rows: list[dict]
) -> None:
    run = glassnet.load(served_runs["table"], device="cpu")
    with pytest.raises(DataError, match=r"too large to learn from .* row 1"):
        run.predict_request(RowsRequest(rows=[{**rows[0], "sepal width (cm)": 1e308}]))
    gap = run.predict_request(RowsRequest(rows=[{**rows[0], "sepal width (cm)": None}]))
    assert any("filled with its training median" in n for n in gap.notes)
    assert all(v is not None for v in gap.predictions[0]["probabilities"].values())


def test_quick_passes_run_on_the_loop_unless_the_model_is_busy(
    served_runs: dict[str, Path], rows: list[dict]
) -> None:
    import threading

    run = glassnet.load(served_runs["table"], device="cpu")
    lock = threading.Lock()
    request = RowsRequest(rows=rows[:2])
    expected = run.predict_request(request).predictions

    async def drive():  # type: ignore[no-untyped-def]
        batcher = MicroBatcher(run.predict_request, lock=lock, inline_below=1.0)
        for _ in range(3):  # the first pass is timed in a thread; quick ones then stay
            assert (await batcher.submit(request)).predictions == expected
        on_loop = batcher.inline_passes
        # Something else (an explanation) holds the model: the pass waits in a thread,
        # and the event loop stays free meanwhile.
        lock.acquire()
        pending = asyncio.ensure_future(batcher.submit(request))
        ticks = 0
        while not pending.done() and ticks < 20:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not pending.done() and ticks == 20  # the loop ran while the pass waited
        lock.release()
        answer = await pending
        await batcher.close()
        return on_loop, batcher.inline_passes, answer

    on_loop, after, answer = asyncio.run(drive())
    assert on_loop == 2 and after == 2  # the blocked pass did not run on the loop
    assert answer.predictions == expected


def test_a_noted_request_still_shares_the_pass_and_keeps_its_own_notes(
    served_runs: dict[str, Path], rows: list[dict]
) -> None:
    run = glassnet.load(served_runs["table"], device="cpu")
    slow_answer, calls = _busy(run)

    gap = RowsRequest(rows=[{**rows[0], "sepal width (cm)": None}])  # noted: a gap
    extra = RowsRequest(rows=[{**rows[1], "colour": "red"}])  # noted: an unread column
    plain = [RowsRequest(rows=rows[i : i + 2]) for i in range(2, 20, 2)]

    async def drive():  # type: ignore[no-untyped-def]
        batcher = MicroBatcher(slow_answer, notes=run.request_notes)
        await batcher.submit(plain[0])  # busy with this one while the rest queue up
        answers = await asyncio.gather(*(batcher.submit(r) for r in [gap, extra, *plain]))
        await batcher.close()
        return batcher.joint_passes, answers

    joint, answers = asyncio.run(drive())
    assert joint >= 1 and max(calls) >= 10  # the noted requests did not split the pass
    for request, answer in zip([gap, extra, *plain], answers, strict=True):
        alone = run.predict_request(request)
        assert answer.notes == alone.notes
        for got, want in zip(answer.predictions, alone.predictions, strict=True):
            assert got["label"] == want["label"]  # probabilities: equal up to batch rounding
            assert got["probabilities"] == pytest.approx(want["probabilities"], rel=1e-5)
    assert answers[0].notes and answers[1].notes and not answers[2].notes
    assert answers[0].notes != answers[1].notes


def test_slow_passes_leave_the_loop_free() -> None:
    def slow(request: RowsRequest):  # type: ignore[no-untyped-def]
        time.sleep(0.005)  # slower than inline_below: must not block the loop
        return "answer"

    async def drive():  # type: ignore[no-untyped-def]
        batcher = MicroBatcher(slow, inline_below=0.002)
        for _ in range(3):
            await batcher.submit(RowsRequest(rows=[{"a": 1}]))
        await batcher.close()
        return batcher.inline_passes

    assert asyncio.run(drive()) == 0


def test_a_pass_takes_no_more_rows_than_max_items(
    served_runs: dict[str, Path], rows: list[dict]
) -> None:
    """Requests queued behind a busy pass join the next one while it holds fewer than
    `max_items` rows (a request is never split): two-row requests under max_items=7 make
    passes of 8 rows."""
    run = glassnet.load(served_runs["table"], device="cpu")
    slow_answer, calls = _busy(run)
    requests = [RowsRequest(rows=rows[i : i + 2]) for i in range(0, 80, 2)]

    async def drive():  # type: ignore[no-untyped-def]
        batcher = MicroBatcher(slow_answer, max_items=7)
        answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.close()
        return answers

    answers = asyncio.run(drive())
    labels = [[p["label"] for p in a.predictions] for a in answers]
    assert labels == [[p["label"] for p in run.predict_request(r).predictions] for r in requests]
    assert sum(calls) == 80
    assert max(calls) == 8
    assert calls.count(8) >= 8
