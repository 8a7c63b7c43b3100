"""User-facing errors: what went wrong, where, and how to fix it.

A `GlassnetError` is a mistake in the user's input (file, column, option, config). The CLI
prints its message without a traceback and exits with code 2. Anything else that escapes is
our failure (exit code 1).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path


class GlassnetError(Exception):
    """A problem with the user's input, explained in one paragraph."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        parts = [what if where is None else f"{what} (in {where})"]
        if fix:
            parts.append(fix)
        super().__init__(" ".join(p if p.endswith((".", "?", "!")) else p + "." for p in parts))


class ConfigError(GlassnetError):
    """A bad option or configuration value."""


class DataError(GlassnetError):
    """A problem with a data file, column, or value."""


class RunError(GlassnetError):
    """A problem with a run directory (missing, not a run, already exists)."""


class TrainingError(GlassnetError):
    """Training could not go on (for instance the loss became NaN)."""


class ExportError(GlassnetError):
    """An exported model could not be written, or does not match the eager model."""


class WorkersFailed(RunError):
    """The data-parallel processes stopped with an error they explained themselves."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the training processes stopped (exit code {code})")
        self.code = code


class LaunchInterrupted(KeyboardInterrupt):
    """Ctrl-C reached the processes of a data-parallel run; they saved and stopped."""

    path: Path | None = None  # the run folder, once the launcher knows it


def under_torchrun() -> bool:
    """Started by torchrun as one of several processes (read from the environment only, so
    the CLI can ask without importing torch)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
