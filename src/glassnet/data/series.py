"""Time series in: parsing, the data check, gap filling, and season detection.

A series table has a time column, a target, optionally an id column (many series) and
covariates. The check reports, naming the row and series: unparseable timestamps, duplicated
timestamps, irregular spacing, gaps (filled by interpolation with `fill`), non-numeric values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glassnet.data.tables import require_column
from glassnet.errors import DataError

SINGLE = "series"  # the id of the one series when there is no id column


@dataclass
class SeriesTable:
    frame: pd.DataFrame  # columns: id, time, target, covariates; sorted; regular grid
    freq: str | int  # pandas offset alias, or the integer step of numeric time
    notes: list[str]


def parse_time(
    col: pd.Series, source: str, name: str, notes: list[str] | None = None
) -> tuple[pd.Series, bool]:
    """(parsed, is_numeric). Integer-like numbers (years, step counts) stay numbers.
    Timestamps with different UTC offsets (a summer-time change, several sources) are put
    on UTC, with a note; timestamps in one zone keep it."""
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (np.mod(values, 1) != 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"time column '{name}' has a value that is not a whole number or "
                f"a date in row {row + 1}: {col.iloc[row]!r}",
                where=source,
            )
        return pd.Series(values.astype(np.int64), index=col.index), True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pandas 2.x on mixed offsets
            parsed = pd.to_datetime(col, errors="coerce", format="mixed")
        mixed = parsed.dtype == object  # pandas 2.x: datetimes with several offsets
    except ValueError:  # pandas 3 refuses mixed time zones without utc=True
        mixed = True
    if mixed:
        parsed, how = _mixed_offsets(col)
        if notes is not None:
            notes.append(f"the timestamps in '{name}' carry different UTC offsets: {how}")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"cannot read the timestamp in row {row + 1} of column '{name}': {col.iloc[row]!r}",
            where=source,
            fix="Use ISO dates like 2024-01-31 (or whole numbers for steps)",
        )
    return parsed, False


def _mixed_offsets(col: pd.Series) -> tuple[pd.Series, str]:
    """Timestamps whose UTC offsets differ (summer time, several sources), on one clock:
    UTC, or the local wall clock when that is the regular one (daily data across a
    summer-time change is regular at local midnight, not in UTC)."""
    utc = pd.to_datetime(col, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
    text = col.astype(str).str.replace(r"(Z|[+-]\d\d:?\d\d)$", "", regex=True)
    wall = pd.to_datetime(text, errors="coerce", format="mixed")

    def steps(t: pd.Series) -> int:
        return t.sort_values().diff().dropna().nunique()

    if steps(wall) < steps(utc):
        return (
            wall,
            "their local clock times were kept (they are evenly spaced; in UTC they are not)",
        )
    return utc, "all were converted to UTC (times without an offset were taken as UTC)"


def _numeric(frame: pd.DataFrame, column: str, source: str, ids: pd.Series) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"column '{column}' holds a non-numeric value in row {row + 1} "
            f"(series '{ids.iloc[row]}'): {frame[column].iloc[row]!r}",
            where=source,
            fix="Fix or blank that value",
        )
    return values.astype(float)


def _infer_freq(idx: pd.DatetimeIndex) -> str | None:
    """pandas' inferred frequency as an alias string (newer pandas returns an offset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(idx)
    return None if freq is None else getattr(freq, "freqstr", str(freq))


def _grid(times: pd.Series, numeric: bool) -> tuple[str | int, pd.Index] | None:
    """The regular grid the timestamps sit on, from first to last, or None if irregular."""
    if numeric:
        diffs = np.diff(times.to_numpy())
        step = int(np.min(diffs)) if len(diffs) else 1
        if step <= 0 or np.any(diffs % step):
            return None
        return step, pd.Index(np.arange(times.iloc[0], times.iloc[-1] + 1, step))
    idx = pd.DatetimeIndex(times)
    freq = _infer_freq(idx) if len(idx) >= 3 else None
    if freq is None:  # gaps hide the frequency: infer it from gap-free stretches
        for start in range(0, max(len(idx) - 3, 1), max(len(idx) // 20, 1)):
            freq = _infer_freq(idx[start : start + 5]) if len(idx) >= start + 5 else None
            if freq:
                full = pd.date_range(idx[0], idx[-1], freq=freq)
                if idx.isin(full).all():
                    break
                freq = None
    if freq is None:
        return None
    return freq, pd.date_range(idx[0], idx[-1], freq=freq)


# Gaps interpolated without being asked: at most this share of a series' steps.
FEW_GAPS = 0.05


def read_series(
    frame: pd.DataFrame,
    *,
    source: str,
    time: str,
    target: str,
    id_column: str | None,
    covariates: list[str],
    fill: bool | None,
) -> SeriesTable:
    """Check and regularise a long-format series table. Gaps are interpolated with
    `fill` True, stop it with False; with None where they are at most `FEW_GAPS` of a
    series (a few lost readings), and stop it where they are more (whole stretches
    missing, which a straight line would invent)."""
    for col, role in [(time, "time"), (target, "target"), *[(c, "covariate") for c in covariates]]:
        require_column(frame, col, source, role)
    if id_column:
        require_column(frame, id_column, source, "id")
    ids = frame[id_column].astype(str) if id_column else pd.Series(SINGLE, index=frame.index)
    notes: list[str] = []
    times, numeric = parse_time(frame[time], source, time, notes)
    out = pd.DataFrame({"id": ids, "time": times, "row": np.arange(len(frame)) + 1})
    for col in [target, *covariates]:
        out[col] = _numeric(frame, col, source, ids)
    dup = out.duplicated(["id", "time"], keep="first")
    if dup.any():
        first = out[dup].iloc[0]
        raise DataError(
            f"timestamp {first['time']} appears twice in series '{first['id']}' "
            f"(row {first['row']})",
            where=source,
            fix="Keep one row per timestamp and series (or aggregate them)",
        )
    parts, freq = [], None
    for sid, part in out.sort_values(["id", "time"]).groupby("id", sort=True):
        part = part.reset_index(drop=True)
        grid = _grid(part["time"], numeric)
        if grid is None:
            raise DataError(
                f"series '{sid}' is not evenly spaced in time (around row "
                f"{part['row'].iloc[min(2, len(part) - 1)]})",
                where=source,
                fix="Resample it to a regular frequency first",
            )
        freq, index = grid
        reg = part.set_index("time").reindex(index)
        reg.index.name = "time"
        missing_rows = int(reg["id"].isna().sum())
        reg["id"] = sid
        holes = int(reg[[target, *covariates]].isna().any(axis=1).sum())
        if holes:
            few = holes <= FEW_GAPS * len(reg)
            if not (fill or (fill is None and few)):
                where = reg.index[reg[[target, *covariates]].isna().any(axis=1)][0]
                share = "" if fill is False else f", {holes / len(reg):.0%} of its steps"
                raise DataError(
                    f"series '{sid}' has {holes} gap(s) (missing timestamps or "
                    f"values{share}), the first at {where}",
                    where=source,
                    fix="Pass --fill to interpolate them, or fill them yourself",
                )
            reg[[target, *covariates]] = reg[[target, *covariates]].interpolate(
                limit_direction="both"
            )
            notes.append(
                f"series '{sid}': filled {holes} gap(s) by interpolation"
                + (f" ({missing_rows} missing timestamps)" if missing_rows else "")
            )
        parts.append(reg.reset_index().drop(columns=["row"]))
    table = pd.concat(parts, ignore_index=True)
    assert freq is not None
    return SeriesTable(table, freq, notes)


def detect_season(values: np.ndarray, freq: str | int, max_lag: int | None = None) -> int:
    """The seasonal period: from the frequency when it has a calendar season (weekly 52,
    monthly 12, quarterly 4, daily 7, hourly 24), else the strongest autocorrelation peak
    (e.g. ~11 years for sunspots), else 1."""
    if isinstance(freq, str):
        base = freq.split("-")[0].rstrip("S").upper()
        calendar = {"W": 52, "M": 12, "ME": 12, "Q": 4, "QE": 4, "D": 7, "B": 5, "H": 24, "h": 24}
        if base in calendar:
            return calendar[base]
    x = values[np.isfinite(values)]
    x = x - x.mean()
    n = len(x)
    limit = min(max_lag or n // 3, n // 2)
    if limit < 3 or not np.any(x):
        return 1
    acf = np.array([np.dot(x[:-k], x[k:]) / np.dot(x, x) for k in range(1, limit + 1)])
    # A cycle's autocorrelation swings well below zero before it peaks again (lynx: -0.51 then
    # 0.46 at lag 9); a slow decay with a bump (Nile's flow: 0.49, 0.36, 0.23, 0.20, 0.23 at
    # lag 5) or an AR(1)'s wander about zero is persistence, not a season.
    bound = max(0.3, 2 / np.sqrt(n))
    peaks = [
        k
        for k in range(2, limit - 1)
        if acf[k - 1] > acf[k - 2]
        and acf[k - 1] >= acf[k]
        and acf[k - 1] > bound
        and acf[: k - 1].min() < 0
        and acf[k - 1] - acf[: k - 1].min() > 0.5  # a real swing, not noise around zero
    ]
    return max(peaks, key=lambda k: acf[k - 1]) if peaks else 1
