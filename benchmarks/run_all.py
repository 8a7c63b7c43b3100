"""`make bench`: every benchmark, one after another, then one report.

Each script writes its table to benchmarks/results/<name>.md; this joins them into
benchmarks/results/REPORT.md under a header naming the machine, the versions, the commit
and this machine's GEMM limit measured at the start (the ceiling the training tables'
"% of GEMM limit" columns are read against; each table also measures it in its own run).

    python benchmarks/run_all.py                  # everything (1-2 hours on 2 cores)
    python benchmarks/run_all.py tabular images   # the scripts whose names contain these
    python benchmarks/run_all.py --report         # only rebuild REPORT.md from results/
"""

from __future__ import annotations

import datetime
import os
import platform
import runpy
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from common import RESULTS, ROUNDS, gemm_limit_gflops  # noqa: E402

# script -> the results files it writes, in the report's order
SCRIPTS = {
    "bench_tabular_mlp.py": ("tabular_mlp",),
    "bench_images_cnn.py": ("images_cnn",),
    "bench_streaming.py": ("streaming",),
    "bench_translation.py": ("translation",),
    "bench_forecasting.py": ("forecasting", "forecasting_speed"),
    "bench_detection.py": ("detection",),
    "bench_serve.py": ("serve",),
}


def machine() -> list[str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=HERE,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return [
        f"- date: {datetime.date.today().isoformat()}, commit {commit}",
        f"- CPU: {cpu}, {os.cpu_count()} cores; GPU: "
        + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"),
        f"- Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)",
        f"- GEMM limit (float32 2048x2048 matmul through torch, this run): "
        f"{gemm_limit_gflops():.0f} GFLOP/s",
        f"- rounds per contender: {ROUNDS} (interleaved; GLASSNET_BENCH_ROUNDS to change)",
    ]


def report(header: list[str]) -> Path:
    parts = ["# glassnet benchmarks", "", *header, ""]
    for name in (n for names in SCRIPTS.values() for n in names):
        table = RESULTS / f"{name}.md"
        if table.exists():
            parts += [table.read_text(encoding="utf-8").strip(), ""]
        else:
            parts += [f"### {name}", "", "(not run)", ""]
    out = RESULTS / "REPORT.md"
    RESULTS.mkdir(exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    header = machine()
    if "--report" not in args:
        chosen = [s for s in SCRIPTS if not args or any(a in s for a in args)]
        for script in chosen:
            print(f"\n== {script}", file=sys.stderr)
            sys.argv = [str(HERE / script)]
            runpy.run_path(str(HERE / script), run_name="__main__")
    print(f"\nreport: {report(header)}", file=sys.stderr)
