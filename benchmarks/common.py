"""Shared benchmark plumbing: run each contender in its own process (fair peak memory),
collect JSON, print a markdown table with ratios to a reference row."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
# Interleaved rounds per contender (`GLASSNET_BENCH_ROUNDS=1` for a quick look).
ROUNDS = int(os.environ.get("GLASSNET_BENCH_ROUNDS", "3"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(runners: dict[str, Callable[[], dict[str, Any]]]) -> None:
    """In the child: run the contender named in argv[1], print its result as JSON."""
    name = sys.argv[2]
    start = time.perf_counter()
    result = runners[name]()
    result.setdefault("wall_s", time.perf_counter() - start)
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result))


def run_all(
    script: str,
    names: list[str],
    env: dict[str, str] | None = None,
    rounds: int = 1,
    once: frozenset[str] = frozenset(),
) -> dict[str, dict[str, Any]]:
    """Each contender in its own process; with `rounds` > 1 the contenders take turns
    (round-robin, so a slow spell of the machine hits all of them) and every number is the
    median over the rounds, with `<key>_min` / `<key>_max` beside it. Contenders in `once`
    (context rows too slow to repeat) run in the first round only."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names:
            if r and name in once:
                continue
            proc = subprocess.run(
                [sys.executable, script, "--child", name],
                capture_output=True,
                text=True,
                env={**os.environ, **(env or {})},
                timeout=3600,
            )
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                runs[name].append({"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]})
                print(f"  {name}: failed: {runs[name][-1]['error']}", file=sys.stderr)
                continue
            runs[name].append(json.loads(line[7:]))
            print(f"  {name}: round {r + 1}/{rounds} done", file=sys.stderr)
    return {name: _median(results) for name, results in runs.items()}


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in results if "error" not in r]
    if not good:
        return results[0]
    out: dict[str, Any] = dict(good[0])
    for key, value in good[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = sorted(float(r[key]) for r in good)
            out[key] = statistics.median(values)
            if len(values) > 1:
                out[f"{key}_min"], out[f"{key}_max"] = values[0], values[-1]
    out["rounds"] = len(good)
    return out


def table(
    results: dict[str, dict[str, Any]],
    columns: list[tuple[str, str, str]],
    reference: str,
    ratio_key: str,
    higher_is_better: bool = True,
) -> str:
    """Markdown table; `ratio` = this row's `ratio_key` relative to the reference row."""
    head = "| contender | " + " | ".join(c[1] for c in columns) + f" | {ratio_key} vs {reference} |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    ref = results.get(reference, {}).get(ratio_key)
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | " + " | ".join("-" for _ in columns) + " | failed |")
            continue
        cells = [_cell(r, k, fmt) for k, _, fmt in columns]
        if ref and r.get(ratio_key):
            ratio = r[ratio_key] / ref if higher_is_better else ref / r[ratio_key]
            cells.append(f"{ratio:.2f}x")
        else:
            cells.append("-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(
    results: dict[str, dict[str, Any]],
    columns: list[tuple[str, str, str]],
    references: list[str],
    ratio_key: str,
) -> str:
    """The same table once per reference row (e.g. against the plain and the tuned loop)."""
    return "\n\n".join(table(results, columns, ref, ratio_key) for ref in references)


def _cell(r: dict[str, Any], key: str, fmt: str) -> str:
    """The median, with the range over rounds beside it where there were several."""
    if key not in r:
        return "-"
    if isinstance(r[key], float) and r[key] != r[key]:  # NaN: e.g. a target never reached
        return "never"
    if f"{key}_min" in r:
        return f"{r[key]:{fmt}} ({r[f'{key}_min']:{fmt}}-{r[f'{key}_max']:{fmt}})"
    return format(r[key], fmt)


def save(name: str, text: str, results: dict[str, Any]) -> str:
    """Write the markdown table and the raw results; print and return the table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(text)
    return text


def entry(runners: dict[str, Callable[[], dict[str, Any]]], main: Callable[[], Any]) -> None:
    """A benchmark script's `__main__`: the parent runs `main`, each child one contender."""
    if "--child" in sys.argv:
        child(runners)
    else:
        main()


def _best_rate(work: Callable[[], Any], trials: int = 8, seconds: float = 0.5) -> float:
    """Calls of `work` per second: the best of several short windows (after a few warm-up
    calls), so a busy moment of the machine does not lower a ceiling."""
    for _ in range(3):
        work()
    best = 0.0
    for _ in range(trials):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            work()
            done += 1
        best = max(best, done / (time.perf_counter() - start))
    return best


def gemm_limit_gflops(
    n: int = 2048, trials: int = 8, seconds: float = 0.5, dtype: Any = None
) -> float:
    """This machine's matrix-multiply rate through torch (its current threads; float32
    unless `dtype`), in GFLOP/s: the ceiling a training step made of GEMMs could reach,
    measured in the same run as the workloads it is compared with. The better of torch's
    two GEMM libraries: its BLAS (`a @ b`: MKL) and oneDNN (the same product as a 1x1
    convolution). On AMD CPUs MKL's float32 path runs at about half oneDNN's rate (an EPYC
    with 2 threads: 180 against 390 GFLOP/s), so the BLAS alone would flatter a CNN's share."""
    import torch

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    # (1, k, 1, m) in channels_last is the (m, k) matrix; a (n, k, 1, 1) filter multiplies it.
    x = a.t().reshape(1, n, 1, n).contiguous(memory_format=torch.channels_last)
    w = b.t().reshape(n, n, 1, 1).contiguous(memory_format=torch.channels_last)
    blas = _best_rate(lambda: a @ b, trials, seconds)
    onednn = _best_rate(lambda: torch.nn.functional.conv2d(x, w), trials, seconds)
    return 2 * n**3 * max(blas, onednn) / 1e9


def step_gemm_ceiling(shapes: list[tuple[int, int, int]], batch: int) -> float:
    """Samples/s of a training step that did nothing but its own matrix multiplies
    (`shapes`: (m, k, n) of each, forward and backward), at their own sizes, back to back:
    the ceiling for that step on this machine, lower than the GEMM limit where the
    matrices are small (a batch of 128 rows through a 256-wide layer)."""
    import torch

    pairs = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]

    def step() -> None:
        for a, b in pairs:
            a @ b

    return batch * _best_rate(step)


def step_conv_ceiling(net: Any, x: Any, dtype: Any = None) -> float:
    """Samples/s of a training step that did nothing but the net's own convolutions
    (forward, and backward to the weights and, past the first layer, the inputs) at their
    own sizes on a batch like `x`, back to back, in the better of the two memory layouts
    (in `dtype`, float32 by default): the CNN's counterpart of `step_gemm_ceiling`."""
    import torch

    seen: list[tuple[Any, Any, Any]] = []
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks = [
        m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].shape, o.shape)))
        for m in convs
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()

    def step_in(layout: Any) -> Callable[[], None]:
        work = []
        for i, (m, in_shape, out_shape) in enumerate(seen):
            xi, go = (
                torch.randn(s, dtype=dtype).contiguous(memory_format=layout)
                for s in (in_shape, out_shape)
            )
            w = m.weight.detach().to(dtype or torch.float32).contiguous(memory_format=layout)
            grads = [i > 0, True, False]  # to the input (past the first layer), the weight
            work.append((xi, w, go, m, grads))

        def step() -> None:
            for xi, w, go, m, grads in work:
                geometry = (m.stride, m.padding, m.dilation)
                torch.nn.functional.conv2d(xi, w, None, *geometry, m.groups)
                torch.ops.aten.convolution_backward(
                    go, xi, w, None, *geometry, False, [0, 0], m.groups, grads
                )

        return step

    layouts = (torch.contiguous_format, torch.channels_last)
    return len(x) * max(_best_rate(step_in(layout)) for layout in layouts)


def train_flops_per_sample(net: Any, x: Any, y: Any) -> float:
    """FLOPs of one training step's forward and backward per sample, counted by torch's
    FlopCounterMode on the net itself (matrix multiplies and convolutions)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(x), y).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def add_gemm_share(
    results: dict[str, dict[str, Any]],
    flops_per_sample: float,
    limit_gflops: float | dict[str, float],
    key: str = "gemm_share",
) -> None:
    """Each contender's training rate as a % of the machine's GEMM limit (`key`); with
    limits per precision, each row is read against the limit of its `precision`."""
    for r in results.values():
        limits = limit_gflops if isinstance(limit_gflops, dict) else None
        limit = limits[r.get("precision", "fp32")] if limits else limit_gflops
        for suffix in ("", "_min", "_max"):
            if f"samples_per_s{suffix}" in r:
                rate = r[f"samples_per_s{suffix}"] * flops_per_sample / 1e9
                r[f"{key}{suffix}"] = 100 * rate / limit  # type: ignore[operator]
