"""What the text tasks (sequences, translation) share: telling raw text from a file path,
and reading text tables with encoding errors that name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from glassnet.data.tables import TABLE_SUFFIXES, read_table
from glassnet.data.text import read_text_lines
from glassnet.errors import DataError
from glassnet.tasks import sources


def as_texts(source: Any) -> list[str] | None:
    """Raw texts given directly (a list of strings, or one string that is not a data path),
    else None. A missing file with a table extension is an error, not a text."""
    if isinstance(source, (list, tuple)):
        return list(source) if source and all(isinstance(s, str) for s in source) else None
    if isinstance(source, str) and not _looks_like_data(source):
        return [source]
    return None


def _looks_like_data(value: str) -> bool:
    if value.startswith(sources.IN_MEMORY) or value.startswith("builtin:"):
        return True
    if not value.strip():
        return False
    path = Path(value)
    try:
        if path.exists():
            return True
    except OSError:  # a very long text is not a path
        return False
    if path.suffix.lower() in TABLE_SUFFIXES and "\n" not in value and " " not in value:
        raise DataError(f"data file '{value}' does not exist", fix="Check the path")
    return False


def read_text_table(path: Path) -> pd.DataFrame:
    """read_table, after checking every line is UTF-8 (so a mixed-encoding file is reported
    with its line number instead of a parser error)."""
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        read_text_lines(path)
    return read_table(path)
