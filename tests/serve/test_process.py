"""The service as users run it: `glassnet serve` in its own process on a loopback port,
driven over real HTTP, including a bounded load test that must lose no request."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from glassnet.tasks.sources import resolve

pytestmark = pytest.mark.xdist_group("serve")  # its trained runs are built once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(served_runs: dict[str, Path]) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "glassnet", "serve", *(f"{n}={p}" for n, p in served_runs.items())]
        + ["--port", str(port), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GLASSNET_TOKEN": ""},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"the server did not start:\n{out}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_over_http(server: str, some_images: list[Path], sunspots_history: list[dict]) -> None:
    path, _ = resolve("builtin:iris")
    rows = pd.read_csv(path).drop(columns="species").head(3).to_dict("records")
    with httpx.Client(base_url=server, timeout=30) as http:
        assert len(http.get("/v1/models").json()) == 5
        table = http.post("/v1/models/table/predict", json={"rows": rows})
        assert table.status_code == 200 and len(table.json()["predictions"]) == 3
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in some_images[:2]]
        assert http.post("/v1/models/faces/predict", files=files).status_code == 200
        spots = http.post("/v1/models/spots/predict", json={"history": sunspots_history})
        assert spots.status_code == 200
        broken = http.post(
            "/v1/models/table/predict",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 422 and "not valid JSON" in broken.json()["message"]
        assert http.get("/openapi.json").json()["info"]["title"] == "glassnet"


def test_load_loses_no_request(server: str) -> None:
    """2 000 requests, 16 at a time: every one answered 200 with its own rows."""
    path, _ = resolve("builtin:iris")
    frame = pd.read_csv(path).drop(columns="species")
    total, concurrency = 2000, 16

    async def drive() -> list[tuple[int, int, int]]:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=server, timeout=60, limits=limits) as http:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> tuple[int, int, int]:
                n = 1 + i % 3  # requests of 1-3 rows, batched together by the server
                rows = frame.iloc[i % 140 : i % 140 + n].to_dict("records")
                async with gate:
                    answer = await http.post("/v1/models/table/predict", json={"rows": rows})
                return answer.status_code, n, len(answer.json().get("predictions", []))

            return await asyncio.gather(*(one(i) for i in range(total)))

    results = asyncio.run(drive())
    assert len(results) == total
    assert all(status == 200 for status, _, _ in results)
    assert all(sent == got for _, sent, got in results)
