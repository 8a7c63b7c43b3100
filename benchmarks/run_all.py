"""`make bench`: every benchmark, one after another; tables go to benchmarks/results/."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

if __name__ == "__main__":
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n== {script.name}", file=sys.stderr)
        runpy.run_path(str(script), run_name="__main__")
