"""Tasks: one module per job, one interface (`Task`). Importing registers every task."""

import importlib

from glassnet.data.splits import Batch, ItemSplit, Split, TensorSplit
from glassnet.task_index import task_modules
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

for _module in task_modules():  # each registers its task; the index finds them
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
