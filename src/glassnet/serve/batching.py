"""Micro-batching: concurrent requests to one model are answered by one forward pass.

Requests that queue up while the model is busy (plus, with `max_wait`, those arriving
within that many seconds) are answered together: the worker concatenates the lists they
carry (rows, files), runs the model once and hands each caller its own
slice. When the joint pass fails, each request is answered on its own instead, so a
caller only ever sees its own errors. When it reports notes (which could mention another
caller's values), each caller gets the notes of its own request, from `notes(request)`
(encoding alone, no forward pass), or, without that, its own pass.

While passes are quick (the last one under `inline_below`, 2 ms), they run on the event
loop itself: a hop to a worker thread and back costs ~0.1-0.2 ms, more than a small net's
whole pass, and requests still gather while a pass runs (they wait in the sockets and join
the next one).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from glassnet.tasks.messages import PredictResponse, Request


@dataclass
class _Pending:
    request: Request
    future: asyncio.Future[PredictResponse]


class MicroBatcher:
    def __init__(
        self,
        answer: Callable[[Request], PredictResponse],
        *,
        max_items: int = 256,
        max_wait: float = 0.0,
        lock: threading.Lock | None = None,
        inline_below: float = 0.002,
        notes: Callable[[Request], list[str]] | None = None,
    ) -> None:
        self.answer = answer  # blocking: one call at a time, under `lock`
        self.notes = notes
        self.max_items = max_items
        self.max_wait = max_wait
        self.lock = lock or threading.Lock()  # shared with whatever else uses the model
        self.inline_below = inline_below
        self.joint_passes = 0  # forward passes that served more than one request
        self.inline_passes = 0  # passes run on the event loop
        self._pass_s: float | None = None  # seconds the last pass took
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> PredictResponse:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run())
        future: asyncio.Future[PredictResponse] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(request, future))
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            group = [await self._queue.get()]
            if self.max_wait:
                await asyncio.sleep(self.max_wait)
            # Whatever queued up meanwhile (also while the last pass ran) joins this pass.
            # get_nowait, not wait_for(get()): the latter can drop an item when its
            # timeout and the item's arrival coincide.
            size = self._size(group[0])
            while not self._queue.empty() and size < self.max_items:
                group.append(self._queue.get_nowait())
                size += self._size(group[-1])
            requests = [p.request for p in group]
            try:
                results = self._inline(requests)
                if results is None:
                    results = await asyncio.to_thread(self._locked, requests)
            except asyncio.CancelledError:  # shutting down: nobody is left waiting
                for pending in group:
                    pending.future.cancel()
                raise
            except Exception as e:  # noqa: BLE001 - never leave a caller waiting
                results = [e] * len(group)
            for pending, result in zip(group, results, strict=True):
                if pending.future.done():  # the caller went away
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    def _inline(self, requests: list[Request]) -> list[PredictResponse | BaseException] | None:
        """The pass, on the loop, when passes have been quick and nothing else (an
        explanation) holds the model; None: take the thread."""
        if self._pass_s is None or self._pass_s >= self.inline_below:
            return None
        if not self.lock.acquire(blocking=False):
            return None
        try:
            self.inline_passes += 1
            return self._timed(requests)
        finally:
            self.lock.release()

    def _locked(self, requests: list[Request]) -> list[PredictResponse | BaseException]:
        with self.lock:
            return self._timed(requests)

    def _timed(self, requests: list[Request]) -> list[PredictResponse | BaseException]:
        start = time.perf_counter()
        results = self._answer_group(requests)
        self._pass_s = time.perf_counter() - start
        return results

    @staticmethod
    def _size(pending: _Pending) -> int:
        """Items (rows, files) one request brings to a pass."""
        field = type(pending.request).batch_field
        return len(getattr(pending.request, field)) if field else 1

    def _answer_group(self, requests: list[Request]) -> list[PredictResponse | BaseException]:
        field = type(requests[0]).batch_field
        if field is not None and len(requests) > 1:
            joint = type(requests[0]).model_construct(
                **{field: [item for r in requests for item in getattr(r, field)]}
            )
            try:
                whole = self.answer(joint)
            except Exception:  # noqa: BLE001 - someone's input is bad: answer one by one
                whole = None
            total = sum(len(getattr(r, field)) for r in requests)
            if whole is not None and len(whole.predictions) == total:
                own = self._own_notes(requests) if whole.notes else [[] for _ in requests]
                if own is not None:
                    self.joint_passes += 1
                    return self._split(whole, requests, field, own)
        results: list[PredictResponse | BaseException] = []
        for r in requests:
            try:
                results.append(self.answer(r))
            except Exception as e:  # noqa: BLE001 - delivered to that caller
                results.append(e)
        return results

    def _own_notes(self, requests: list[Request]) -> list[list[str]] | None:
        if self.notes is None:
            return None
        try:
            return [self.notes(r) for r in requests]
        except Exception:  # noqa: BLE001 - answered one by one, with their own errors
            return None

    @staticmethod
    def _split(
        whole: PredictResponse, requests: list[Request], field: str, notes: list[list[str]]
    ) -> list[PredictResponse | BaseException]:
        out: list[PredictResponse | BaseException] = []
        start = 0
        for r, own in zip(requests, notes, strict=True):
            n = len(getattr(r, field))
            part = whole.predictions[start : start + n]
            out.append(whole.model_copy(update={"predictions": part, "notes": own}))
            start += n
        return out
