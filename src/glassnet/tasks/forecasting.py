"""Forecasting task: the next `horizon` steps of one or many series, with an RNN (`rnn.*`).

One global model across series, each scaled by its own training mean and spread. The last
`folds x horizon` steps of every series are never trained on: `evaluate` backtests there
(rolling origin, one fold per horizon) against naive and seasonal-naive forecasts.
"""

from __future__ import annotations

from math import ceil
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator
from torch import nn

from glassnet.config import DataSpec, NetSpec, TableDataSpec
from glassnet.data.series import (
    FEW_GAPS,
    SeriesTable,
    detect_season,
    parse_time,
    read_series,
)
from glassnet.data.splits import Batch, TensorSplit
from glassnet.data.tables import require_column
from glassnet.errors import ConfigError, DataError
from glassnet.nets import create_net
from glassnet.tasks import sources
from glassnet.tasks._base import (
    DataSplits,
    Encoded,
    StepOutput,
    Task,
    plain,
    register_task,
)
from glassnet.tasks.messages import HistoryRequest, Request


class ForecastingDataSpec(TableDataSpec):
    # The held-out parts are the last folds x horizon steps (and the stretch before them),
    # not random rows or separate files.
    not_used: ClassVar[tuple[str, ...]] = ("val", "test", "val_fraction", "test_fraction")

    @model_validator(mode="after")
    def _no_row_splits(self) -> ForecastingDataSpec:
        given = [k for k in self.not_used if getattr(self, k) != type(self).model_fields[k].default]
        if given:
            raise ValueError(
                f"{', '.join(given)} do not apply to forecasting: the last "
                "--folds x --horizon steps of each series are held out instead"
            )
        return self

    time: str | None = Field(None, description="the time column (dates, or whole-number steps)")
    target: str | None = Field(None, description="the column to forecast")
    id: str | None = Field(None, description="a column naming the series, for many series")
    past: list[str] = Field(default_factory=list, description="covariates known only up to now")
    future: list[str] = Field(
        default_factory=list, description="covariates known ahead (prices, holidays)"
    )
    horizon: int = Field(14, ge=1, description="steps to forecast")
    lookback: int | None = Field(None, ge=2, description="steps the net reads (default: auto)")
    season: int | None = Field(None, ge=1, description="season length (default: detected)")
    fill: bool | None = Field(
        None,
        description="interpolate gaps (missing timestamps or values); --no-fill stops at the "
        f"first instead (default: interpolate where at most {FEW_GAPS:.0%} of a series is "
        "missing, stop where more is)",
    )
    transform: Literal["auto", "log", "none"] = Field(
        "none",
        description="log: model log(values), for positive series whose swings grow with their "
        "level; auto: log where a test on the training part says so",
    )
    level: Literal["window", "series"] = Field(
        "window",
        description="window: each window is read relative to its own mean, so a level never "
        "seen in training is no extrapolation; series: one scale per series",
    )
    folds: int = Field(3, ge=1, description="backtest folds at the end of each series")
    quantiles: list[float] = Field(
        default_factory=lambda: [0.1, 0.5, 0.9],
        description="forecast quantiles (odd count, sorted)",
    )


def pinball(pred: torch.Tensor, y: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Quantile loss: (B, H, Q) predictions against (B, H) targets."""
    diff = y.unsqueeze(-1) - pred
    return torch.maximum(quantiles * diff, (quantiles - 1) * diff).mean()


@register_task
class ForecastingTask(Task):
    """A series in, its next steps out (with an interval)."""

    name: ClassVar[str] = "forecasting"
    data_spec: ClassVar[type[DataSpec]] = ForecastingDataSpec
    default_net: ClassVar[str] = "rnn.lstm"
    # Windows of one or a few series are few: more, smaller steps, more patience.
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 150, "batch_size": 32, "patience": 25}
    spec: ForecastingDataSpec

    prediction_figure: ClassVar[str | None] = "forecast"
    calibrates: ClassVar[bool] = True  # the intervals, on the validation windows
    evaluation_figure: ClassVar[str | None] = "backtest"

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        super().check_spec(spec)
        assert isinstance(spec, ForecastingDataSpec)
        if not spec.time or not spec.target:
            columns = sources.peek_columns(spec.data)
            raise ConfigError(
                "forecasting needs --time and --target columns",
                fix=f"Columns are: {', '.join(columns)}" if columns else "Name both columns",
            )
        overlap = set(spec.past) & set(spec.future)
        if overlap:
            raise ConfigError(f"{', '.join(sorted(overlap))} cannot be both past and future")
        quantiles = spec.quantiles
        if (
            len(quantiles) % 2 == 0
            or sorted(quantiles) != quantiles
            or not all(0 < q < 1 for q in quantiles)
        ):
            raise ConfigError(
                f"quantiles must be an odd number of sorted values in (0, 1), got {quantiles}",
                fix="For example --quantiles 0.1,0.5,0.9",
            )

    # ---- reading -------------------------------------------------------------------------
    def _read(self, raw: pd.DataFrame, source: str, fill: bool | None = None) -> SeriesTable:
        spec = self.spec
        assert spec.time and spec.target
        return read_series(
            raw,
            source=source,
            time=spec.time,
            target=spec.target,
            id_column=spec.id,
            covariates=[*spec.past, *spec.future],
            fill=spec.fill if fill is None else fill,
        )

    # ---- windows -------------------------------------------------------------------------
    def _features(self, part: pd.DataFrame, sid: str) -> np.ndarray:
        """(T, F) scaled features: target, past covariates, future covariates."""
        st = self.state()
        scale = st["series"][sid]
        cols = [*st["past"], *st["future"]]
        target = (to_model(part[st["target"]].to_numpy(float), st) - scale["mean"]) / scale["std"]
        if not cols:
            return target[:, None]
        cov = (part[cols].to_numpy(float) - np.array(st["cov_mean"])) / np.array(st["cov_std"])
        return np.concatenate([target[:, None], cov], axis=1)

    def _windows(
        self, feats: np.ndarray, values: np.ndarray, origins: list[int], sid: str
    ) -> dict[str, np.ndarray]:
        """Inputs, scaled targets and baselines for forecasts starting at each origin."""
        st = self.state()
        look, hor, m = st["lookback"], st["horizon"], st["season"]
        n_fut = len(st["future"])
        scale = st["series"][sid]
        by_window = st.get("level") == "window"
        xs, ys, naive, snaive, levels = [], [], [], [], []
        for e in origins:
            x = np.zeros((look + hor, feats.shape[1]))
            x[:look] = feats[e - look : e]
            level = float(x[:look, 0].mean()) if by_window else 0.0
            x[:look, 0] -= level
            if n_fut:
                x[look:, -n_fut:] = feats[e : e + hor, -n_fut:]
            xs.append(x)
            ys.append((feats[e : e + hor, 0] if e + hor <= len(feats) else np.zeros(hor)) - level)
            levels.append(scale["mean"] + level * scale["std"])
            naive.append(np.full(hor, values[e - 1]))
            snaive.append(np.array([values[e + h - m * ((h // m) + 1)] for h in range(hor)]))
        k = len(origins)
        return {
            "x": np.array(xs, np.float32),
            "y": np.array(ys, np.float32),
            "naive": np.array(naive, np.float32),
            "snaive": np.array(snaive, np.float32),
            "mean": np.array(levels, np.float32),
            "std": np.full(k, scale["std"], np.float32),
            "mase_scale": np.full(k, scale["mase_scale"], np.float32),
        }

    def _cuts(self, n: int) -> tuple[int, int]:
        """(first validation target, first backtest target) for a series of length n."""
        st = self.state()
        test0 = n - st["folds"] * st["horizon"]
        val0 = test0 - max(st["horizon"], n // 10)
        return val0, test0

    # ---- the Task interface --------------------------------------------------------------
    def load_data(self) -> DataSplits:
        src = self.source("data")
        assert src is not None
        table = self._read(sources.frame_of(src, self.spec.sep), src.name)
        spec = self.spec
        groups = {sid: part.reset_index(drop=True) for sid, part in table.frame.groupby("id")}
        shortest = min(len(p) for p in groups.values())
        season = spec.season or detect_season(
            next(iter(groups.values()))[spec.target].to_numpy(float)[: max(shortest // 2, 3)],
            table.freq,
        )
        hor = spec.horizon
        lookback = spec.lookback or int(min(max(hor, season + hor, 8), max(shortest // 4, 2)))
        self._st = {
            "time": spec.time,
            "target": spec.target,
            "id": spec.id,
            "past": spec.past,
            "future": spec.future,
            "horizon": hor,
            "lookback": lookback,
            "season": season,
            "folds": spec.folds,
            "freq": table.freq,
            "quantiles": spec.quantiles,
            "fill": spec.fill,
            "level": spec.level,
            "transform": _choose_transform(spec.transform, groups, spec.target, season),
            "series": {},
            "cov_mean": [],
            "cov_std": [],
        }
        needed = lookback + hor + max(hor, shortest // 10) + spec.folds * hor + 1
        for sid, part in groups.items():
            if len(part) < needed:
                raise DataError(
                    f"series '{sid}' has {len(part)} points; forecasting {hor} steps from "
                    f"{lookback} needs at least {needed} (lookback + horizon + validation + "
                    f"{spec.folds} backtest folds x horizon)",
                    fix="Use a shorter --horizon/--lookback, fewer --folds, or more data",
                )
        covs = [*spec.past, *spec.future]
        train_rows = []
        for sid, part in groups.items():
            val0, _ = self._cuts(len(part))
            y = part[spec.target].to_numpy(float)[:val0]
            m = season if season < len(y) else 1
            mase = float(np.mean(np.abs(y[m:] - y[:-m]))) or 1.0
            modelled = to_model(y, self._st)
            self._st["series"][sid] = {
                "mean": float(modelled.mean()),
                "std": float(modelled.std() or 1.0),
                "mase_scale": mase,
                "length": len(part),
            }
            train_rows.append(part.iloc[:val0])
        if covs:
            train = pd.concat(train_rows)[covs].to_numpy(float)
            self._st["cov_mean"] = train.mean(0).tolist()
            self._st["cov_std"] = np.where(train.std(0) > 0, train.std(0), 1.0).tolist()
        parts: dict[str, list[dict[str, np.ndarray]]] = {"train": [], "val": [], "test": []}
        for sid, part in groups.items():
            feats = self._features(part, sid)
            values = part[spec.target].to_numpy(float)
            val0, test0 = self._cuts(len(part))
            parts["train"].append(
                self._windows(feats, values, list(range(lookback, val0 - hor + 1)), sid)
            )
            parts["val"].append(
                self._windows(feats, values, list(range(val0, test0 - hor + 1)), sid)
            )
            parts["test"].append(self._windows(feats, values, self._fold_origins(len(part)), sid))
        splits = {k: TensorSplit(_stack(v)) for k, v in parts.items()}
        self._st["start_lag"], start_note = _best_start(splits["train"].batch, lookback, season)
        notes = table.notes + [
            f"{len(groups)} series, {shortest}+ points each, frequency "
            f"{table.freq}, season {season}, lookback {lookback}, "
            f"horizon {hor}; the last {spec.folds} x {hor} steps are held "
            "out for the backtest",
            start_note,
        ]
        if self._st["transform"] == "log":
            notes.append("the net models log(values) (--transform none to model them as they are)")
        return DataSplits(
            train=splits["train"], val=splits["val"], test=splits["test"], notes=notes
        )

    def _fold_origins(self, n: int) -> list[int]:
        _, test0 = self._cuts(n)
        return [test0 + k * self.state()["horizon"] for k in range(self.state()["folds"])]

    def evaluates_own_data(self) -> bool:
        return True

    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        return create_net(
            net.name,
            n_features=1 + len(st["past"]) + len(st["future"]),
            n_future=len(st["future"]),
            lookback=st["lookback"],
            horizon=st["horizon"],
            n_quantiles=len(st["quantiles"]),
            start_lag=st.get("start_lag", 1),
            **net.options,
        )

    request_model = HistoryRequest

    def request_source(self, request: Request) -> Any:
        assert isinstance(request, HistoryRequest)
        return pd.DataFrame([dict(r) for r in request.history])

    def request_example(self) -> dict[str, Any] | None:
        """The latest stretch of the run's own series (enough for one forecast), as a
        request: what /docs and the lab fill in. None when that data cannot be read.
        Read once per task (the lab asks on every page of the run)."""
        if not hasattr(self, "_example"):
            self._example = self._latest_history()
        return self._example

    def _latest_history(self) -> dict[str, Any] | None:
        st = self.state()
        try:
            src = self.source("data")
            frame = sources.frame_of(src, self.spec.sep) if src is not None else None
        except Exception:  # noqa: BLE001 - only an example; the data may have moved
            return None
        if frame is None:
            return None
        if st["id"]:
            frame = frame[frame[st["id"]] == frame[st["id"]].iloc[-1]]
        keep = [c for c in (st["id"], st["time"], st["target"], *st["past"], *st["future"]) if c]
        tail = frame[[c for c in keep if c in frame.columns]].tail(st["lookback"] + 2)
        rows = tail.astype(object).where(tail.notna(), None).to_dict("records")
        return {"history": [plain(r) for r in rows]}

    def describe_inputs(self) -> dict[str, Any]:
        st = self.state()
        return {
            "history": "a JSON object {'history': [{time: ..., target: ..., ...}, ...]}, "
            "oldest first; rows after the last target value carry future covariates",
            **{k: st[k] for k in ("time", "target", "id", "past", "future")},
            **{k: st[k] for k in ("lookback", "horizon", "quantiles")},
            "series": list(st["series"]),
            "frequency": st["freq"],
        }

    def to_records(self, predictions: list[dict[str, Any]], encoded: Encoded) -> list[dict]:
        return [plain(r) for r in self.to_frame(predictions, encoded).to_dict("records")]

    def export_snippet(self) -> str:
        return FORECAST_SNIPPET

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        out = net(batch["x"])
        q = torch.tensor(self.state()["quantiles"], device=out.device)
        return StepOutput(loss=pinball(out.float(), batch["y"], q), outputs=out)

    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        """With targets: the backtest windows (the last folds x horizon steps of each series).
        Without: one forecast past the end of each series' history."""
        st = self.state()
        src = sources.open_source(source)
        raw = sources.frame_of(src, self.spec.sep)
        future_rows = pd.DataFrame()
        if not with_targets:
            raw, future_rows = _split_future(raw, st)
        table = self._read(raw, src.name, st["fill"])
        batches, names, times, history = [], [], [], {}
        for sid, part in table.frame.groupby("id"):
            part = part.reset_index(drop=True)
            if str(sid) not in st["series"]:
                raise DataError(
                    f"series '{sid}' was not in the training data",
                    fix=f"Known series: {', '.join(st['series'])}",
                )
            if with_targets:
                origins = self._fold_origins(len(part))
                if origins[0] < st["lookback"]:
                    raise DataError(f"series '{sid}' is too short to backtest")
            else:
                part = self._append_future(part, future_rows, str(sid), table.freq)
                origins = [len(part) - st["horizon"]]
            feats = self._features(part, str(sid))
            batches.append(
                self._windows(feats, part[st["target"]].to_numpy(float), origins, str(sid))
            )
            for e in origins:
                names.append(str(sid))
                times.append(list(part["time"].iloc[e : e + st["horizon"]]))
            history[str(sid)] = part.iloc[: origins[-1]][["time", st["target"]]]
        batch = _stack(batches)
        if not with_targets:
            del batch["y"]
        return Encoded(
            TensorSplit(batch), table.notes, names=names, extra={"times": times, "history": history}
        )

    def _append_future(
        self, part: pd.DataFrame, future_rows: pd.DataFrame, sid: str, freq: Any
    ) -> pd.DataFrame:
        """History + `horizon` rows after it, carrying the known-in-future covariates."""
        st = self.state()
        last = part["time"].iloc[-1]
        if isinstance(freq, str):
            steps = list(pd.date_range(last, periods=st["horizon"] + 1, freq=freq)[1:])
        else:
            steps = [last + freq * (k + 1) for k in range(st["horizon"])]
        ahead = pd.DataFrame({"id": sid, "time": steps, st["target"]: np.nan})
        for col in st["past"]:
            ahead[col] = np.nan
        if st["future"]:
            mine = future_rows[future_rows["id"] == sid] if len(future_rows) else future_rows
            known = dict(zip(mine["time"], mine.index, strict=False)) if len(mine) else {}
            for col in st["future"]:
                values = []
                for t in steps:
                    if t not in known or pd.isna(mine.at[known[t], col]):
                        raise DataError(
                            f"series '{sid}' needs the future covariate '{col}' at {t} to "
                            f"forecast {st['horizon']} steps, but it is missing",
                            fix="Add rows after the history with the covariates filled and "
                            "the target blank",
                        )
                    values.append(float(mine.at[known[t], col]))
                ahead[col] = values
        return pd.concat([part, ahead], ignore_index=True)

    def calibrate(self, outputs: Any, batch: Batch) -> list[str]:
        """Widen each step ahead's interval until it covers its share of the validation
        windows (split conformal, per quantile pair). A net fit by pinball loss on the
        training windows covers less of windows it never saw: on 8 series its 80 %
        intervals covered 39-100 % of the backtest (mean 67 %), 50-100 % (75 %) widened.
        Never narrowed: a few validation windows say surely when an interval is too narrow,
        not that it is too wide."""
        st = self.state()
        if len(st["quantiles"]) < 3:  # the median alone: no interval to calibrate
            return []
        out, y = outputs.float().cpu().numpy(), batch["y"].cpu().numpy()
        widen = conformal_widening(out, y, st["quantiles"])
        st["widen"] = widen.tolist()
        nominal = st["quantiles"][-1] - st["quantiles"][0]
        before, after = _coverage(out, y), _coverage(widened(out, st["widen"]), y)
        said = (
            f"the {nominal:.0%} interval covered {before:.0%} of the validation targets "
            f"({len(y)} windows x {y.shape[1]} steps)"
        )
        if not widen.any():
            return [f"{said}, so it stays as trained"]
        return [
            f"{said}; widened per step ahead until it covers {after:.0%} of them (fit on "
            "the training windows, a net looks surer of itself than it is)"
        ]

    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        st = self.state()
        out = widened(outputs.float().cpu().numpy(), st.get("widen"))
        mean, std = batch["mean"].cpu().numpy(), batch["std"].cpu().numpy()
        answers: list[dict[str, Any]] = []
        for i in range(len(out)):
            answer = {
                "forecast": from_model(out[i] * std[i] + mean[i], st),
                "seasonal_naive": batch["snaive"][i].cpu().numpy(),
            }
            if "y" in batch:  # a backtest: the truth beside it
                answer["truth"] = from_model(batch["y"][i].cpu().numpy() * std[i] + mean[i], st)
            answers.append(answer)
        return answers

    def caveats(self, metrics: dict[str, Any]) -> list[str]:
        test = metrics.get("test") or {}
        mase, baseline = test.get("mase"), test.get("seasonal_naive_mase")
        if mase is None or baseline is None or mase < baseline:
            return []
        return [
            f"this net's own backtest lost to seasonal naive (MASE {mase:.3g} against "
            f"{baseline:.3g}): the 'seasonal_naive' column (the same step one season ago) "
            "is the better bet for this series"
        ]

    def to_frame(self, predictions: list[dict[str, Any]], encoded: Encoded) -> pd.DataFrame:
        st = self.state()
        rows = []
        for p, sid, times in zip(
            predictions, encoded.names or [], encoded.extra["times"], strict=True
        ):
            for h, t in enumerate(times):
                row = {"series": sid, st["time"]: t, "step": h + 1}
                row.update(
                    {f"q{q:g}": float(p["forecast"][h, j]) for j, q in enumerate(st["quantiles"])}
                )
                row["seasonal_naive"] = float(p["seasonal_naive"][h])
                if "truth" in p:
                    row["truth"] = float(p["truth"][h])
                rows.append(row)
        return pd.DataFrame(rows)

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        st = self.state()
        out = widened(outputs.float().cpu().numpy(), st.get("widen"))
        mean = batch["mean"].cpu().numpy()[:, None]
        std = batch["std"].cpu().numpy()[:, None]
        scale = batch["mase_scale"].cpu().numpy()[:, None]
        truth = from_model(batch["y"].cpu().numpy() * std + mean, st)
        mid = len(st["quantiles"]) // 2
        forecasts = {
            "": from_model(out[..., mid] * std + mean, st),
            "naive_": batch["naive"].cpu().numpy(),
            "seasonal_naive_": batch["snaive"].cpu().numpy(),
        }
        result: dict[str, float] = {}
        for prefix, pred in forecasts.items():
            err = truth - pred
            result[prefix + "mae"] = float(np.abs(err).mean())
            result[prefix + "rmse"] = float(np.sqrt((err**2).mean()))
            result[prefix + "smape"] = float(
                np.mean(200 * np.abs(err) / np.maximum(np.abs(truth) + np.abs(pred), 1e-12))
            )
            result[prefix + "mase"] = float((np.abs(err) / scale).mean())
        for base in ("naive", "seasonal_naive"):
            result[f"skill_vs_{base}"] = 1 - result["mase"] / max(result[f"{base}_mase"], 1e-12)
        lo = from_model(out[..., 0] * std + mean, st)
        hi = from_model(out[..., -1] * std + mean, st)
        result["coverage"] = float(np.mean((truth >= lo) & (truth <= hi)))
        return result


def conformal_widening(out: np.ndarray, y: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """(pairs, horizon): how much to move quantile pair j (j, -1-j) of (N, horizon, Q)
    forecasts outwards at each step so it covers its nominal share of the targets `y`
    (N, horizon): the split-conformal quantile of how far outside each target fell. Never
    negative, and an outer pair never moves less than the one inside it (order kept)."""
    n, moved = len(y), []
    for j in reversed(range(len(quantiles) // 2)):  # the innermost pair first
        share = quantiles[-1 - j] - quantiles[j]
        outside = np.sort(np.maximum(out[..., j] - y, y - out[..., -1 - j]), axis=0)
        k = min(ceil((n + 1) * share), n)  # the k-th smallest: covers >= share of new ones
        move = np.maximum(outside[k - 1], 0.0)
        moved.append(np.maximum(move, moved[-1]) if moved else move)
    return np.array(moved[::-1])


def widened(out: np.ndarray, widen: list[list[float]] | None) -> np.ndarray:
    """Forecasts (..., horizon, Q) with each quantile pair moved out by `widen`."""
    if not widen:
        return out
    out = out.copy()
    for j, move in enumerate(np.asarray(widen)):
        out[..., j] -= move
        out[..., -1 - j] += move
    return out


def _coverage(out: np.ndarray, y: np.ndarray) -> float:
    """The share of targets inside the outermost interval."""
    return float(np.mean((y >= out[..., 0]) & (y <= out[..., -1])))


def to_model(values: np.ndarray, st: dict[str, Any]) -> np.ndarray:
    """Target values as the net models them (log for multiplicative series)."""
    return np.log(values) if st.get("transform") == "log" else values


def from_model(values: np.ndarray, st: dict[str, Any]) -> np.ndarray:
    """The inverse of `to_model`: back to the series' own units."""
    return np.exp(values) if st.get("transform") == "log" else values


def _choose_transform(asked: str, groups: dict[str, pd.DataFrame], target: str, season: int) -> str:
    """'log' when asked, or (auto) when every series is positive and its swings grow with its
    level: the spread within each season-long block rises with the block's mean (rank
    correlation > 0.5 over the blocks) and the level at least doubles."""
    if asked != "auto":
        if asked == "log":
            bad = [sid for sid, p in groups.items() if (p[target].to_numpy(float) <= 0).any()]
            if bad:
                raise DataError(
                    f"--transform log needs positive values, and series '{bad[0]}' has zeros or "
                    "negatives",
                    fix="Use --transform none (or shift the values above zero yourself)",
                )
        return asked
    block = max(season, 4)
    for part in groups.values():
        y = part[target].to_numpy(float)
        if (y <= 0).any() or len(y) < 4 * block:
            return "none"
        blocks = y[: len(y) // block * block].reshape(-1, block)
        means, spreads = blocks.mean(1), blocks.std(1)
        rho = pd.Series(means).corr(pd.Series(spreads), method="spearman")
        if not (rho > 0.5 and means.max() >= 2 * means.min()):
            return "none"
    return "log"


def _best_start(train: Batch, lookback: int, season: int) -> tuple[int, str]:
    """The simple rule the net starts from (see nets.rnn._start_as_baseline): whichever of
    seasonal naive, naive and the window mean has the lowest error on the training windows."""
    past, future = train["x"][:, :lookback, 0], train["y"]
    horizon = future.shape[1]
    rules = {"the window's mean": 0, "the last value": 1}
    if 1 < season <= lookback:
        rules[f"the value one season ({season} steps) back"] = season
    errors = {}
    for name, lag in rules.items():
        if lag == 0:
            guess = past.mean(1, keepdim=True).expand(-1, horizon)
        else:
            guess = past[:, [lookback - lag + h % lag for h in range(horizon)]]
        errors[name] = float((guess - future).abs().mean())
    best = min(errors, key=errors.__getitem__)
    others = ", ".join(f"{k} {v:.3g}" for k, v in errors.items() if k != best)
    return rules[best], (
        f"the net starts from forecasting {best} (training error {errors[best]:.3g}; "
        f"{others}) and learns corrections to it"
    )


def _stack(parts: list[dict[str, np.ndarray]]) -> Batch:
    return {k: torch.from_numpy(np.concatenate([p[k] for p in parts])) for k in parts[0]}


def _split_future(raw: pd.DataFrame, st: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows after each series' last known target are covariate-only 'future' rows."""
    for column, role in ((st["time"], "time"), (st["target"], "target")):
        require_column(raw, column, "the history", role)
    if st["id"]:
        require_column(raw, st["id"], "the history", "series id")
    ids = raw[st["id"]].astype(str) if st["id"] else pd.Series("series", index=raw.index)
    has_target = (
        pd.to_numeric(raw[st["target"]], errors="coerce").notna()
        if st["target"] in raw.columns
        else pd.Series(False, index=raw.index)
    )
    last = has_target[has_target].groupby(ids[has_target]).apply(lambda s: s.index.max())
    is_future = pd.Series(
        [i > last.get(sid, -1) for i, sid in zip(raw.index, ids, strict=True)], index=raw.index
    )
    future = raw[is_future].copy()
    if len(future):
        future["id"] = ids[is_future]
        future["time"] = parse_time(future[st["time"]], "the future rows", st["time"])[0]
        future = future.reset_index(drop=True)
    return raw[~is_future], future


# Plain-Python twin of the window building in ForecastingTask, for the export README.
FORECAST_SNIPPET = """\
import csv

# A CSV of the latest history (time, target and covariate columns, no gaps), oldest first;
# with several series, name the one to forecast as the second argument.
rows = list(csv.DictReader(open(sys.argv[1] if len(sys.argv) > 1 else "history.csv")))
series = sys.argv[2] if len(sys.argv) > 2 else next(iter(prep["series"]))
if prep["id"]:
    rows = [r for r in rows if r[prep["id"]] == series]
look, hor = prep["lookback"], prep["horizon"]
scale = prep["series"][series]
covariates = prep["past"] + prep["future"]
if prep["future"]:
    sys.exit("this model also needs the coming values of " + ", ".join(prep["future"])
             + ": put them in x[0, look:, -len(prep['future']):] (scaled like the rest)")
history = rows[-look:]
x = np.zeros((1, look + hor, 1 + len(covariates)), dtype=np.float32)
target = np.array([float(r[prep["target"]]) for r in history])
if prep.get("transform") == "log":
    target = np.log(target)
x[0, :look, 0] = (target - scale["mean"]) / scale["std"]
level = x[0, :look, 0].mean() if prep.get("level") == "window" else 0.0
x[0, :look, 0] -= level  # the net reads each window relative to its own mean
for j, c in enumerate(covariates):
    x[0, :look, 1 + j] = [
        (float(r[c]) - prep["cov_mean"][j]) / prep["cov_std"][j] for r in history
    ]
out = session.run(None, {"x": x})[0][0]  # (horizon, q), scaled
for j, move in enumerate(prep.get("widen", [])):  # the intervals as calibrated after training
    out[:, j] -= move
    out[:, -1 - j] += move
out = (out + level) * scale["std"] + scale["mean"]
if prep.get("transform") == "log":
    out = np.exp(out)
answer = {f"q{q:g}": out[:, j].tolist() for j, q in enumerate(prep["quantiles"])}
"""
