"""Train / validation / test splits, shared by every task: seeded, stratified when possible."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from glassnet.errors import DataError


def holdout(
    index: np.ndarray, labels: Sequence | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split `index` into (kept, held out); stratified by `labels` (aligned with `index`)
    unless a class has a single member or the held-out part is smaller than the classes."""
    if len(index) < 2 or math.ceil(fraction * len(index)) >= len(index):
        raise DataError(
            f"only {len(index)} row(s) are left to split {fraction:.0%} off for validation "
            "or testing",
            fix="Give more rows, or pass --val-fraction 0 --test-fraction 0 (or --val/--test "
            "files)",
        )
    strat = None
    if labels is not None:
        values, counts = np.unique(np.asarray(labels), return_counts=True)
        if counts.min() >= 2 and math.ceil(fraction * len(index)) >= len(values):
            strat = np.asarray(labels)
    kept, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=strat)
    return np.asarray(kept), np.asarray(held)


def split_indices(
    n: int,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    labels: Sequence | None = None,
    given: set[str] | frozenset[str] = frozenset(),
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The split policy of every row-wise task: (train, val, test) indices of `n` samples.

    A split given as its own file (named in `given`: "val", "test") beats its fraction; the
    test part is drawn first, then validation from the rest; both are stratified by
    `labels` where there are classes."""
    labels = None if labels is None else np.asarray(labels)
    idx = np.arange(n)
    held: dict[str, np.ndarray] = {}
    for key, fraction in (("test", test_fraction), ("val", val_fraction)):
        if key not in given and fraction > 0:
            idx, held[key] = holdout(idx, None if labels is None else labels[idx], fraction, seed)
    return idx, held.get("val"), held.get("test")
