"""Where a task's data comes from: a path, builtin:NAME, or an in-memory object (Python API)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from glassnet.data.builtin import is_builtin, materialise

IN_MEMORY = "<in-memory>"


def cache_dir() -> Path:
    """Where built-in data sets are written once: $GLASSNET_CACHE or ~/.cache/glassnet."""
    root = os.environ.get("GLASSNET_CACHE") or Path.home() / ".cache" / "glassnet"
    return Path(root) / "builtin"


def resolve(value: str | None) -> tuple[Path | None, dict[str, Any]]:
    """A data string -> (local path, task defaults of a built-in data set)."""
    if value is None or value == IN_MEMORY:
        return None, {}
    if is_builtin(value):
        return materialise(value, cache_dir())
    return Path(value), {}
