"""CTC decoding: per-frame class log-probabilities -> a label sequence (class 0 is blank).

Greedy: the best class per frame, repeats merged, blanks dropped. Prefix beam search keeps
the `beam` most probable label prefixes, summing over all frame paths that spell each one
(blank-ending and label-ending paths tracked apart, so "aa" needs a blank between).
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


def prefix_beam(logp: np.ndarray, beam: int, prune: int = 12) -> list[int]:
    """(T, C) log-probabilities -> the most probable labels under a `beam`-wide search.
    At each frame only the `prune` likeliest labels extend the prefixes."""
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
                if c == last:  # the same label again needs a blank in between...
                    step[longer] = (b2, _add(l2, pb + p))
                    b1, l1 = step[prefix]  # ...else it merges into the same prefix
                    step[prefix] = (b1, _add(l1, pl + p))
                else:
                    step[longer] = (b2, _add(l2, total + p))
        beams = dict(sorted(step.items(), key=lambda kv: -_add(*kv[1]))[:beam])
    return list(max(beams.items(), key=lambda kv: _add(*kv[1]))[0])
