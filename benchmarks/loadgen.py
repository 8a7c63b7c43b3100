"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio (uvloop when
installed), requests encoded once before the clock starts, responses read by
Content-Length.

Why not httpx: its client spends ~1.5 ms of CPU per request, so on a 2-core machine a
client pinned to one core could not send more than ~500 requests/s, and the table measured
the client. This one costs ~50 µs a request (`ceiling()` measures it against a server that
does nothing), so the server is what the numbers show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def post_json(path: str, body: Any) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def post_files(path: str, files: Sequence[tuple[str, bytes, str]], field: str = "files") -> bytes:
    """A multipart/form-data POST of (filename, bytes, content type) under `field`."""
    boundary = uuid.uuid4().hex
    parts = b"".join(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{name}"\r\nContent-Type: {kind}\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
        for name, data, kind in files
    )
    body = parts + f"--{boundary}--\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _run(
    host: str, port: int, requests: Sequence[bytes], total: int, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    issued = 0

    async def worker() -> None:
        nonlocal failures, issued
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while issued < total:
                i = issued
                issued += 1
                start = time.perf_counter()
                status = await _exchange(reader, writer, requests[i % len(requests)])
                latencies.append(time.perf_counter() - start)
                failures += status != 200
        finally:
            writer.close()

    # Warm up (connections, the server's first passes), then measure.
    warm = min(20, total)
    saved, issued = total, 0
    total = warm
    await asyncio.gather(*(worker() for _ in range(min(concurrency, warm))))
    total, issued, failures = saved, 0, 0
    latencies.clear()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests_per_s": total / wall,
        "p50_ms": 1e3 * latencies[len(latencies) // 2],
        "p99_ms": 1e3 * latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "failed": failures,
    }


def _loop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop

        return uvloop.run  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run


def load(
    url_host: str, port: int, requests: Sequence[bytes], total: int, concurrency: int
) -> dict[str, float]:
    """`total` requests (cycling through the pre-encoded `requests`) from `concurrency`
    keep-alive connections, each sending its next request when the last one is answered.
    Returns requests/s, p50/p99 latency in ms and the number of non-200 answers."""
    return _loop_runner()(_run(url_host, port, requests, total, concurrency))  # type: ignore[no-any-return]


_CANNED = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


def ceiling(concurrency: int = 16, total: int = 20000) -> float:
    """Requests/s this client reaches against a server that answers instantly (a raw
    socket server in a thread of this process, so it shares the client's core: the number
    is a lower bound on what the client alone can do)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_CANNED)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = threading.Event()
    loop_box: dict[str, Any] = {}

    def server_thread() -> None:
        async def main() -> None:
            server = await asyncio.start_server(serve, "127.0.0.1", port)
            loop_box["loop"], loop_box["server"] = asyncio.get_running_loop(), server
            ready.set()
            async with server:
                await server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())

    t = threading.Thread(target=server_thread, daemon=True)
    t.start()
    ready.wait(10)
    try:
        return load("127.0.0.1", port, [get("/")], total, concurrency)["requests_per_s"]
    finally:
        loop_box["loop"].call_soon_threadsafe(loop_box["server"].close)
