"""Forecasting on real series bundled offline (benchmarks/real_series.py: statsmodels' data
sets and the data files in sktime's wheel), every contender on the same 3-fold rolling-origin
backtest (the last 3 x horizon points; weekly 52, monthly 12, quarterly 8, yearly 6 steps):

  glassnet LSTM and GRU with their defaults (3 seeds: mean and spread), seasonal naive,
  statsforecast AutoETS and AutoARIMA, and Darts' RNNModel (LSTM, glassnet's lookback,
  64 units, 150 epochs, 1 seed). Where the season is longer than the 24 statsforecast's
  AutoETS fits (it would drop the season) the ETS is statsmodels' seasonal ETSModel, and
  the ARIMA is MSTL + AutoARIMA (a seasonal ARIMA with m = 52 took > 10 min per fit).

Scores are MASE relative to seasonal naive on the same folds (= MAE / seasonal naive's MAE;
below 1 beats "the same step one season ago"), per series and as the geometric mean over
the suite, with wall time. Each contender runs in its own process.

A second table measures training speed with the net, the data and the loss held equal:
glassnet's rnn.lstm on builtin:co2 (weekly, ~1 700 training windows of 104 steps) for a
fixed number of epochs, against hand-written loops training the very same net (built by
the task, on the task's own windows, with its pinball loss): plain (AdamW as its docs show,
clip_grad_norm_, a cosine schedule, validation loss and best weights each epoch) and tuned
(fused AdamW, inference mode for validation). torch.compile is left out: it fails on the
LSTM here. Interleaved rounds, medians with min-max, windows/s and the backtest MASE.

    python benchmarks/bench_forecasting.py            # writes benchmarks/results/forecasting.md
    python benchmarks/bench_forecasting.py airline    # some series only (no speed table)
    python benchmarks/bench_forecasting.py speed      # the speed table only
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
from common import ROUNDS, entry, run_all, save, tables  # noqa: E402
from real_series import HORIZON, SERIES  # noqa: E402

FOLDS = 3
SEEDS = (0, 1, 2)
CSV = Path(tempfile.gettempdir()) / "glassnet-bench-forecasting"
# the speed table's workload
SPEED_DATA, SPEED_EPOCHS, SPEED_BATCH = "builtin:co2", 20, 32


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


# statsforecast's AutoETS fits no season longer than this: past it, it silently fits a
# non-seasonal model (and so loses to seasonal naive on weekly data).
STATSFORECAST_MAX_SEASON = 24


def run_statsforecast(name: str, model: str) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    from statsforecast.models import MSTL, AutoARIMA, AutoETS

    s = setup(name)
    make = {"AutoETS": AutoETS, "AutoARIMA": AutoARIMA}[model]
    if s["m"] <= STATSFORECAST_MAX_SEASON:
        used = model

        def fit(y: np.ndarray, m: int, h: int) -> np.ndarray:
            return make(season_length=m).forecast(y=y, h=h)["mean"]

    elif model == "AutoETS":
        fit, used = seasonal_ets, "statsmodels ETSModel"
    else:  # a seasonal ARIMA with m = 52 ran > 10 min per fit here; statsforecast's docs
        used = f"MSTL + {model}"  # take the season out first (MSTL) for such series

        def fit(y: np.ndarray, m: int, h: int) -> np.ndarray:
            return MSTL(season_length=m, trend_forecaster=make()).forecast(y=y, h=h)["mean"]

    start = time.perf_counter()
    forecasts = [fit(s["values"][:e], s["m"], s["h"]) for e in s["origins"]]
    return {
        "rel_mase": relative_mase(s, forecasts),
        "wall_s": time.perf_counter() - start,
        "model": used,
    }


def seasonal_ets(y: np.ndarray, m: int, h: int) -> np.ndarray:
    """An ETS that keeps a long season (statsmodels' ETSModel): additive error and season,
    trend none, additive or damped, the best by AICc, as AutoETS would choose among them."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    fits = [
        ETSModel(
            y, error="add", trend=trend, damped_trend=damped, seasonal="add", seasonal_periods=m
        ).fit(disp=False)
        for trend, damped in ((None, False), ("add", False), ("add", True))
    ]
    return np.asarray(min(fits, key=lambda f: f.aicc).forecast(h))


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


def run_glassnet_speed() -> dict[str, Any]:
    import glassnet

    run = glassnet.train(
        "forecasting",
        SPEED_DATA,
        epochs=SPEED_EPOCHS,
        batch_size=SPEED_BATCH,
        patience=0,
        seed=0,
        quiet=True,
        out=tempfile.mkdtemp() + "/run",
    )
    fit = run.fit
    assert fit is not None
    return {
        "windows_per_s": fit.samples_seen / fit.train_seconds,
        "loop_s": fit.train_seconds,
        "mase": run.metrics["test"]["mase"],
        "skill": run.metrics["test"]["skill_vs_seasonal_naive"],
    }


def _hand_loop(tuned: bool) -> dict[str, Any]:
    """glassnet's own rnn.lstm forecaster, data and loss, trained by a hand-written loop:
    what glassnet's trainer adds or costs with everything else held equal."""
    import copy
    import math

    import torch

    import glassnet  # noqa: F401  (registers the tasks)
    from glassnet.config import build_spec
    from glassnet.tasks import get_task_class
    from glassnet.tasks.forecasting import pinball

    spec = build_spec("forecasting", {"data": SPEED_DATA})
    task = get_task_class("forecasting")(spec.data, seed=0)
    splits = task.load_data()
    train, val, test = splits.train.batch, splits.val.batch, splits.test.batch
    torch.manual_seed(0)
    net = task.build_net(spec.net)
    quantiles = torch.tensor(task.state()["quantiles"])
    recipe = spec.train
    fused = tuned or None
    opt = torch.optim.AdamW(
        net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=fused
    )
    x, y = train["x"], train["y"]
    steps = SPEED_EPOCHS * math.ceil(len(x) / SPEED_BATCH)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    no_grad = torch.inference_mode if tuned else torch.no_grad
    best, best_state, seen = math.inf, None, 0
    start = time.perf_counter()
    for _ in range(SPEED_EPOCHS):
        net.train()
        for idx in torch.randperm(len(x)).split(SPEED_BATCH):
            loss = pinball(net(x[idx]), y[idx], quantiles)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.clip_grad)
            opt.step()
            schedule.step()
            seen += len(idx)
        net.eval()
        with no_grad():
            val_loss = float(pinball(net(val["x"]), val["y"], quantiles))
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(net.state_dict())
    loop_s = time.perf_counter() - start
    net.load_state_dict(best_state)
    with torch.no_grad():
        scores = task.score(net(test["x"]), test)
    return {
        "windows_per_s": seen / loop_s,
        "loop_s": loop_s,
        "mase": scores["mase"],
        "skill": scores["skill_vs_seasonal_naive"],
    }


SPEED_PLAIN = "hand loop, same net, plain"
SPEED_TUNED = "hand loop, same net, tuned (fused AdamW)"
SPEED = {
    "glassnet rnn.lstm": run_glassnet_speed,
    SPEED_PLAIN: lambda: _hand_loop(tuned=False),
    SPEED_TUNED: lambda: _hand_loop(tuned=True),
}


def speed_table() -> tuple[str, dict[str, Any]]:
    import torch

    results = run_all(__file__, list(SPEED), rounds=ROUNDS)
    text = (
        f"### Forecasting training speed ({SPEED_DATA}: weekly, lookback 104, horizon 52; "
        f"rnn.lstm, batch {SPEED_BATCH}, {SPEED_EPOCHS} epochs with validation after each, "
        f"CPU, {torch.get_num_threads()} torch threads; medians of {ROUNDS} interleaved "
        "rounds, min-max in brackets; the net, windows and loss held equal)\n\n"
        + tables(
            results,
            [
                ("windows_per_s", "train windows/s", ".0f"),
                ("loop_s", "loop s", ".1f"),
                ("mase", "backtest MASE", ".3f"),
                ("skill", "skill vs seasonal naive", ".3f"),
                ("peak_rss_mb", "peak RSS MB", ".0f"),
            ],
            [SPEED_PLAIN, SPEED_TUNED],
            "windows_per_s",
        )
    )
    return text, results


CONTENDERS = {
    "glassnet LSTM": lambda n: run_glassnet(n, "rnn.lstm"),
    "glassnet GRU": lambda n: run_glassnet(n, "rnn.gru"),
    "seasonal naive": run_seasonal_naive,
    "statsforecast AutoETS": lambda n: run_statsforecast(n, "AutoETS"),
    "statsforecast AutoARIMA": lambda n: run_statsforecast(n, "AutoARIMA"),
    "darts RNNModel LSTM": run_darts,
}
RUNNERS: dict[str, Any] = {
    **{f"{c} / {s}": (lambda c=c, s=s: CONTENDERS[c](s)) for c in CONTENDERS for s in SERIES},
    **SPEED,
}


def main() -> str:
    args = sys.argv[1:]
    if "speed" in args or not args:
        text, results = speed_table()
        save("forecasting_speed", text, results)
        if args:
            return text
    chosen = [a for a in args if a in SERIES] or list(SERIES)
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
            used = f", {r['model']}" if r.get("model", c.split()[-1]) not in c else ""
            cells.append(f"{r['rel_mase']:.3f}{spread} ({r['wall_s']:.1f} s{used})")
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
