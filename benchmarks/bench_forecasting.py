"""Forecasting on the same series and the same backtest folds: glassnet's LSTM, Darts'
RNNModel (LSTM) and statsforecast's AutoETS. MASE (the glassnet run's scale: in-sample
seasonal naive) and wall time side by side.

    python benchmarks/bench_forecasting.py     # writes benchmarks/results/forecasting.md
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import entry, run_all, save, table  # noqa: E402

DATASETS = {"co2": {"epochs": 25}, "sunspots": {}}
SETUP = Path(tempfile.gettempdir()) / "glassnet-bench-forecasting"


def _glassnet_run(name: str) -> tuple[Any, float]:
    import glassnet

    start = time.perf_counter()
    run = glassnet.train(
        "forecasting",
        f"builtin:{name}",
        quiet=True,
        out=tempfile.mkdtemp() + "/run",
        **DATASETS[name],
    )
    return run, time.perf_counter() - start


def folds(name: str) -> dict[str, Any]:
    """Series values, fold origins, horizon, season and MASE scale from a glassnet run, so
    every contender is scored on exactly the same points (written once, shared)."""
    path = SETUP / f"{name}.json"
    if not path.exists():
        from glassnet.tasks.sources import resolve

        run, wall = _glassnet_run(name)
        st = run.task.state()
        table_, _ = run.task._read(str(resolve(run.spec.data.data)[0]))
        values = table_.frame[st["target"]].to_numpy(float)
        origins = run.task._fold_origins(len(values))
        SETUP.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "values": values.tolist(),
                    "origins": origins,
                    "horizon": st["horizon"],
                    "season": st["season"],
                    "lookback": st["lookback"],
                    "scale": st["series"]["series"]["mase_scale"],
                    "glassnet": {
                        "mase": run.metrics["test"]["mase"],
                        "wall_s": wall,
                        "seasonal_naive_mase": run.metrics["test"]["seasonal_naive_mase"],
                    },
                }
            )
        )
    return json.loads(path.read_text())


def _mase(setup: dict[str, Any], forecasts: list[np.ndarray]) -> float:
    values, h = np.array(setup["values"]), setup["horizon"]
    errs = [np.abs(values[e : e + h] - f) for e, f in zip(setup["origins"], forecasts, strict=True)]
    return float(np.mean(np.concatenate(errs)) / setup["scale"])


def run_glassnet(name: str) -> dict[str, Any]:
    run, wall = _glassnet_run(name)
    return {"mase": run.metrics["test"]["mase"], "wall_s": wall}


def run_darts(name: str) -> dict[str, Any]:
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import RNNModel

    setup = folds(name)
    values = np.array(setup["values"], dtype=np.float32)
    h, look = setup["horizon"], setup["lookback"]
    start = time.perf_counter()
    train_end = setup["origins"][0]
    scaler = Scaler()
    train = scaler.fit_transform(TimeSeries.from_values(values[:train_end]))
    model = RNNModel(
        model="LSTM",
        input_chunk_length=look,
        training_length=look + h,
        hidden_dim=64,
        n_epochs=DATASETS[name].get("epochs", 150),
        batch_size=32,
        random_state=0,
        pl_trainer_kwargs={
            "enable_progress_bar": False,
            "accelerator": "cpu",
            "enable_model_summary": False,
        },
    )
    model.fit(train, verbose=False)
    forecasts = []
    for e in setup["origins"]:
        hist = scaler.transform(TimeSeries.from_values(values[:e]))
        pred = scaler.inverse_transform(model.predict(h, series=hist, verbose=False))
        forecasts.append(pred.values().ravel())
    return {"mase": _mase(setup, forecasts), "wall_s": time.perf_counter() - start}


def run_ets(name: str) -> dict[str, Any]:
    from statsforecast.models import AutoETS

    setup = folds(name)
    values = np.array(setup["values"])
    h, m = setup["horizon"], setup["season"]
    start = time.perf_counter()
    forecasts = []
    for e in setup["origins"]:
        # statsforecast's ETS takes seasons up to 24; longer ones (weekly, 52) fit without.
        model = AutoETS(season_length=m if 1 < m <= 24 else 1)
        forecasts.append(model.forecast(y=values[:e], h=h)["mean"])
    return {"mase": _mase(setup, forecasts), "wall_s": time.perf_counter() - start}


RUNNERS: dict[str, Any] = {}
for _name in DATASETS:
    RUNNERS[f"glassnet LSTM / {_name}"] = lambda n=_name: run_glassnet(n)
    RUNNERS[f"darts RNNModel LSTM / {_name}"] = lambda n=_name: run_darts(n)
    RUNNERS[f"statsforecast AutoETS / {_name}"] = lambda n=_name: run_ets(n)


def main() -> str:
    texts = []
    for name in DATASETS:
        setup = folds(name)
        names = [k for k in RUNNERS if k.endswith(f"/ {name}")]
        results = run_all(__file__, names)
        results[f"seasonal naive / {name}"] = {"mase": setup["glassnet"]["seasonal_naive_mase"]}
        texts.append(
            f"### Forecasting {name}: {len(setup['origins'])} folds x {setup['horizon']} "
            f"steps, season {setup['season']}, CPU\n\n"
            + table(
                results,
                [
                    ("mase", "MASE (lower is better)", ".3f"),
                    ("wall_s", "wall s", ".1f"),
                    ("peak_rss_mb", "peak RSS MB", ".0f"),
                ],
                reference=f"glassnet LSTM / {name}",
                ratio_key="wall_s",  # speed-up
                higher_is_better=False,
            )
        )
    text = "\n\n".join(texts)
    return save("forecasting", text, {})


if __name__ == "__main__":
    entry(RUNNERS, main)
