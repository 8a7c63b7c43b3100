"""Built-in offline data sets: `glassnet data list`, `glassnet data make NAME DIR`, builtin:NAME.

Each data set is generated or read from files bundled with installed packages (scikit-learn,
statsmodels), so nothing is downloaded. `make` writes it in the on-disk format a user would
supply; tasks read `builtin:NAME` through the same path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from glassnet.discovery import import_declaring
from glassnet.errors import DataError, GlassnetError, did_you_mean

BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    task: str
    description: str
    make: Callable[..., Path]  # make(directory, **options) -> the path to train on
    defaults: dict[str, Any] = field(default_factory=dict)  # task options (e.g. target)
    revision: int = 1  # raised when the generator makes different data: a new cache folder


_DATASETS: dict[str, BuiltinDataset] = {}


def register_dataset(ds: BuiltinDataset) -> None:
    if ds.name in _DATASETS:
        raise ValueError(f"dataset '{ds.name}' is already registered")
    _DATASETS[ds.name] = ds


def require_style(style: str, styles: tuple[str, ...], what: str) -> None:
    """A generator's drawing style, or an error listing the ones it has (the first is its
    default)."""
    if style not in styles:
        raise GlassnetError(
            f"{what} are drawn in these styles: {', '.join(styles)}, not '{style}'",
            fix=f"Pass --style {styles[0]} (the default) or "
            + " or ".join(f"--style {s}" for s in styles[1:]),
        )


def list_datasets(task: str | None = None) -> list[BuiltinDataset]:
    _load_all()
    return [d for n, d in sorted(_DATASETS.items()) if task is None or d.task == task]


def get_dataset(name: str) -> BuiltinDataset:
    _load_all()
    if name not in _DATASETS:
        raise DataError(
            f"there is no built-in data set '{name}'.{did_you_mean(name, _DATASETS)}",
            fix=f"Built-in data sets: {', '.join(sorted(_DATASETS))}",
        )
    return _DATASETS[name]


def is_builtin(path: str | None) -> bool:
    return isinstance(path, str) and path.startswith(BUILTIN_PREFIX)


def builtin_name(path: str) -> str:
    return path[len(BUILTIN_PREFIX) :]


def materialise(path: str, cache_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Write builtin:NAME under `cache_dir` (once) and return its path and task defaults."""
    ds = get_dataset(builtin_name(path))
    target = cache_dir / (ds.name if ds.revision == 1 else f"{ds.name}-r{ds.revision}")
    marker = target / ".complete"
    if not marker.exists():
        # Two processes asking at once (two ranks, two terminals, two test workers): one
        # writes while the other waits, rather than both writing the same files.
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not marker.exists():
                out = ds.make(target)
                marker.write_text(str(out), encoding="utf-8")
    return Path(marker.read_text(encoding="utf-8")), ds.defaults


def _load_all() -> None:
    """Every module of `data/` that registers data sets (on import; kept lazy so `import
    glassnet` is fast). A new built-in is a call `register_dataset(...)` in any of them."""
    import_declaring("glassnet.data", "register_dataset(")


def sktime_data(name: str) -> Path:
    """The folder of one data set bundled in sktime's wheel (the files are read; sktime is
    never imported)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"builtin:{name.lower()} is read from the data files bundled in sktime's wheel, "
            "and sktime is not installed",
            fix="pip install sktime (only its data files are read; it is not imported)",
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not folder.is_dir():
        raise DataError(f"this sktime has no {name} data in {folder}", fix="pip install -U sktime")
    return folder
