"""Date columns of a table: recognising them, and the numbers a net learns from them.

A text column whose every value reads as a date in one of `DATE_FORMATS` becomes a date
column (it would otherwise look like an identifier and be left out). A date is then read
as the days since 1970-01-01 (the trend) plus where it falls in the year and in the week,
each as a point on a circle (sin, cos), so December sits beside January and Sunday beside
Monday. All of it follows from the day count alone, which a few lines of plain Python
reproduce (the export's predict.py does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Tried in this order; day-first before month-first, so 03/04/2024 is the 3rd of April
# when every value allows both (the note names the format taken).
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
)
YEAR_DAYS = 365.2425
CYCLES = ("time of year sin", "time of year cos", "weekday sin", "weekday cos")
_SAMPLE = 200  # values tried against every format before the whole column is


def date_format(column: pd.Series) -> str | None:
    """The first of `DATE_FORMATS` in which every value of a text column reads as a date;
    None when there is none (or the column is not text)."""
    values = column.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.iloc[:_SAMPLE]):
        return None
    values = values.astype(str).str.strip()
    for fmt in DATE_FORMATS:
        if _parse(values.iloc[:_SAMPLE], fmt).notna().all() and _parse(values, fmt).notna().all():
            return fmt
    return None


def as_days(column: pd.Series, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01 as floats, NaN for blanks and unreadable values; a mask of
    the unreadable ones: values present that are not dates in `fmt`)."""
    values = list(column.astype(object))
    stripped = pd.Series([v.strip() if isinstance(v, str) else v for v in values], dtype=object)
    parsed = _parse(stripped, fmt)
    days = ((parsed - pd.Timestamp(0)) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    present = np.array([not _blank(v) for v in values], dtype=bool)
    return days, np.isnan(days) & present


def cycles(days: np.ndarray) -> np.ndarray:
    """(N, 4): time of year and weekday of each day count, as (sin, cos) pairs."""
    year = 2 * np.pi * np.mod(days, YEAR_DAYS) / YEAR_DAYS
    week = 2 * np.pi * np.mod(np.floor(days) + 3, 7) / 7  # 1970-01-01 was a Thursday
    return np.stack([np.sin(year), np.cos(year), np.sin(week), np.cos(week)], axis=1)


def _blank(value: object) -> bool:
    """None, NaN, NA or only spaces: no date given."""
    return not value.strip() if isinstance(value, str) else bool(pd.isna(value))


def day_text(days: float, fmt: str) -> str:
    """A day count written as `fmt` writes dates (for notes and examples)."""
    return (pd.Timestamp(0) + pd.Timedelta(days=days)).strftime(fmt)


def _parse(values: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(values, format=fmt, errors="coerce")
