"""The fast lane: JSON predict requests answered without FastAPI's request machinery.

FastAPI's routing, exception middleware, dependency solving and response classes cost
~0.1 ms a request on a 2-core server, as much again as a small model's whole answer.
`FastLane` sits inside the guards (token, body limit) and answers `POST .../predict` with a
JSON body directly: the same handler the FastAPI route calls (`JsonAnswer`), so both give
the same answer. Only the success path runs here: a request the handler refuses (invalid
body, bad options, a value the model cannot take) is handed on to FastAPI unchanged, which
answers it with the service's usual error body, so errors are still made in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from glassnet.serve.guards import replay_body

JsonAnswer = Callable[[bytes, str], Awaitable[bytes]]  # (body, query string) -> JSON bytes
JSON = b"application/json"


class FastLane:
    def __init__(self, app: Any, routes: dict[str, JsonAnswer]) -> None:
        self.app, self.routes = app, routes
        self.answered = 0  # requests answered here (the rest went on to FastAPI)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        answer = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if answer is None or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:  # the body limit and its deadline are enforced outside this lane
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            data = await answer(body, scope.get("query_string", b"").decode("latin-1"))
        except Exception:  # noqa: BLE001 - FastAPI answers it again, with the error body
            await self.app(scope, replay_body(body, receive), send)
            return
        self.answered += 1
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _is_json(scope: Any) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return value.split(b";")[0].strip().lower() == JSON
    return False
