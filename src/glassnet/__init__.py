"""glassnet: build, train, use and open up ANNs, CNNs and RNNs on your own data.

Example:
    >>> import glassnet
    >>> run = glassnet.train("tabular", data="builtin:wine", epochs=20)  # doctest: +SKIP
    >>> run.predict("wine.csv")                                          # doctest: +SKIP
"""

from glassnet._version import __version__
from glassnet.api import Run, load, session, train
from glassnet.data.builtin import list_datasets
from glassnet.engine.session import TrainingSession
from glassnet.errors import GlassnetError
from glassnet.nets import list_nets
from glassnet.tasks import list_tasks

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
