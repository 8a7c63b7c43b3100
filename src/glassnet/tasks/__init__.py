"""Tasks: one module per job, one interface (`Task`). Importing registers every task."""

import importlib

from glassnet.data.splits import Batch, ItemSplit, Split, TensorSplit
from glassnet.task_index import TASK_MODULES
from glassnet.tasks._base import (
    DataSplits,
    DecodeOptions,
    Encoded,
    StepOutput,
    Task,
    get_task_class,
    higher_is_better,
    list_tasks,
    redraw_splits,
    register_task,
)

for _module in TASK_MODULES:  # registers them; the index lists what `--help` shows
    importlib.import_module(f"glassnet.tasks.{_module}")

__all__ = [
    "Batch",
    "DataSplits",
    "DecodeOptions",
    "ItemSplit",
    "Split",
    "TensorSplit",
    "Encoded",
    "StepOutput",
    "Task",
    "get_task_class",
    "higher_is_better",
    "list_tasks",
    "redraw_splits",
    "register_task",
]
