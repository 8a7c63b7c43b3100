"""The views registry: what each family can show about itself, as figures plus the numbers.

A view function takes (run, encoded inputs or None) and returns `View`s. Families register
theirs with `register_view("cnn", "model")` / `register_view("cnn", "input")`, so a new
family or task (text, translation) adds views without touching the report or the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glassnet.discovery import import_declaring

# model: about the net alone; input: about one input (called once per input given);
# inputs: about the inputs together (e.g. where they fall on the decision regions)
Scope = Literal["model", "input", "inputs"]


@dataclass
class View:
    name: str  # file-safe id, e.g. "cnn-filters"
    title: str
    how_to_read: str  # two or three sentences for a learner
    figure: Any  # a matplotlib Figure (closed after saving)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # the numbers behind it
    checks: dict[str, Any] = field(default_factory=dict)  # e.g. IG completeness
    png: Path | None = None
    about: str = ""  # the input a per-input view explains ("" for the others)
    scope: str = "model"  # which registry scope drew it (set by api.explain_views)

    def verdicts(self) -> list[tuple[str, dict[str, Any]]]:
        """The sanity verdicts: the view's own map first, then other maps it draws (e.g.
        Grad-CAM's view also checks its saliency map, under checks["saliency"])."""
        own = [("sanity check", self.checks)] if "verdict" in self.checks else []
        return own + [
            (f"{name} check", c)
            for name, c in self.checks.items()
            if isinstance(c, dict) and "verdict" in c
        ]


ViewFn = Callable[[Any, Any], list[View]]
_VIEWS: dict[tuple[str, Scope], list[ViewFn]] = {}


def register_view(family: str, scope: Scope) -> Callable[[ViewFn], ViewFn]:
    def wrap(fn: ViewFn) -> ViewFn:
        _VIEWS.setdefault((family, scope), []).append(fn)
        return fn

    return wrap


def views_for(family: str, scope: Scope) -> list[ViewFn]:
    _load_all()
    return list(_VIEWS.get((family, scope), []))


def _load_all() -> None:
    """Every module of `explain/` that registers views (a new task's views: a new module)."""
    import_declaring("glassnet.explain", "register_view(")
