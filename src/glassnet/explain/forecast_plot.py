"""The forecast picture: recent history, the median forecast and its interval, per series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glassnet.explain.figures import new_figure, save_png
from glassnet.explain.prediction_figures import register_prediction_figure


def forecast_png(
    forecast: pd.DataFrame,
    history: dict[str, pd.DataFrame],
    state: dict[str, Any],
    path: Path,
    show_last: int | None = None,
) -> Path:
    """One panel per series (at most 6): history tail, q-median line, outer-quantile band."""
    time_col, target = state["time"], state["target"]
    qs = [f"q{q:g}" for q in state["quantiles"]]
    series = list(dict.fromkeys(forecast["series"]))[:6]
    show = show_last or max(4 * state["horizon"], state["lookback"])
    fig, axes = new_figure(8, 2.6 * len(series), len(series), 1)
    for ax, sid in zip(np.atleast_1d(axes).ravel(), series, strict=False):
        past = history[sid].tail(show)
        fc = forecast[forecast["series"] == sid]
        ax.plot(past["time"], past[target], color="#333333", lw=1.2, label="history")
        ax.fill_between(
            fc[time_col],
            fc[qs[0]],
            fc[qs[-1]],
            color="#4c72b0",
            alpha=0.25,
            label=f"{qs[0][1:]}-{qs[-1][1:]} interval",
        )
        ax.plot(
            fc[time_col], fc[qs[len(qs) // 2]], color="#4c72b0", lw=1.8, label="forecast (median)"
        )
        ax.set_title(f"{target} - {sid}" if len(series) > 1 else target, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


@register_prediction_figure("forecast")
def _forecast_of_run(run: Any, predictions: pd.DataFrame, path: Path) -> Path:
    return forecast_png(predictions, run.last_encoded.extra["history"], run.task.state(), path)
