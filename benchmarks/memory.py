"""Memory of a process and its children (loader workers), sampled while it runs.

RSS counts pages shared between a parent and its forked workers once per process, so the
sum over a tree overstates it; PSS shares them out and is the honest total (Linux only)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def _field(pid: int, name: str) -> int:
    """kB of `name` (Rss or Pss) from smaps_rollup; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Peak summed RSS and PSS (MB) of this process and its descendants, sampled every
    `every` seconds in a background thread: `with TreeMemory() as m: ...; m.peak_pss_mb`."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak_rss_mb, self.peak_pss_mb = every, 0.0, 0.0
        self._stop = threading.Event()

    def sample(self) -> None:
        pids = _tree(os.getpid())
        self.peak_rss_mb = max(self.peak_rss_mb, sum(_field(p, "Rss") for p in pids) / 1024)
        self.peak_pss_mb = max(self.peak_pss_mb, sum(_field(p, "Pss") for p in pids) / 1024)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
