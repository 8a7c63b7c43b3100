"""glassnet: build, train, use and open up ANNs, CNNs and RNNs on your own data.

Example:
    >>> import glassnet
    >>> run = glassnet.train("tabular", data="builtin:wine", epochs=20)  # doctest: +SKIP
    >>> run.predict("wine.csv")                                          # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from glassnet._version import __version__
from glassnet.errors import GlassnetError

if TYPE_CHECKING:
    from glassnet.api import Run, load, session, train
    from glassnet.data.builtin import list_datasets
    from glassnet.engine.session import TrainingSession
    from glassnet.nets import list_nets
    from glassnet.tasks import list_tasks

# Imported on first use (PEP 562): `import glassnet` and the CLI's --help need no torch.
_LAZY = {
    "Run": "glassnet.api",
    "load": "glassnet.api",
    "session": "glassnet.api",
    "train": "glassnet.api",
    "list_datasets": "glassnet.data.builtin",
    "TrainingSession": "glassnet.engine.session",
    "list_nets": "glassnet.nets",
    "list_tasks": "glassnet.tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "GlassnetError",
    "Run",
    "TrainingSession",
    "__version__",
    "list_datasets",
    "list_nets",
    "list_tasks",
    "load",
    "session",
    "train",
]
