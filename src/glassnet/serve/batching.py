"""Micro-batching: concurrent requests to one model are answered by one forward pass.

Requests that queue up while the model is busy (plus, with `max_wait`, those arriving
within that many seconds) are answered together: the worker concatenates the lists they
carry (rows, files), runs the model once in a worker thread and hands each caller its own
slice. When the joint pass fails or reports notes (which could mention another
caller's values), each request is answered on its own instead, so a caller only ever sees
its own errors and notes.
"""

from __future__ import annotations

import asyncio
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
    ) -> None:
        self.answer = answer  # blocking: runs in a worker thread, one call at a time
        self.max_items = max_items
        self.max_wait = max_wait
        self.joint_passes = 0  # forward passes that served more than one request
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
            while not self._queue.empty() and self._size(group) < self.max_items:
                group.append(self._queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._answer_group, [p.request for p in group])
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

    def _size(self, group: list[_Pending]) -> int:
        field = type(group[0].request).batch_field
        return sum(len(getattr(p.request, field)) if field else 1 for p in group)

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
            if whole is not None and not whole.notes and len(whole.predictions) == total:
                self.joint_passes += 1
                return self._split(whole, requests, field)
        results: list[PredictResponse | BaseException] = []
        for r in requests:
            try:
                results.append(self.answer(r))
            except Exception as e:  # noqa: BLE001 - delivered to that caller
                results.append(e)
        return results

    @staticmethod
    def _split(
        whole: PredictResponse, requests: list[Request], field: str
    ) -> list[PredictResponse | BaseException]:
        out: list[PredictResponse | BaseException] = []
        start = 0
        for r in requests:
            n = len(getattr(r, field))
            part = whole.predictions[start : start + n]
            out.append(whole.model_copy(update={"predictions": part}))
            start += n
        return out
