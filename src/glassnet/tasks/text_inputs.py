"""What the text tasks (sequences, translation) share: telling raw text from a file path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glassnet.data.tables import TABLE_SUFFIXES
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
