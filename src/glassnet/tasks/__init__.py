"""Tasks: one module per job, one interface (`Task`). Importing registers every task."""

from glassnet.data.splits import Batch, ItemSplit, Split, TensorSplit
from glassnet.tasks import (  # noqa: F401  (registers them)
    detection,
    faces,
    forecasting,
    images,
    sequences,
    speech,
    tabular,
    translation,
)
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
