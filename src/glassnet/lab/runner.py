"""Start the lab: build the app over the runs folder and run uvicorn on one port."""

from __future__ import annotations

import sys
from pathlib import Path

from glassnet.lab.app import create_lab_app
from glassnet.serve.guards import deadline_protocol


def lab_address(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"#token={token}" if token else "")


def run_lab(
    runs: str | Path = "runs",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body_mb: float = 200.0,
) -> None:
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        print(
            f"warning: the lab on {host} without --token lets anyone who reaches this port "
            "train on this machine",
            file=sys.stderr,
        )
    app = create_lab_app(runs, token=token, max_body_mb=max_body_mb)
    print(f"glassnet lab on {lab_address(host, port, token)}  (runs: {runs}; Ctrl-C stops it)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=deadline_protocol(),
        timeout_keep_alive=5,
    )
