"""Serving speed: `glassnet serve` requests/s and p50/p99 latency on loopback (tabular rows
and image uploads, 1 and 16 clients at a time, next to the HTTP floor of GET /health), each
server's labels for 1 000 rows against `Run.predict`'s (quality beside speed), and
eager PyTorch vs onnxruntime latency per batch size for the same exported nets.

    python benchmarks/bench_serve.py        # writes benchmarks/results/serve.md
    GLASSNET_BENCH_PIN=0 python benchmarks/bench_serve.py   # client and server share cores
    GLASSNET_BENCH_SERVERS=onnx,LitServe python ...       # only the servers named so

Four servers on the same exported model and the same rows: glassnet (eager and onnx
engines), a hand-written FastAPI + onnxruntime endpoint and LitServe (benchmarks/peers/).
The load generator (benchmarks/loadgen.py: raw keep-alive HTTP/1.1 on uvloop, ~50 µs a
request; its ceiling is measured and printed) is pinned to one core and the server to the
others where the machine allows.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import loadgen  # noqa: E402
from common import ROUNDS, save  # noqa: E402

BATCH_SIZES = (1, 8, 64, 256)


def _train_runs(root: Path) -> dict[str, Any]:
    import glassnet

    table = glassnet.train("tabular", "builtin:customers", epochs=3, quiet=True, out=root / "t")
    images = glassnet.train(
        "images", "builtin:cartoon-pets", epochs=1, quiet=True, out=root / "i", image_size=64
    )
    return {"tabular": table, "images": images}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PEERS = Path(__file__).parent / "peers"
BATCH_ROWS = 1000


def _pinning() -> tuple[set[int] | None, set[int] | None]:
    """(client cores, server cores): the load generator on one core, the server on the
    rest, where the machine has two or more and allows pinning."""
    if os.environ.get("GLASSNET_BENCH_PIN", "1") == "0":  # as before: everything shares
        return None, None
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(cores) < 2:
        return None, None
    return {cores[0]}, set(cores[1:])


def serve_table(runs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Every contender on the same model, the same rows and the same client."""
    import pandas as pd

    from glassnet.tasks.sources import resolve

    path, _ = resolve("builtin:customers")
    assert path is not None
    frame = pd.read_csv(path).drop(columns="churned").head(BATCH_ROWS)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    image_path = next(resolve("builtin:cartoon-pets")[0].rglob("*.png"))  # type: ignore[union-attr]
    image = image_path.read_bytes()
    export = runs["tabular"].export("onnx").folder  # the peers serve this same graph
    glassnet_cmd = [sys.executable, "-m", "glassnet", "serve", "--device", "cpu"]
    models = [f"table={runs['tabular'].path}", f"pets={runs['images'].path}"]
    contenders = {
        "glassnet --engine torch": (
            glassnet_cmd + ["--engine", "torch", *models],
            "/v1/models/table/predict",
            "/health",
        ),
        "glassnet --engine onnx": (
            glassnet_cmd + ["--engine", "onnx", *models],
            "/v1/models/table/predict",
            "/health",
        ),
        "hand-written FastAPI + onnxruntime": (
            [sys.executable, str(PEERS / "fastapi_onnx.py"), str(export)],
            "/predict",
            "/health",
        ),
    }
    if importlib.util.find_spec("litserve"):  # in the bench extra; skipped where missing
        contenders["LitServe + onnxruntime"] = (
            [sys.executable, str(PEERS / "litserve_onnx.py"), str(export)],
            "/predict",
            "/health",
        )
    if importlib.util.find_spec("bentoml"):  # in the bench extra; skipped where missing
        contenders["BentoML + onnxruntime"] = (
            [sys.executable, str(PEERS / "bentoml_onnx.py"), str(export)],
            "/predict",
            "/readyz",
        )
    only = os.environ.get("GLASSNET_BENCH_SERVERS")  # e.g. "glassnet --engine onnx,LitServe"
    if only:
        contenders = {k: v for k, v in contenders.items() if any(o in k for o in only.split(","))}
    client_cores, server_cores = _pinning()
    if client_cores:
        os.sched_setaffinity(0, client_cores)
    client_ceiling = loadgen.ceiling()  # what the client alone can send, for the reader
    # Quality beside speed: each server's labels for the rows against `Run.predict`'s.
    reference = list(runs["tabular"].predict(frame)["label"])
    agree: dict[str, float] = {}
    rounds: list[dict[str, Any]] = []
    for r in range(ROUNDS):  # interleaved: a slow minute of the machine hits everyone
        print(f"round {r + 1} of {ROUNDS}", file=sys.stderr)
        one: dict[str, Any] = {}
        for name, (cmd, route, health) in contenders.items():
            loads, labels = _serve_one(name, cmd, route, health, rows, image, server_cores)
            one.update(loads)
            same = sum(a == b for a, b in zip(labels, reference, strict=False))
            agree[name] = min(agree.get(name, 1.0), same / len(reference))
        rounds.append(one)
    results = {
        key: {
            **{m: statistics.median(x[key][m] for x in rounds) for m in rounds[0][key]},
            "rps_range": (
                min(x[key]["requests_per_s"] for x in rounds),
                max(x[key]["requests_per_s"] for x in rounds),
            ),
        }
        for key in rounds[0]
    }
    pinned = (
        f"client on core {sorted(client_cores)}, server on cores {sorted(server_cores or [])}"
        if client_cores
        else "client and server share the cores (no pinning)"
    )
    lines = [
        f"({pinned}; medians of {ROUNDS} interleaved rounds, min-max of requests/s beside; "
        f"1-row requests: the customers table, {BATCH_ROWS}-row requests: rows/s; the load "
        f"generator alone reaches {client_ceiling:.0f} requests/s at 16 connections on its "
        "core, against a do-nothing server sharing that core)",
        "",
        "| server | workload | clients | requests/s (min-max) | rows/s | p50 ms | p99 ms "
        "| failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    answers = [
        "",
        f"Answers: the share of the {len(reference)} rows, sent as one request, whose label "
        "equals `glassnet.load(run).predict` in the bench's own process (lowest over rounds):",
        "",
        "| server | same label as `Run.predict` |",
        "|---|---|",
        *(f"| {name} | {share:.1%} |" for name, share in agree.items()),
    ]
    for key, r in results.items():
        server, label, conc = key.split(" | ")
        lo, hi = r["rps_range"]
        lines.append(
            f"| {server} | {label} | {conc} | {r['requests_per_s']:.0f} ({lo:.0f}-{hi:.0f}) | "
            f"{r['requests_per_s'] * r.get('rows', 1):.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['failed']:.0f} |"
        )
    return "\n".join(lines + answers), {
        **results,
        "client_ceiling_rps": client_ceiling,
        "label_agreement": agree,
    }


def _serve_one(
    name: str,
    cmd: list[str],
    route: str,
    health: str,
    rows: list[dict],
    image: bytes,
    cores: set[int] | None,
) -> tuple[dict[str, Any], list[Any]]:
    """The server's load results, and its labels for `rows` sent as one request."""
    import httpx

    port = _free_port()
    is_glassnet = "glassnet" in cmd
    args = cmd + (["--port", str(port)] if is_glassnet else [str(port)])
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GLASSNET_TOKEN": ""},
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,  # noqa: PLW1509
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"{url}{health}").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)

    answered = httpx.post(f"{url}{route}", json={"rows": rows}, timeout=60).json()
    labels = [p.get("label") for p in answered.get("predictions", [])]
    json_rows = [loadgen.post_json(route, {"rows": [row]}) for row in rows]
    workloads: list[tuple[str, list[bytes], int, tuple[int, ...], int]] = [
        ("GET /health (HTTP floor)", [loadgen.get(health)], 4000, (16,), 1),
        ("tabular, 1 row per request", json_rows, 4000, (1, 16, 64), 1),
        (
            f"tabular, {BATCH_ROWS} rows per request",
            [loadgen.post_json(route, {"rows": rows})],
            100,
            (1, 4),
            BATCH_ROWS,
        ),
    ]
    if is_glassnet:
        png = [loadgen.post_files("/v1/models/pets/predict", [("pet.png", image, "image/png")])]
        workloads.append(("images, one 64 px PNG per request", png, 2000, (1, 16), 1))
    results: dict[str, Any] = {}
    try:
        for label, requests, total, clients, n_rows in workloads:
            for conc in clients:
                r = loadgen.load("127.0.0.1", port, requests, total, conc)
                results[f"{name} | {label} | {conc}"] = {**r, "rows": n_rows}
                print(
                    f"  {name}: {label}, {conc} clients: {r['requests_per_s']:.0f}/s",
                    file=sys.stderr,
                )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return results, labels


def eager_vs_onnx(runs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    import numpy as np
    import onnxruntime as ort
    import torch

    from glassnet.export.bundle import held_out_feeds

    results: dict[str, Any] = {}
    lines = [
        "| model | batch | eager PyTorch ms | onnxruntime ms | onnxruntime speed-up |",
        "|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        exported = run.export("onnx")
        module = run.task.export_module(run.net).cpu().eval()
        session = ort.InferenceSession(str(exported.model), providers=["CPUExecutionProvider"])
        example = held_out_feeds(run.task, run.spec, None)["x"].numpy()
        for b in BATCH_SIZES:
            x = np.repeat(example, int(np.ceil(b / len(example))), axis=0)[:b]
            xt = torch.from_numpy(x)

            def eager(xt: Any = xt, module: Any = module) -> None:
                with torch.no_grad():
                    module(xt)

            def onnx(x: Any = x, session: Any = session) -> None:
                session.run(None, {"x": x})

            te, to = _median_ms(eager), _median_ms(onnx)
            results[f"{name}/{b}"] = {"eager_ms": te, "onnx_ms": to}
            lines.append(
                f"| {name} ({run.spec.net.name}) | {b} | {te:.3f} | {to:.3f} | {te / to:.2f}x |"
            )
    return "\n".join(lines), results


def _median_ms(fn: Any, seconds: float = 1.0) -> float:
    for _ in range(5):
        fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 10:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = _train_runs(Path(tmp))
        serve_md, serve_raw = serve_table(runs)
        onnx_md, onnx_raw = eager_vs_onnx(runs)
    text = (
        f"### glassnet serve and peers on loopback ({os.cpu_count()} CPU cores)\n\n"
        f"{serve_md}\n\n## eager PyTorch vs onnxruntime, CPU, per forward pass\n\n{onnx_md}"
    )
    save("serve", text, {"serve": serve_raw, "onnx": onnx_raw})


if __name__ == "__main__":
    main()
