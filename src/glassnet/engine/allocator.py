"""Training keeps its freed memory (glibc's allocator, Linux): no page fault per step.

glibc serves a large block (over a threshold between 128 KiB and 32 MiB) with its own
mmap and unmaps it when freed, so the next step's block of the same size touches fresh
pages: every 4 KiB page faults again. A CNN step frees and reallocates all its activations,
so on a 2-core VM a bf16 step took 14 000 faults (8 000-67 000 by precision) and they cost
more than the arithmetic around them (cnn.small at 64 px: 210 -> 270 samples/s in fp32,
586 -> 650 in bf16, with the faults down to 200-700 a step). While a training runs, the
allocator serves every block from its heap and keeps what is freed there; when the last
training of the process ends, the defaults come back and the unused memory is returned
(`malloc_trim`). The same thing Intel's tuning guide gets from preloading jemalloc or
tcmalloc, without asking the user to."""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# mallopt(3) parameters (the values are C ints)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_MMAP_THRESHOLD = 32 * 2**20  # where glibc's own rule settles once large blocks are freed
_KEEP_TRIM = 2**31 - 1  # the largest: the heap's top is not trimmed while training
# After training: glibc's default count of mmapped blocks and its rule's trim threshold
# (twice the mmap threshold). Setting any of them turns that rule off, so all are set to
# where it would have gone; the mmap threshold stays at 32 MiB.
_AFTER_TRIM, _AFTER_MMAP_MAX = 2 * _MMAP_THRESHOLD, 65536

_lock = threading.Lock()
_active = 0


@functools.cache
def _glibc() -> Any:
    """glibc's handle, or None elsewhere (macOS, Windows, musl: their allocators differ)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
    except (OSError, AttributeError):
        return None
    return libc


def _set(trim: int, mmap_max: int) -> bool:
    libc = _glibc()
    if libc is None:
        return False
    done = [
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
        libc.mallopt(_M_TRIM_THRESHOLD, trim),
        libc.mallopt(_M_MMAP_MAX, mmap_max),
    ]
    return all(done)


@contextmanager
def keeping_freed_memory() -> Iterator[bool]:
    """Within: blocks come from the heap and freed ones stay there (yields whether the
    allocator took the setting). Nested and concurrent trainings (the lab's threads) share
    it; the last to leave restores glibc's behaviour and returns the unused memory."""
    global _active
    with _lock:
        _active += 1
        applied = _set(_KEEP_TRIM, 0) if _active == 1 else _glibc() is not None
    try:
        yield applied
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _set(_AFTER_TRIM, _AFTER_MMAP_MAX):
                _glibc().malloc_trim(0)
