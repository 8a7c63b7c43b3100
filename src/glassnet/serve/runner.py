"""Start the service: load the named runs, build the app, run uvicorn."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from glassnet import api
from glassnet.errors import ConfigError
from glassnet.serve.app import create_app
from glassnet.serve.guards import deadline_protocol

TOKEN_ENV = "GLASSNET_TOKEN"


def load_models(
    specs: list[str], device: str = "auto", engine: str = "torch", say: Any = None
) -> dict[str, api.Run]:
    """'runs/tabular-1' (named 'tabular-1') or 'iris=runs/tabular-1' -> {name: Run}, each
    answering through `engine` ("torch", "onnx" or "auto"; `Run.use_engine`)."""
    runs: dict[str, api.Run] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec.rstrip("/")).name, spec
        if name in runs:
            raise ConfigError(
                f"two models would be called '{name}'",
                fix="Name them: glassnet serve a=runs/x b=other/x",
            )
        runs[name] = api.load(path, device=device)
        chosen = runs[name].use_engine(engine, threads=torch_threads())
        if say is not None:
            say(f"model {name}: {runs[name].spec.task}, {runs[name].spec.net.name}, {chosen}")
    return runs


def torch_threads() -> int:
    """Threads for one forward pass: the cores this process may use (requests already run
    one model pass at a time per model, so each pass may take them all)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def serve(
    specs: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body_mb: float = 10.0,
    max_batch: int = 256,
    max_wait_ms: float = 0.0,
    device: str = "auto",
    engine: str = "auto",
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    import torch
    import uvicorn

    threads = torch_threads()
    torch.set_num_threads(threads)
    print(f"threads: {threads} for torch and onnxruntime (the cores this process may use)")
    runs = load_models(specs, device, engine, say=print)
    # Everything loaded so far (torch, the models: millions of objects) lives as long as the
    # server: frozen out of the collector, whose full passes over it stalled requests
    # by ~150 ms every few hundred large requests.
    gc.collect()
    gc.freeze()
    app = create_app(
        runs,
        token=token or os.environ.get(TOKEN_ENV) or None,
        max_body_mb=max_body_mb,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        http=deadline_protocol(),  # slow request heads are cut off (slowloris)
        timeout_keep_alive=5,
        limit_concurrency=512,  # beyond this many connections: 503, not a stalled server
    )
