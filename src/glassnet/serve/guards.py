"""What protects the service before a request reaches a model: a body-size cap (checked
while reading, so a lying or missing Content-Length does not help) and an optional bearer
token."""

from __future__ import annotations

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


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` with 413 before any parsing."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_json(send, 413, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class BearerToken:
    """A FastAPI dependency: with a token configured, requests must carry it."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def __call__(self, request: Request) -> None:
        if not self.token:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            raise HTTPException(
                status_code=401,
                detail="This server needs a bearer token: send the header "
                "'Authorization: Bearer <token>' with the token it was started with.",
                headers={"WWW-Authenticate": "Bearer"},
            )
