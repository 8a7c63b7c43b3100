"""Forecasting on real series bundled offline (benchmarks/real_series.py: statsmodels' data
sets and the data files in sktime's wheel), every contender on the same 3-fold rolling-origin
backtest (the last 3 x horizon points; monthly 12, quarterly 8, yearly 6 steps):

  glassnet LSTM and GRU with their defaults (3 seeds: mean and spread), seasonal naive,
  statsforecast AutoETS and AutoARIMA, and Darts' RNNModel (LSTM, glassnet's lookback,
  64 units, 150 epochs, 1 seed).

Scores are MASE relative to seasonal naive on the same folds (= MAE / seasonal naive's MAE;
below 1 beats "the same step one season ago"), per series and as the geometric mean over
the suite, with wall time. Each contender runs in its own process.

    python benchmarks/bench_forecasting.py            # writes benchmarks/results/forecasting.md
    python benchmarks/bench_forecasting.py airline    # some series only
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import entry, run_all, save  # noqa: E402
from real_series import HORIZON, SERIES  # noqa: E402

FOLDS = 3
SEEDS = (0, 1, 2)
CSV = Path(tempfile.gettempdir()) / "glassnet-bench-forecasting"


def setup(name: str) -> dict[str, Any]:
    """The series (also written as a CSV for glassnet), its horizon, season and folds."""
    load, freq, season = SERIES[name]
    frame = load()
    CSV.mkdir(parents=True, exist_ok=True)
    path = CSV / f"{name}.csv"
    frame.to_csv(path, index=False)
    values = frame["value"].to_numpy(float)
    h = HORIZON[freq]
    origins = [len(values) - (FOLDS - k) * h for k in range(FOLDS)]
    return {"path": path, "values": values, "h": h, "m": season, "origins": origins}


def relative_mase(s: dict[str, Any], forecasts: list[np.ndarray]) -> float:
    """MAE of `forecasts` over the folds, divided by seasonal naive's on the same points."""
    return float(np.abs(np.array(forecasts) - _truth(s)).mean() / _snaive_mae(s))


def _truth(s: dict[str, Any]) -> np.ndarray:
    return np.array([s["values"][e : e + s["h"]] for e in s["origins"]])


def _snaive(s: dict[str, Any], e: int) -> np.ndarray:
    """The same step one season before, for each step of the fold starting at e."""
    v, m = s["values"], s["m"]
    return np.array([v[e + k - m * (k // m + 1)] for k in range(s["h"])])


def _snaive_mae(s: dict[str, Any]) -> float:
    return float(np.abs(np.array([_snaive(s, e) for e in s["origins"]]) - _truth(s)).mean())


def run_glassnet(name: str, net: str) -> dict[str, Any]:
    import glassnet

    s = setup(name)
    scores, walls = [], []
    for seed in SEEDS:
        start = time.perf_counter()
        run = glassnet.train(
            "forecasting",
            str(s["path"]),
            time="time",
            target="value",
            horizon=s["h"],
            folds=FOLDS,
            net=net,
            seed=seed,
            quiet=True,
            out=tempfile.mkdtemp() + "/run",
        )
        walls.append(time.perf_counter() - start)
        assert run.task._fold_origins(len(s["values"])) == s["origins"]
        # the run's own backtest MAE is over exactly these folds
        scores.append(run.metrics["test"]["mae"] / _snaive_mae(s))
    return {
        "rel_mase": float(np.mean(scores)),
        "spread": float(np.max(scores) - np.min(scores)),
        "wall_s": float(np.mean(walls)),
        "lookback": run.task.state()["lookback"],
    }


def run_seasonal_naive(name: str) -> dict[str, Any]:
    s = setup(name)
    return {"rel_mase": relative_mase(s, [_snaive(s, e) for e in s["origins"]]), "wall_s": 0.0}


def run_statsforecast(name: str, model: str) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    from statsforecast.models import AutoARIMA, AutoETS

    s = setup(name)
    make = {"AutoETS": AutoETS, "AutoARIMA": AutoARIMA}[model]
    start = time.perf_counter()
    forecasts = [
        make(season_length=s["m"]).forecast(y=s["values"][:e], h=s["h"])["mean"]
        for e in s["origins"]
    ]
    return {"rel_mase": relative_mase(s, forecasts), "wall_s": time.perf_counter() - start}


def run_darts(name: str) -> dict[str, Any]:
    import logging

    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import RNNModel

    s = setup(name)
    values, h = s["values"].astype(np.float32), s["h"]
    look = max(h, s["m"] + h, 8)  # glassnet's default lookback for these lengths
    start = time.perf_counter()
    forecasts = []
    for e in s["origins"]:  # refit per fold, as the statistical models do
        scaler = Scaler()
        train = scaler.fit_transform(TimeSeries.from_values(values[:e]))
        model = RNNModel(
            model="LSTM",
            input_chunk_length=look,
            training_length=look + h,
            hidden_dim=64,
            n_epochs=150,
            batch_size=32,
            random_state=0,
            pl_trainer_kwargs={
                "enable_progress_bar": False,
                "accelerator": "cpu",
                "enable_model_summary": False,
            },
        )
        model.fit(train, verbose=False)
        forecasts.append(scaler.inverse_transform(model.predict(h, verbose=False)).values().ravel())
    return {"rel_mase": relative_mase(s, forecasts), "wall_s": time.perf_counter() - start}


CONTENDERS = {
    "glassnet LSTM": lambda n: run_glassnet(n, "rnn.lstm"),
    "glassnet GRU": lambda n: run_glassnet(n, "rnn.gru"),
    "seasonal naive": run_seasonal_naive,
    "statsforecast AutoETS": lambda n: run_statsforecast(n, "AutoETS"),
    "statsforecast AutoARIMA": lambda n: run_statsforecast(n, "AutoARIMA"),
    "darts RNNModel LSTM": run_darts,
}
RUNNERS: dict[str, Any] = {
    f"{c} / {s}": (lambda c=c, s=s: CONTENDERS[c](s)) for c in CONTENDERS for s in SERIES
}


def main() -> str:
    chosen = [a for a in sys.argv[1:] if a in SERIES] or list(SERIES)
    results = run_all(__file__, [f"{c} / {s}" for s in chosen for c in CONTENDERS])
    header = "| series | " + " | ".join(CONTENDERS) + " |"
    lines = [header, "|" + "---|" * (len(CONTENDERS) + 1)]
    for s in chosen:
        cells = []
        for c in CONTENDERS:
            r = results[f"{c} / {s}"]
            if "rel_mase" not in r:
                cells.append("failed")
                continue
            spread = f" ±{r['spread'] / 2:.2f}" if "spread" in r else ""
            cells.append(f"{r['rel_mase']:.3f}{spread} ({r['wall_s']:.1f} s)")
        freq = SERIES[s][1]
        lines.append(f"| {s} ({freq}, h={HORIZON[freq]}) | " + " | ".join(cells) + " |")
    geo, wins, wall = [], [], []
    for c in CONTENDERS:
        scores = [results[f"{c} / {s}"].get("rel_mase") for s in chosen]
        ok = [x for x in scores if x is not None]
        geo.append(f"**{np.exp(np.mean(np.log(ok))):.3f}**" if ok else "-")
        wins.append(f"{sum(x < 1 for x in ok)} / {len(ok)}")
        wall.append(f"{sum(results[f'{c} / {s}'].get('wall_s', 0) for s in chosen):.0f} s")
    lines.append("| geometric mean | " + " | ".join(geo) + " |")
    lines.append("| beats seasonal naive | " + " | ".join(wins) + " |")
    lines.append("| wall time, all series (per seed) | " + " | ".join(wall) + " |")
    text = (
        f"### Forecasting real series: MASE relative to seasonal naive, {FOLDS}-fold "
        "rolling-origin backtest, CPU\n\n"
        "Lower is better; below 1 beats 'the same step one season ago'. glassnet: mean over "
        f"seeds {', '.join(map(str, SEEDS))} (± half the range). Wall time per fit (glassnet: "
        "one seed; the others refit per fold).\n\n" + "\n".join(lines)
    )
    return save("forecasting", text, results)


if __name__ == "__main__":
    entry(RUNNERS, main)
