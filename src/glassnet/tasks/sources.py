"""The one front door for data: a file, a folder, `builtin:NAME` or an in-memory object.

`Source` is what every task reads from. Built-in data sets are written once under the cache
and then read through the same path as a user's files; their defaults (target column,
...) are applied to the spec before it is validated (`Task.data_defaults`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glassnet.data.builtin import builtin_name, get_dataset, is_builtin, materialise
from glassnet.errors import ConfigError

IN_MEMORY = "<in-memory>"
OPTIONS = ("data", "val", "test")  # the spec fields that name data


def cache_dir() -> Path:
    """Where built-in data sets are written once: $GLASSNET_CACHE or ~/.cache/glassnet."""
    root = os.environ.get("GLASSNET_CACHE") or Path.home() / ".cache" / "glassnet"
    return Path(root) / "builtin"


@dataclass(frozen=True)
class Source:
    """One place data comes from. Exactly one of `path` and `obj` is set."""

    value: str  # as written in the spec: a path, builtin:NAME, or IN_MEMORY
    path: Path | None = None
    obj: Any = None  # an in-memory object from the Python API (a DataFrame, arrays, ...)

    @property
    def name(self) -> str:
        """How messages name it."""
        return f"'{self.value}'" if self.obj is None else f"the {type(self.obj).__name__}"


def resolve(value: str | None) -> tuple[Path | None, dict[str, Any]]:
    """A data string -> (local path, defaults of a built-in data set)."""
    if value is None or value == IN_MEMORY:
        return None, {}
    if is_builtin(value):
        return materialise(value, cache_dir())
    return Path(value), {}


def open_source(value: Any, objects: dict[str, Any] | None = None, key: str = "") -> Source:
    """Anything a user may pass as data -> a Source. `objects` holds the in-memory inputs
    of a training call by option name ('data', 'val', 'test')."""
    if isinstance(value, Source):
        return value
    if objects and key in objects and (value is None or value == IN_MEMORY):
        return Source(IN_MEMORY, obj=objects[key])
    if not isinstance(value, (str, os.PathLike)):
        return Source(IN_MEMORY, obj=value)
    path, _ = resolve(str(value))
    if path is None:
        raise ConfigError(
            f"the {key or 'data'} was given in memory and is not at hand any more",
            fix="Pass it again (Python) or save it to a file",
        )
    return Source(str(value), path=path)


def builtin_defaults(value: Any) -> dict[str, Any]:
    """The task options a built-in data set comes with (without writing it)."""
    if isinstance(value, str) and is_builtin(value):
        return dict(get_dataset(builtin_name(value)).defaults)
    return {}


def take_objects(data: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Move in-memory data (anything that is not a path) out of the options: the spec holds
    IN_MEMORY in its place and the objects travel beside it. Returns the objects."""
    objects: dict[str, Any] = {}
    for key in OPTIONS:
        value = data if key == "data" else options.get(key)
        if value is None:
            continue
        if isinstance(value, (str, os.PathLike)):
            options[key] = str(value)
        else:
            objects[key] = value
            options[key] = IN_MEMORY
    return objects


def peek_columns(value: str | None) -> list[str] | None:
    """The column names of a table file (header only), for messages; None if not a table."""
    from glassnet.data.tables import TABLE_SUFFIXES, read_table

    try:
        path, _ = resolve(value)
    except Exception:  # noqa: BLE001 - only for a hint in a message
        return None
    if path is None or not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES:
        return None
    try:
        return [str(c) for c in read_table(path, nrows=5).columns]
    except Exception:  # noqa: BLE001
        return None


def frame_of(source: Source, sep: str | None = None) -> Any:
    """A table source as a DataFrame: a DataFrame as given, rows (dicts) as a frame, a file
    read with `read_table` (`sep` overrides the separator of text files)."""
    import pandas as pd

    from glassnet.data.tables import read_table

    obj = source.obj
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        return pd.DataFrame(obj)
    if obj is not None:
        array = type(obj).__module__ == "numpy"
        raise ConfigError(
            f"a table was expected, got {source.name}"
            + (" (a numpy array has no column names, so no target column)" if array else ""),
            fix="Pass a pandas DataFrame, a list of row dicts, or a file path"
            + (", e.g. pd.DataFrame(X, columns=names).assign(target=y)" if array else ""),
        )
    assert source.path is not None
    return read_table(source.path, sep=sep)
