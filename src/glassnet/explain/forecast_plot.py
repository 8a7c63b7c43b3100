"""The forecast pictures: recent history with the median forecast and its interval, per
series (predict), and the backtest: each held-out fold's forecast against the truth and the
seasonal-naive baseline (evaluate --report)."""

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


def backtest_png(
    backtest: pd.DataFrame,
    history: dict[str, pd.DataFrame],
    state: dict[str, Any],
    metrics: dict[str, float],
    path: Path,
) -> Path:
    """One panel per series (at most 6): the seasons before the backtest, then every fold's
    interval and median forecast against the truth, seasonal naive dashed."""
    time_col, target = state["time"], state["target"]
    qs = [f"q{q:g}" for q in state["quantiles"]]
    series = list(dict.fromkeys(backtest["series"]))[:6]
    fig, axes = new_figure(9, 2.8 * len(series) + 0.4, len(series), 1)
    for ax, sid in zip(np.atleast_1d(axes).ravel(), series, strict=False):
        bt = backtest[backtest["series"] == sid]
        start = bt[time_col].min()
        past = history[sid]
        past = past[past["time"] < start].tail(max(2 * state["season"], 2 * state["horizon"]))
        ax.plot(past["time"], past[target], color="#333333", lw=1.2, label="history")
        first = True
        for _, fold in bt.groupby((bt["step"] == 1).cumsum()):
            t = fold[time_col]
            ax.fill_between(
                t,
                fold[qs[0]],
                fold[qs[-1]],
                color="#4c72b0",
                alpha=0.22,
                label=f"{qs[0][1:]}-{qs[-1][1:]} interval" if first else None,
            )
            ax.plot(
                t,
                fold[qs[len(qs) // 2]],
                color="#4c72b0",
                lw=1.8,
                label="forecast (median)" if first else None,
            )
            ax.plot(
                t,
                fold["seasonal_naive"],
                color="#dd8452",
                lw=1.2,
                ls="--",
                label="seasonal naive" if first else None,
            )
            ax.plot(
                t,
                fold["truth"],
                color="#333333",
                lw=1.2,
                marker=".",
                ms=3,
                label="truth" if first else None,
            )
            ax.axvline(t.iloc[0], color="#999999", lw=0.6, ls=":")
            first = False
        ax.set_title(f"{target} - {sid}" if len(series) > 1 else target, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    verdict = "beats" if metrics["mase"] < metrics["seasonal_naive_mase"] else "loses to"
    title = (
        f"backtest: {len(bt.groupby((bt['step'] == 1).cumsum()))} folds x {state['horizon']} "
        f"steps never trained on; MASE {metrics['mase']:.3f}, seasonal naive "
        f"{metrics['seasonal_naive_mase']:.3f}: the net {verdict} the baseline"
    )
    if len(qs) > 1:  # how far to trust the band drawn
        title += (
            f"\nthe {qs[0][1:]}-{qs[-1][1:]} interval held {metrics['coverage']:.0%} of the "
            f"truth (its aim: {state['quantiles'][-1] - state['quantiles'][0]:.0%})"
        )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


@register_prediction_figure("forecast")
def _forecast_of_run(run: Any, predictions: pd.DataFrame, path: Path) -> Path:
    return forecast_png(predictions, run.last_encoded.extra["history"], run.task.state(), path)
