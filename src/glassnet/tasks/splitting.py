"""Train / validation / test splits, shared by every task: seeded, stratified when possible."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split


def holdout(
    index: np.ndarray, labels: Sequence | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split `index` into (kept, held out); stratified by `labels` (aligned with `index`)
    unless a class has a single member or the held-out part is smaller than the classes."""
    strat = None
    if labels is not None:
        values, counts = np.unique(np.asarray(labels), return_counts=True)
        if counts.min() >= 2 and math.ceil(fraction * len(index)) >= len(values):
            strat = np.asarray(labels)
    kept, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=strat)
    return np.asarray(kept), np.asarray(held)
