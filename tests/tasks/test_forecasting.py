"""Forecasting: skill against seasonal naive on real series, leak-free backtests, ordered
quantiles, reload, predict past the end, covariates, and every data error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

import glassnet
from glassnet.data.series import detect_season
from glassnet.errors import DataError

FAST = dict(epochs=30, quiet=True, hidden=16, patience=0)


def synthetic(
    n: int = 200, series: int = 1, seed: int = 0, start: str = "2020-01-01"
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(series):
        t = np.arange(n)
        price = rng.normal(10, 1, n)
        y = (
            20
            + 5 * np.sin(2 * np.pi * t / 7)
            + 0.05 * t
            - 0.8 * (price - 10)
            + rng.normal(0, 0.3, n)
        )
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.date_range(start, periods=n, freq="D"),
                    "store": f"s{s}",
                    "sales": y,
                    "price": price,
                    "temp": rng.normal(15, 3, n),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    return frame


@pytest.mark.parametrize(
    "name,options",
    [
        ("co2", {"epochs": 25}),  # 3 x 52 held-out weeks (2 199 points, 10 s of CPU)
        ("sunspots", {}),  # 3 x 5 held-out years (309 points)
    ],
)
def test_lstm_beats_seasonal_naive_on_held_out_years(
    name: str, options: dict, workdir: Path
) -> None:
    run = glassnet.train("forecasting", f"builtin:{name}", quiet=True, **options)
    assert run.spec.net.name == "rnn.lstm"
    test = run.metrics["test"]
    assert test["mase"] < test["seasonal_naive_mase"], test
    assert test["skill_vs_seasonal_naive"] > 0


def forecasting_task(frame: pd.DataFrame, **options: object) -> object:
    """The task as a run would build it, before any net: for looking at its windows."""
    from glassnet.engine.session import plan
    from glassnet.tasks.forecasting import ForecastingTask

    spec, objects = plan("forecasting", frame, **options)
    return ForecastingTask(spec.data, seed=0, objects=objects)


def test_defaults_beat_seasonal_naive_on_airline_passengers(workdir: Path) -> None:
    """A real series no one here wrote (Box & Jenkins' airline data: trend and seasons that
    grow with it), defaults only, mean over two seeds (the benchmark: 0.54 of seasonal naive;
    the LSTM before window-relative inputs and the seasonal-naive start: 1.07)."""
    ratios = []
    for seed in (0, 1):
        run = glassnet.train("forecasting", "builtin:airline", seed=seed, quiet=True)
        test = run.metrics["test"]
        ratios.append(test["mase"] / test["seasonal_naive_mase"])
    assert np.mean(ratios) < 0.8, ratios


@pytest.mark.parametrize("transform", ["none", "log"])
@pytest.mark.parametrize("level", ["window", "series"])
def test_encoding_round_trips_to_the_series_units(transform: str, level: str) -> None:
    """The windows' targets, decoded as if they were the forecast, are the series' own values:
    the log transform and the window level are undone exactly."""
    frame = synthetic(120)
    task = forecasting_task(
        frame, time="date", target="sales", horizon=7, transform=transform, level=level
    )
    splits = task.load_data()
    batch = splits.test.take(range(len(splits.test)))
    as_forecast = batch["y"][..., None].repeat(1, 1, 3)  # every quantile = the truth
    decoded = np.stack([p["forecast"][:, 1] for p in task.decode(as_forecast, batch)])
    origins = task._fold_origins(len(frame))
    truth = np.stack([frame["sales"].to_numpy()[e : e + 7] for e in origins])
    np.testing.assert_allclose(decoded, truth, rtol=1e-6)
    assert task.score(as_forecast, batch)["mae"] < 1e-4


def test_log_transform_needs_positive_values_and_auto_takes_it_for_growing_swings() -> None:
    from glassnet.tasks.forecasting import _choose_transform

    t = np.arange(144)
    growing = pd.DataFrame({"y": (100 + 3 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12))})
    steady = pd.DataFrame({"y": 100 + 3 * t + 30 * np.sin(2 * np.pi * t / 12)})
    assert _choose_transform("auto", {"a": growing}, "y", 12) == "log"
    assert _choose_transform("auto", {"a": steady}, "y", 12) == "none"
    with pytest.raises(DataError, match="needs positive values"):
        _choose_transform("log", {"a": steady - 200}, "y", 12)


@pytest.mark.parametrize(
    "kind,lag",
    [("seasonal", 12), ("random walk", 1), ("noise", 0)],
)
def test_an_untrained_net_forecasts_the_best_simple_rule(kind: str, lag: int) -> None:
    """The start is chosen on the training windows, and before any training the median
    forecast is exactly that rule (the highway starts as it, the head's last layer at zero)."""
    from glassnet.config import NetSpec

    rng = np.random.default_rng(0)
    t = np.arange(240)
    y = {
        "seasonal": 50 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 240),
        "random walk": 50 + rng.normal(0, 1, 240).cumsum(),
        "noise": 50 + rng.normal(0, 1, 240),
    }[kind]
    frame = pd.DataFrame(
        {"month": pd.date_range("2000-01-01", periods=240, freq="MS").strftime("%Y-%m-%d"), "y": y}
    )
    task = forecasting_task(frame, time="month", target="y", horizon=12)
    splits = task.load_data()
    assert task.state()["start_lag"] == lag
    assert any("starts from forecasting" in n for n in splits.notes)
    net = task.build_net(NetSpec(name="rnn.lstm")).eval()
    batch = splits.test.take(range(len(splits.test)))
    with torch.no_grad():
        forecast = task.decode(net(batch["x"]), batch)
    look = task.state()["lookback"]
    for p, e in zip(forecast, task._fold_origins(240), strict=True):
        if lag == 0:
            rule = np.full(12, y[e - look : e].mean())
        else:
            rule = np.array([y[e - lag + h % lag] for h in range(12)])
        np.testing.assert_allclose(p["forecast"][:, 1], rule, rtol=1e-4)


def test_backtest_never_sees_the_future(workdir: Path) -> None:
    frame = synthetic(160)
    poisoned = frame.copy()
    poisoned.loc[len(frame) - 3 * 7 :, "sales"] = 1e6  # the backtest region: 3 folds x 7
    options = dict(time="date", target="sales", horizon=7, deterministic=True, **FAST)
    clean = glassnet.train("forecasting", frame, out="clean", **options)
    bad = glassnet.train("forecasting", poisoned, out="bad", **options)
    a, b = load_file("clean/model.safetensors"), load_file("bad/model.safetensors")
    assert all(bool((a[k] == b[k]).all()) for k in a)
    assert clean.metrics["val"] == bad.metrics["val"]
    assert bad.metrics["test"]["mae"] > 1000 * clean.metrics["test"]["mae"]


def test_quantiles_reload_and_predict_past_the_end(workdir: Path) -> None:
    synthetic(150).to_csv("sales.csv", index=False)
    run = glassnet.train(
        "forecasting", "sales.csv", time="date", target="sales", horizon=7, out="r", **FAST
    )
    forecast = run.predict("sales.csv")
    assert len(forecast) == 7 and list(forecast["step"]) == list(range(1, 8))
    assert forecast["date"].iloc[0] == pd.Timestamp("2020-05-30")  # the day after the end
    assert (forecast["q0.1"] <= forecast["q0.5"]).all()
    assert (forecast["q0.5"] <= forecast["q0.9"]).all()
    widen = json.loads(Path("r/preprocess.json").read_text())["widen"]  # after training
    assert np.shape(widen) == (1, 7)
    assert any(
        "interval covered" in n for n in yaml.safe_load(Path("r/run.yaml").read_text())["notes"]
    )
    pd.testing.assert_frame_equal(forecast, glassnet.load("r").predict("sales.csv"))
    backtest = glassnet.load("r").evaluate()
    assert backtest["n"] == 3 and {
        "mase",
        "naive_mase",
        "seasonal_naive_mase",
        "skill_vs_seasonal_naive",
    } <= set(backtest)


def test_intervals_widen_to_cover_their_share_of_unseen_windows() -> None:
    """Split conformal, checked where the answer is known: a net twice too sure of itself
    (quantiles of N(0, s/2) for targets from N(0, s), s growing with the step) is widened on
    300 calibration windows until, on 20 000 fresh ones, each step's 80 % and 50 % intervals
    cover 80 % and 50 %; an interval already too wide stays as it is; order is kept."""
    from scipy.stats import norm

    from glassnet.tasks.forecasting import conformal_widening, widened

    rng = np.random.default_rng(0)
    quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
    spread = np.array([1.0, 1.5, 2.0, 3.0])  # per step ahead

    def forecasts(n: int, sureness: float) -> tuple[np.ndarray, np.ndarray]:
        z = norm.ppf(quantiles) * sureness
        out = np.broadcast_to(spread[:, None] * z, (n, 4, 5)).astype(np.float32)
        return out, rng.normal(0, spread, (n, 4))

    out, y = forecasts(300, 0.5)
    widen = conformal_widening(out, y, quantiles)
    assert widen.shape == (2, 4) and (widen[0] >= widen[1]).all() and (widen > 0).all()
    fresh, truth = forecasts(20_000, 0.5)
    moved = widened(fresh, widen.tolist())
    assert (np.diff(moved, axis=-1) >= 0).all()
    for pair, share in ((0, 0.8), (1, 0.5)):
        inside = (truth >= moved[..., pair]) & (truth <= moved[..., -1 - pair])
        np.testing.assert_allclose(inside.mean(0), share, atol=0.06)
        raw = (truth >= fresh[..., pair]) & (truth <= fresh[..., -1 - pair])
        assert (raw.mean(0) < share - 0.15).all()  # what it was before
    wide, y = forecasts(300, 2.0)
    assert not conformal_widening(wide, y, quantiles).any()


def test_a_median_only_forecaster_has_no_interval_to_widen(workdir: Path) -> None:
    run = glassnet.train(
        "forecasting",
        synthetic(150),
        time="date",
        target="sales",
        horizon=7,
        quantiles=[0.5],
        out="r",
        **FAST,
    )
    assert "widen" not in run.task.state()
    assert list(run.predict(synthetic(150)).filter(like="q0.")) == ["q0.5"]


def test_cli_predict_writes_csv_and_plot(workdir: Path) -> None:
    synthetic(150).to_csv("sales.csv", index=False)
    glassnet.train(
        "forecasting", "sales.csv", time="date", target="sales", horizon=7, out="r", **FAST
    )
    res = subprocess.run(
        [sys.executable, "-m", "glassnet", "predict", "r", "sales.csv", "--out", "forecast.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv("forecast.csv")) == 7
    assert Path("forecast.png").read_bytes()[:4] == b"\x89PNG"
    ev = subprocess.run(
        [sys.executable, "-m", "glassnet", "evaluate", "r"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ev.returncode == 0 and "seasonal_naive_mase" in ev.stdout, ev.stderr


def test_many_series_with_past_and_future_covariates(workdir: Path) -> None:
    frame = synthetic(120, series=3)
    run = glassnet.train(
        "forecasting",
        frame,
        time="date",
        target="sales",
        id="store",
        past=["temp"],
        future=["price"],
        horizon=5,
        **FAST,
    )
    assert set(run.task.state()["series"]) == {"s0", "s1", "s2"}
    history = frame.copy()
    with pytest.raises(DataError, match="needs the future covariate 'price'"):
        run.predict(history)
    ahead = []
    for s in ("s0", "s1", "s2"):
        ahead.append(
            pd.DataFrame(
                {
                    "date": pd.date_range("2020-04-30", periods=5).strftime("%Y-%m-%d"),
                    "store": s,
                    "price": 10.0,
                }
            )
        )
    forecast = run.predict(pd.concat([history, *ahead], ignore_index=True))
    assert len(forecast) == 15 and set(forecast["series"]) == {"s0", "s1", "s2"}


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda f: f.assign(date=f["date"].where(f.index != 5, "not a date")),
            "cannot read the timestamp in row 6 of column 'date': 'not a date'",
        ),
        (lambda f: pd.concat([f, f.iloc[[10]]]), "appears twice in series 'series'"),
        (lambda f: f.drop(index=range(20, 30)), "10 gap(s) (missing timestamps or values, 10%"),
        (
            lambda f: f.assign(sales=f["sales"].astype(object).where(f.index != 7, "n/a")),
            "non-numeric value in row 8",
        ),
        (lambda f: f.head(30), "needs at least"),
        (
            lambda f: f.assign(date=[f"2020-01-{1 + (i * 3) % 28:02d}" for i in range(len(f))]),
            "twice",
        ),
    ],
)
def test_data_errors_name_the_row_and_series(edit, message: str, workdir: Path) -> None:  # noqa: ANN001
    frame = edit(synthetic(100))
    with pytest.raises(DataError) as err:
        glassnet.train("forecasting", frame, time="date", target="sales", horizon=7, **FAST)
    assert message in str(err.value)


def test_gaps_are_filled_on_request_and_irregular_series_refused(workdir: Path) -> None:
    """A few lost readings (2 of 100) are interpolated unasked, with a note; --no-fill
    stops at them; whole stretches (10 of 100) stop unless --fill is given."""
    few = synthetic(100).drop(index=[20, 21])
    run = glassnet.train("forecasting", few, time="date", target="sales", horizon=7, **FAST)
    said = (run.path / "run.yaml").read_text()
    assert "filled 2 gap(s) by interpolation (2 missing timestamps)" in said
    with pytest.raises(DataError, match=r"2 gap\(s\) \(missing timestamps or values\), the first"):
        glassnet.train(
            "forecasting", few, time="date", target="sales", horizon=7, fill=False, **FAST
        )
    many = synthetic(100).drop(index=range(20, 30))
    with pytest.raises(DataError, match="--fill"):
        glassnet.train("forecasting", many, time="date", target="sales", horizon=7, **FAST)
    run = glassnet.train(
        "forecasting", many, time="date", target="sales", horizon=7, fill=True, **FAST
    )
    assert run.path.is_dir()
    irregular = synthetic(100)
    irregular["date"] = pd.to_datetime(irregular["date"]) + pd.to_timedelta(
        np.random.default_rng(0).integers(0, 5, 100).cumsum(), unit="h"
    )
    with pytest.raises(DataError, match="not evenly spaced"):
        glassnet.train("forecasting", irregular, time="date", target="sales", horizon=7, **FAST)


def test_season_detection() -> None:
    t = np.arange(300)
    assert detect_season(np.sin(2 * np.pi * t / 11), 1) == 11
    assert detect_season(np.zeros(50), "MS") == 12
    assert detect_season(np.random.default_rng(0).normal(size=100), 1) == 1
    # persistence with a bump is no season (Nile's flow: ACF 0.49 0.36 0.23 0.20 0.23 ...)
    rng = np.random.default_rng(1)
    persistent = np.zeros(100)
    for i in range(1, 100):
        persistent[i] = 0.7 * persistent[i - 1] + rng.normal()
    assert detect_season(persistent, 1) == 1


def test_autoregressive_decoder_and_gru(workdir: Path) -> None:
    frame = synthetic(150)
    for options in (dict(decoder="autoregressive"), dict(net="rnn.gru", layers=2)):
        run = glassnet.train(
            "forecasting", frame, time="date", target="sales", horizon=7, **{**FAST, **options}
        )
        forecast = run.predict(frame)
        assert (forecast["q0.1"] <= forecast["q0.9"]).all() and len(forecast) == 7


@pytest.mark.parametrize(
    "name,points",
    [
        ("co2", 2284),
        ("sunspots", 309),
        ("elnino", 732),
        ("macrodata", 203),
        ("airline", 144),
        ("elec-equip", 257),
    ],
)
def test_builtin_series_read_cleanly(name: str, points: int, tmp_path: Path) -> None:
    from glassnet.data.builtin import get_dataset
    from glassnet.data.series import read_series

    ds = get_dataset(name)
    frame = pd.read_csv(ds.make(tmp_path))
    d = ds.defaults
    table = read_series(
        frame,
        source=name,
        time=d["time"],
        target=d["target"],
        id_column=None,
        covariates=d.get("past", []),
        fill=d.get("fill", False),
    )
    assert len(table.frame) == points


def test_row_split_options_are_refused_and_hidden() -> None:
    from glassnet.errors import ConfigError

    with pytest.raises(ConfigError, match="val_fraction do not apply to forecasting"):
        glassnet.train("forecasting", synthetic(100), val_fraction=0.2, quiet=True)
    res = subprocess.run(
        [sys.executable, "-m", "glassnet", "train", "forecasting", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--val-fraction" not in res.stdout and "--folds" in res.stdout


def test_mixed_utc_offsets_are_put_on_one_clock() -> None:
    """Daily data across a summer-time change is regular on the local clock; hourly data
    is regular in UTC. Either way the series reads, with a note saying which clock."""
    from glassnet.data.series import read_series

    daily = pd.DataFrame(
        {
            "t": [
                f"2024-03-{d:02d}T00:00:00{'+01:00' if d < 15 else '+02:00'}" for d in range(1, 31)
            ],
            "y": np.arange(30.0),
        }
    )
    table = read_series(
        daily, source="x", time="t", target="y", id_column=None, covariates=[], fill=False
    )
    assert table.freq == "D" and "local clock" in table.notes[0]
    hours = pd.date_range("2024-03-30T20:00Z", periods=30, freq="h").tz_convert("Europe/Paris")
    hourly = pd.DataFrame({"t": [h.isoformat() for h in hours], "y": np.arange(30.0)})
    table = read_series(
        hourly, source="x", time="t", target="y", id_column=None, covariates=[], fill=False
    )
    assert table.freq == "h" and "UTC" in table.notes[0]
