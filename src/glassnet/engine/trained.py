"""Opening a trained run: its spec, its task with the fitted state, its net with the weights
(`glassnet.load`, and a task that uses another run, through `tasks.provide_run_opener`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from glassnet.config import RunSpec
from glassnet.engine.checkpoint import load_weights
from glassnet.engine.rundir import RunDir
from glassnet.errors import RunError
from glassnet.tasks import Task, get_task_class
from glassnet.tasks._base import provide_run_opener


@dataclass
class Trained:
    run_dir: RunDir
    spec: RunSpec
    task: Task
    net: nn.Module  # on the CPU, in training mode as built


def open_trained(path: str | Path) -> Trained:
    """Rebuild the net from run.yaml through the registry and load its weights; a
    preprocess.json that belongs to another run is said so."""
    run_dir = RunDir.open(path)
    spec = run_dir.read_spec()
    task = get_task_class(spec.task)(spec.data, state=run_dir.read_preprocess(), seed=spec.seed)
    try:
        net = task.build_net(spec.net)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise RunError(
            f"'{run_dir.preprocess}' does not match a {spec.task} run ({type(e).__name__}: {e})",
            fix="Keep each run's preprocess.json with its own run.yaml, or train it again",
        ) from None
    load_weights(run_dir.weights, net)
    return Trained(run_dir, spec, task, net)


def _task_and_net(path: str | Path) -> tuple[Task, nn.Module]:
    trained = open_trained(path)
    return trained.task, trained.net.eval()


provide_run_opener(_task_and_net)
