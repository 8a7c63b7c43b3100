"""Reading tables (CSV, TSV, Parquet) with errors that name the file and say how to fix it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from glassnet.errors import DataError, did_you_mean

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".parquet": None, ".pq": None}


SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}


def read_table(path: str | Path, nrows: int | None = None, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet file into a DataFrame (its first `nrows` rows when given);
    empty or unreadable files raise DataError naming the file (and the line, for text that
    is not UTF-8). `sep` overrides the separator the extension implies; without it, a
    .csv that reads as one column whose name holds ';', tabs or '|' is read with that
    separator instead. Numbers written with commas become numbers
    (`numbers_written_as_text`). Column names that appear twice are renamed by pandas
    ('a', 'a.1'). `frame.attrs["notes"]` says what was done."""
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
    separator = sep if sep is not None else TABLE_SUFFIXES[suffix]
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
            frame = frame.head(nrows) if nrows else frame
        else:
            frame = pd.read_csv(
                p,
                sep=separator,
                engine="python" if separator is None else "c",
                nrows=nrows,
            )
    except UnicodeDecodeError:
        from glassnet.data.text import read_text_lines

        read_text_lines(p)  # raises a DataError naming the line and the byte
        raise
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise DataError(
            f"could not read '{p}': {str(e).splitlines()[0]}",
            fix="Check that it is a well-formed table with one header row",
        ) from None
    if frame.empty:
        raise DataError(f"data file '{p}' has a header but no rows", fix="Add data rows")
    notes: list[str] = []
    if frame.shape[1] == 1 and separator not in (None, "\t") and suffix != ".parquet":
        header = str(frame.columns[0])
        other = next((c for c in (";", "\t", "|") if c in header and c != separator), None)
        if other is not None:  # e.g. a spreadsheet saved in a locale that writes ';'
            again = _reread(p, other, nrows) if sep is None else None
            if again is None or again.shape[1] == 1:
                raise DataError(
                    f"'{p}' reads as a single column '{header[:60]}': it looks "
                    f"{SEPARATORS[other]}-separated"
                    + (", but does not read as such either" if sep is None else ""),
                    fix=f"Pass --sep '{other}'" if other != "\t" else "Pass --sep $'\\t'",
                )
            frame, separator = again, other
            notes.append(f"'{p.name}' read as {SEPARATORS[other]}-separated (--sep to choose)")
    if suffix not in (".parquet", ".pq"):
        notes += numbers_written_as_text(frame, decimal_comma=separator == ";")
    twice = _renamed_duplicates(p, separator) if suffix not in (".parquet", ".pq") else []
    if twice:
        notes.append(
            f"columns named twice in '{p}': {', '.join(twice)}; the later ones were renamed "
            "with .1, .2 ..."
        )
    if notes:
        frame.attrs["notes"] = notes
    return frame


def _reread(path: Path, sep: str, nrows: int | None) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, sep=sep, nrows=nrows)
    except (pd.errors.ParserError, ValueError, OSError):
        return None


_PLAIN = r"[+-]?\d+(\.\d+)?"
THOUSANDS = r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?"  # 12,345.6 (also in the export's predict.py)
_DECIMAL_COMMA = r"[+-]?\d+(,\d+)?"  # 3,14 where fields are split by ';'


def as_numbers(column: pd.Series) -> np.ndarray:
    """A column's values as float64 (NaN where not a number), '12,345.6' read as 12345.6:
    a value in a numeric column is read as `numbers_written_as_text` reads a file's."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    failed = np.flatnonzero(np.isnan(values) & column.notna().to_numpy())
    if len(failed):
        text = column.iloc[failed].astype(str).str.strip()
        grouped = text.str.fullmatch(THOUSANDS).to_numpy(dtype=bool)
        values[failed[grouped]] = pd.to_numeric(
            text[grouped].str.replace(",", "", regex=False)
        ).to_numpy(dtype=np.float64)
    return values


def numbers_written_as_text(frame: pd.DataFrame, decimal_comma: bool) -> list[str]:
    """Columns of numbers that pandas left as text because of their commas, made numbers
    in place: thousands separators (12,345.6), or decimal commas (3,14) in a file whose
    fields are split by ';' (the convention of the locales that write such files). The
    notes name each column converted."""
    converted: dict[str, list[str]] = {"thousands separators": [], "decimal commas": []}
    for column in frame.columns:
        if not pd.api.types.is_string_dtype(frame[column].dtype):  # object or str
            continue
        values = frame[column].dropna()
        if values.empty or not all(isinstance(v, str) for v in values):
            continue
        values = values.str.strip()
        if not values.str.contains(",", regex=False).any():
            continue
        if decimal_comma and values.str.fullmatch(_DECIMAL_COMMA).all():
            text, kind = frame[column].str.replace(",", ".", regex=False), "decimal commas"
        elif (values.str.fullmatch(THOUSANDS) | values.str.fullmatch(_PLAIN)).all():
            text, kind = frame[column].str.replace(",", "", regex=False), "thousands separators"
        else:
            continue
        frame[column] = pd.to_numeric(text.str.strip())
        converted[kind].append(f"'{column}'")
    return [
        f"numbers with {kind} read as numbers: {', '.join(columns)}"
        for kind, columns in converted.items()
        if columns
    ]


def _renamed_duplicates(path: Path, sep: str | None) -> list[str]:
    """Header names that appear more than once (pandas renames the repeats)."""
    import csv

    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline()
    try:
        names = next(csv.reader([first], delimiter=sep or ","))
    except (csv.Error, StopIteration):
        return []
    seen: dict[str, int] = {}
    for n in names:
        seen[n.strip()] = seen.get(n.strip(), 0) + 1
    return [f"'{n}'" for n, k in seen.items() if k > 1]


def require_column(frame: pd.DataFrame, column: str, source: str, role: str) -> None:
    """Raise a DataError listing the columns (closest first) when `column` is absent."""
    if column not in frame.columns:
        cols = [str(c) for c in frame.columns]
        raise DataError(
            f"the {role} column '{column}' is not in {source}.{did_you_mean(column, cols)}",
            fix=f"Columns are: {', '.join(cols[:30])}{' ...' if len(cols) > 30 else ''}",
        )
