"""What protects the service before a request reaches a model: an optional bearer token
(checked before the body is read), a body-size cap (checked while reading, so a lying or
missing Content-Length does not help) with a deadline for slow bodies, and a deadline for
slow request heads (`DeadlineH11`, slowloris)."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from fastapi import HTTPException, Request

Scope = dict[str, Any]


async def send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


BODY_TIMEOUT = 30.0  # seconds a client may take to send its whole body


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` with 413 before any parsing, and
    bodies that trickle in slower than `timeout` seconds in all with 408."""

    def __init__(self, app: Any, max_bytes: int, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> dict[str, str]:
        mb = self.max_bytes / 1e6
        return {
            "error": "request too large",
            "message": f"The request body is larger than the server's limit of {mb:g} MB. "
            "Send fewer rows or images per request, or start the server with a larger "
            "--max-body-mb.",
        }

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await send_json(
                    send,
                    400,
                    {"error": "bad request", "message": "Content-Length is not a number."},
                )
                return
            if too_big:
                await send_json(send, 413, self._too_large())
                return
        chunks, size, more = [], 0, True
        deadline = asyncio.get_running_loop().time() + self.timeout
        while more:
            try:  # asyncio.timeout_at, not wait_for: no task made per message
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await send_json(
                    send,
                    408,
                    {
                        "error": "request timeout",
                        "message": f"The request body did not arrive within {self.timeout:g} s.",
                    },
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_json(send, 413, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, replay_body(b"".join(chunks), receive), send)


def replay_body(body: bytes, receive: Any) -> Any:
    """An ASGI `receive` that gives the already-read `body` as one message, then defers to
    the real one (a disconnect)."""
    replayed = False

    async def again() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


NEEDS_TOKEN = (
    "This server needs a bearer token: send the header 'Authorization: Bearer <token>' "
    "with the token it was started with."
)
OPEN_PATHS = ("/health",)  # answered without a token (load balancers, uptime checks)


def token_ok(token: str, header: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        value.strip().encode(), token.encode()
    )


class TokenGate:
    """ASGI middleware: with a token configured, every path but /health (the API document
    included) needs it, checked before a byte of the body is read."""

    def __init__(
        self, app: Any, token: str | None, open_paths: tuple[str, ...] = OPEN_PATHS
    ) -> None:
        # open_paths: exact paths, or prefixes ending in "/" (the lab's page and scripts,
        # which hold no data; every API call they make sends the token)
        self.app, self.token, self.open_paths = app, token, open_paths

    def _open(self, path: str) -> bool:
        return any(
            path == p or (len(p) > 1 and p.endswith("/") and path.startswith(p))
            for p in self.open_paths
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.token and not self._open(scope.get("path", "")):
            header = dict(scope.get("headers", [])).get(b"authorization", b"")
            if not token_ok(self.token, header.decode("latin-1")):
                data = json.dumps({"error": "unauthorized", "message": NEEDS_TOKEN}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(data)),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": data})
                return
        await self.app(scope, receive, send)


class BearerToken:
    """The same check as a FastAPI dependency (the routes keep it: defence in depth, and
    the API document shows which routes need it)."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    async def __call__(self, request: Request) -> None:  # async: no thread hop per request
        if self.token and not token_ok(self.token, request.headers.get("authorization", "")):
            raise HTTPException(
                status_code=401, detail=NEEDS_TOKEN, headers={"WWW-Authenticate": "Bearer"}
            )


HEAD_TIMEOUT = 10.0  # seconds a connection may take to send a complete request head


def deadline_protocol(head_timeout: float = HEAD_TIMEOUT, parser: str = "auto") -> type:
    """uvicorn's HTTP protocol (httptools, the fast C parser, where installed; else h11),
    closing connections whose request head (request line and headers) has not arrived
    `head_timeout` seconds after the connection opened or after the previous response:
    uvicorn itself waits forever for the first one. `parser="h11"` takes h11 anyway."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Http
    except ImportError:  # httptools is not installed
        Http = None  # noqa: N806
    if parser == "h11":
        Http = None  # noqa: N806
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadDeadline:
        """The timer, for either parser: armed when a connection opens and after each
        response, disarmed when a complete head arrives (counted, so a timer armed before
        a pipelined head never fires on it)."""

        loop: Any
        transport: Any

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)  # type: ignore[misc]
            self._heads = 0
            self._arm()

        def _arm(self) -> None:
            self._armed_at = self._heads
            self._head_timer = self.loop.call_later(head_timeout, self._too_slow)

        def _too_slow(self) -> None:
            if self._heads == self._armed_at and not self.transport.is_closing():
                self.transport.close()  # no complete head since the timer started

        def _head_arrived(self) -> None:
            self._heads += 1
            self._head_timer.cancel()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # type: ignore[misc]
            self._head_timer.cancel()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)  # type: ignore[misc]

    if Http is not None:

        class DeadlineHttpTools(HeadDeadline, Http):  # type: ignore[misc, valid-type]
            def on_headers_complete(self) -> None:
                super().on_headers_complete()
                self._head_arrived()

        return DeadlineHttpTools

    class DeadlineH11(HeadDeadline, H11Protocol):  # type: ignore[misc]
        def handle_events(self) -> None:
            before = self.scope
            super().handle_events()
            if self.scope is not before:  # a new request's head arrived
                self._head_arrived()

    return DeadlineH11
