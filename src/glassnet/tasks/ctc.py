"""CTC decoding: per-frame class log-probabilities -> a label sequence (class 0 is blank).

Greedy: the best class per frame, repeats merged, blanks dropped. Prefix beam search keeps
the `beam` most probable label prefixes, summing over all frame paths that spell each one
(blank-ending and label-ending paths tracked apart, so "aa" needs a blank between); with a
`CharNgram` prior fitted on the training transcripts, each new label also scores
`weight * log P(label | the labels before it)` (shallow fusion).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

BLANK = 0
NEG = -math.inf


def greedy(logp: np.ndarray) -> list[int]:
    """(T, C) -> labels."""
    best = logp.argmax(axis=1)
    out, last = [], BLANK
    for c in best.tolist():
        if c != last and c != BLANK:
            out.append(c)
        last = c
    return out


def _add(a: float, b: float) -> float:
    if a == NEG:
        return b
    if b == NEG:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


class CharNgram:
    """Label n-grams counted on the training transcripts, add-one smoothed over the
    alphabet: `counts` maps the context (the `order - 1` labels before, joined by ',') to
    {label: count}. Plain JSON, stored with the run."""

    def __init__(self, order: int, classes: int, counts: dict[str, dict[str, int]]) -> None:
        self.order, self.classes, self.counts = order, classes, counts
        self._totals = {ctx: sum(c.values()) for ctx, c in counts.items()}

    @classmethod
    def fit(cls, sequences: list[list[int]], classes: int, order: int = 3) -> CharNgram:
        counts: dict[str, dict[str, int]] = {}
        for seq in sequences:
            for i, label in enumerate(seq):
                ctx = _context(seq[:i], order)
                row = counts.setdefault(ctx, {})
                row[str(label)] = row.get(str(label), 0) + 1
        return cls(order, classes, counts)

    def logp(self, prefix: tuple[int, ...], label: int) -> float:
        ctx = _context(list(prefix), self.order)
        row = self.counts.get(ctx, {})
        labels = self.classes - 1  # not the blank
        return math.log((row.get(str(label), 0) + 1) / (self._totals.get(ctx, 0) + labels))

    def to_state(self) -> dict:
        return {"order": self.order, "classes": self.classes, "counts": self.counts}

    @classmethod
    def from_state(cls, state: dict) -> CharNgram:
        return cls(state["order"], state["classes"], state["counts"])


def _context(before: list[int], order: int) -> str:
    return ",".join(map(str, before[len(before) - (order - 1) :] if order > 1 else []))


def prefix_beam(
    logp: np.ndarray,
    beam: int,
    prune: int = 12,
    prior: CharNgram | None = None,
    weight: float = 0.0,
) -> list[int]:
    """(T, C) log-probabilities -> the most probable labels under a `beam`-wide search.
    At each frame only the `prune` likeliest labels extend the prefixes; a `prior` adds
    `weight` x its log-probability for each label a prefix gains."""
    fused = prior is not None and weight > 0
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG)}  # (blank, label)
    for row in logp:
        candidates = [c for c in np.argsort(row)[::-1][:prune].tolist() if c != BLANK]
        step: dict[tuple[int, ...], tuple[float, float]] = defaultdict(lambda: (NEG, NEG))
        for prefix, (pb, pl) in beams.items():
            total = _add(pb, pl)
            b, lab = step[prefix]
            step[prefix] = (_add(b, total + float(row[BLANK])), lab)
            last = prefix[-1] if prefix else None
            for c in candidates:
                p = float(row[c])
                longer = prefix + (c,)
                b2, l2 = step[longer]
                bonus = weight * prior.logp(prefix, c) if fused else 0.0  # type: ignore[union-attr]
                if c == last:  # the same label again needs a blank in between...
                    step[longer] = (b2, _add(l2, pb + p + bonus))
                    b1, l1 = step[prefix]  # ...else it merges into the same prefix
                    step[prefix] = (b1, _add(l1, pl + p))
                else:
                    step[longer] = (b2, _add(l2, total + p + bonus))
        beams = dict(sorted(step.items(), key=lambda kv: -_add(*kv[1]))[:beam])
    return list(max(beams.items(), key=lambda kv: _add(*kv[1]))[0])
