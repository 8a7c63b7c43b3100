"""Pictures of predictions, by the kind a task declares (`Task.prediction_figure`): e.g.
"forecast" draws the history with the forecast and its interval. `glassnet predict --out`
writes one beside the predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

FigureFn = Callable[[Any, pd.DataFrame, Path], Path]  # (run, predictions, path) -> path
_FIGURES: dict[str, FigureFn] = {}


def register_prediction_figure(kind: str) -> Callable[[FigureFn], FigureFn]:
    def wrap(fn: FigureFn) -> FigureFn:
        _FIGURES[kind] = fn
        return fn

    return wrap


def draw_prediction(run: Any, predictions: pd.DataFrame, path: Path) -> Path:
    from glassnet.explain import box_figures, forecast_plot  # noqa: F401  (registers them)

    return _FIGURES[run.task.prediction_figure](run, predictions, path)
