"""Slow clients cannot hold the server: a request head or body that trickles in is cut off
(slowloris), while normal requests on the same server are answered."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from glassnet.serve.guards import BodyLimit, deadline_protocol


@pytest.fixture(params=["auto", "h11"])  # httptools (the default where installed) and h11
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/echo")
    async def echo(body: dict) -> dict:
        return body

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        BodyLimit(app, 1_000_000, timeout=0.6),
        host="127.0.0.1",
        port=port,
        http=deadline_protocol(head_timeout=0.6, parser=request.param),
        log_level="warning",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(5)


def _recv_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return out
        out += chunk


def test_a_request_head_that_never_ends_is_cut_off(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # ...and never the blank line
        time.sleep(0.3)
        slow.sendall(b"X-Slow: 1\r\n")
        started = time.monotonic()
        assert _recv_all(slow) == b""  # closed by the server
        assert time.monotonic() - started < 3
    with socket.create_connection(("127.0.0.1", server), timeout=5) as fine:
        fine.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"200 OK" in _recv_all(fine)


def test_a_body_that_trickles_in_gets_408(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as slow:
        slow.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"a":'
        )
        answer = _recv_all(slow)
    assert b"408" in answer.split(b"\r\n")[0] and b"did not arrive" in answer


def test_a_kept_alive_connection_is_closed_once_idle_past_the_deadline(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as idle:
        for _ in range(3):  # quick requests on one connection are all answered
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in idle.recv(4096)
        started = time.monotonic()
        assert _recv_all(idle) == b""  # then no head for 0.6 s: closed
        assert 0.4 < time.monotonic() - started < 3
