"""Tasks: one module per job, one interface (`Task`). Importing registers every task."""

from glassnet.tasks import tabular  # noqa: F401  (registers "tabular")
from glassnet.tasks._base import (
    Batch,
    DataSplits,
    StepOutput,
    Task,
    get_task_class,
    higher_is_better,
    list_tasks,
    register_task,
)

__all__ = [
    "Batch",
    "DataSplits",
    "StepOutput",
    "Task",
    "get_task_class",
    "higher_is_better",
    "list_tasks",
    "register_task",
]
