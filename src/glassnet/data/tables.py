"""Reading tables (CSV, TSV, Parquet) with errors that name the file and say how to fix it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from glassnet.errors import DataError, did_you_mean

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".parquet": None, ".pq": None}


def read_table(path: str | Path, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet file into a DataFrame (its first `nrows` rows when given);
    empty or unreadable files raise DataError."""
    p = Path(path)
    if not p.exists():
        raise DataError(
            f"data file '{p}' does not exist",
            fix="Check the path, or see `glassnet data list` for built-in data",
        )
    if p.is_dir():
        raise DataError(
            f"'{p}' is a folder, but this task reads one table file",
            fix="Pass a .csv, .tsv or .parquet file",
        )
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"'{p}' has an unsupported extension '{suffix}'", fix="Use .csv, .tsv or .parquet"
        )
    if p.stat().st_size == 0:
        raise DataError(f"data file '{p}' is empty", fix="Point to a file with a header and rows")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
            frame = frame.head(nrows) if nrows else frame
        else:
            frame = pd.read_csv(
                p,
                sep=TABLE_SUFFIXES[suffix],
                engine="python" if TABLE_SUFFIXES[suffix] is None else "c",
                nrows=nrows,
            )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise DataError(
            f"could not read '{p}': {str(e).splitlines()[0]}",
            fix="Check that it is a well-formed table with one header row",
        ) from None
    if frame.empty:
        raise DataError(f"data file '{p}' has a header but no rows", fix="Add data rows")
    return frame


def require_column(frame: pd.DataFrame, column: str, source: str, role: str) -> None:
    """Raise a DataError listing the columns (closest first) when `column` is absent."""
    if column not in frame.columns:
        cols = [str(c) for c in frame.columns]
        raise DataError(
            f"the {role} column '{column}' is not in {source}.{did_you_mean(column, cols)}",
            fix=f"Columns are: {', '.join(cols[:30])}{' ...' if len(cols) > 30 else ''}",
        )
