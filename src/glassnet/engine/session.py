"""A training session: from a spec to a saved run, as one object to start, watch and stop.

The CLI and `glassnet.train` run a session in the calling thread; the lab runs one in the
background and reads its events (one per few steps with the loss, one per epoch with the
metrics, one when a learning snapshot is written, one at the end). `stop()` asks for a
clean stop: the loop finishes its step, writes a checkpoint and returns "interrupted".
"""

from __future__ import annotations

import contextlib
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glassnet.config import RunSpec, build_spec, dump_yaml
from glassnet.data.files import atomic_write_json
from glassnet.engine import distributed
from glassnet.engine.callbacks import (
    Callback,
    LearningSnapshots,
    MetricsCSV,
    Progress,
    TensorBoard,
)
from glassnet.engine.checkpoint import load_weights
from glassnet.engine.device import autocast_dtype, choose_device
from glassnet.engine.inference import Outputs, run_outputs
from glassnet.engine.rundir import RunDir
from glassnet.engine.seeding import seed_everything
from glassnet.engine.trained import open_trained as _opens_runs  # noqa: F401  (tasks may use other runs)
from glassnet.engine.trainer import FitResult, Trainer
from glassnet.errors import ConfigError, RunError
from glassnet.nets import net_config
from glassnet.tasks import DataSplits, Task, get_task_class
from glassnet.tasks.sources import OPTIONS, take_objects

Notify = Callable[[str], None]
STEP_EVENTS_EVERY = 10  # steps between "step" events (each costs a loss read)


@dataclass
class Event:
    kind: str  # "started", "step", "epoch", "snapshot", "finished", "failed"
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


@dataclass
class Trained:
    """What a finished session leaves: the run folder and, in the writing process, the
    task, the best net and its final metrics."""

    path: Path
    spec: RunSpec
    task: Task | None = None
    net: nn.Module | None = None
    device: torch.device | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    fit: FitResult | None = None


def plan(
    task: str,
    data: Any = None,
    *,
    config: str | Path | None = None,
    resume: str | Path | None = None,
    **options: Any,
) -> tuple[RunSpec, dict[str, Any]]:
    """The spec of a new run (or of the run to resume) and the in-memory data it reads."""
    objects = take_objects(data, options)
    if resume is None:
        return build_spec(task, options, config), objects
    if options.keys() - set(OPTIONS):
        raise ConfigError(
            "a resumed run keeps its configuration",
            fix="Pass only --resume (and the data again if it was in memory)",
        )
    return RunDir.open(resume).read_spec(), objects


class _Feed(Callback):
    """Turns the loop's callbacks into the session's events."""

    def __init__(self, session: TrainingSession) -> None:
        self.session = session

    def on_train_start(self, **kw: Any) -> None:
        self.session._emit("started", **kw, streamed=self.trainer.streamed)

    def on_step(self, *, epoch: int, step: int, loss: Any) -> None:
        if step % STEP_EVENTS_EVERY == 0 and loss is not None:
            self.session._emit("step", epoch=epoch + 1, step=step + 1, loss=float(loss))

    def on_note(self, *, message: str) -> None:
        self.session._emit("note", message=message)

    def on_epoch_end(self, *, epoch: int, metrics: dict[str, float], improved: bool) -> None:
        self.session._emit("epoch", epoch=epoch + 1, metrics=dict(metrics), improved=improved)
        if self.session.snapshots is not None and self.session.snapshots.is_file():
            self.session._emit("snapshot", epoch=epoch + 1, path=str(self.session.snapshots))


class TrainingSession:
    """One training run. `run()` blocks; `start()` runs it in a background thread.

    Example:
        >>> spec, objects = plan("tabular", "builtin:iris", epochs=5)       # doctest: +SKIP
        >>> s = TrainingSession(spec); s.start()                            # doctest: +SKIP
        >>> for e in s.events(): print(e.kind, e.data)                      # doctest: +SKIP
    """

    def __init__(
        self,
        spec: RunSpec,
        *,
        out: str | Path | None = None,
        resume: str | Path | None = None,
        objects: dict[str, Any] | None = None,
        notify: Notify | None = None,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.spec, self.out, self.resume = spec, out, resume
        self.objects = objects or {}
        self.notify = notify  # None: quiet
        self.callbacks = list(callbacks or [])
        self.status = "waiting"  # -> running -> finished | stopped | failed
        self.error: BaseException | None = None
        self.result: Trained | None = None
        self.path: Path | None = None
        self.snapshots: Path | None = None
        self.history: list[Event] = []
        self._listeners: list[queue.Queue[Event]] = []
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stop = False
        self._thread: threading.Thread | None = None

    # ---- watching ------------------------------------------------------------------------
    def _emit(self, kind: str, **data: Any) -> None:
        event = Event(kind, data)
        with self._lock:
            self.history.append(event)
            for q in self._listeners:
                q.put(event)

    def subscribe(self) -> queue.Queue[Event]:
        """A queue that receives every event so far and every later one."""
        q: queue.Queue[Event] = queue.Queue()
        with self._lock:
            for e in self.history:
                q.put(e)
            self._listeners.append(q)
        return q

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events in order until the session ends (or `timeout` seconds pass quietly)."""
        q = self.subscribe()
        while True:
            try:
                event = q.get(timeout=timeout)
            except queue.Empty:
                return
            yield event
            if event.kind in ("finished", "failed"):
                return

    # ---- control -------------------------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread; watch with `events()`, end with `stop()`."""
        self._thread = threading.Thread(target=self._run_quietly, name="glassnet-train")
        self._thread.start()

    def _run_quietly(self) -> None:
        # A failure is kept in self.error and told by the "failed" event.
        with contextlib.suppress(BaseException):
            self.run()

    def stop(self) -> None:
        """Ask for a clean stop: the current step ends, a checkpoint is written."""
        self._stop = True
        if self._trainer is not None:
            self._trainer.stop.requested = True

    def wait(self, timeout: float | None = None) -> Trained | None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result

    # ---- the work --------------------------------------------------------------------------
    def run(self) -> Trained:
        """Train to the end (or a stop) and return what was saved."""
        self.status = "running"
        try:
            if distributed.wants_launch(self.spec.train):
                self.result = self._launch()
            else:
                self.result = self._train()
        except BaseException as e:
            self.status, self.error = "failed", e
            self._emit("failed", error=str(e), type=type(e).__name__)
            raise
        fit = self.result.fit
        self.status = "stopped" if fit is not None and fit.stopped == "interrupted" else "finished"
        self._emit(
            "finished",
            path=str(self.result.path),
            status=self.status,
            metrics=self.result.metrics,
        )
        return self.result

    def _say(self, message: str, world: distributed.World) -> None:
        if self.notify is not None and world.is_main:
            self.notify(message)

    def _train(self) -> Trained:
        spec = self.spec
        device = choose_device(spec.train.device)
        world = distributed.init_world(device)
        seed_everything(spec.seed, spec.train.deterministic)
        task_cls = get_task_class(spec.task)
        if self.objects and not task_cls.takes_objects:
            raise ConfigError(
                f"task '{spec.task}' reads files, not in-memory data",
                fix="Pass a path (a folder or a file)",
            )
        task = task_cls(spec.data, seed=spec.seed, objects=self.objects)
        splits = task.load_data()
        notes = list(splits.notes)
        if not self.resume:  # a resumed run keeps the values in its run.yaml
            spec, sized = _fit_to_data(spec, task, len(splits.train))
            self.spec = spec
            notes += sized
        for note in notes:
            self._say(f"note: {note}", world)
        # Every rank reads a resumed run's checkpoint; rank 0 alone writes.
        run_dir = RunDir.open(self.resume) if self.resume else None
        if world.is_main:
            run_dir = run_dir or RunDir.create(self.out, spec.task)
            self.path = run_dir.path
            run_dir.write_spec(spec, device, world.size, notes)
            run_dir.write_preprocess(task.state())

        torch.manual_seed(spec.seed)  # the net's initial weights depend on the seed alone
        net = task.build_net(spec.net)
        if run_dir is not None and world.is_main:
            run_dir.write_net_config(net_config(net))
        events: list[Callback] = [Progress(quiet=self.notify is None or not world.is_main)]
        if run_dir is not None and world.is_main:
            self.snapshots = run_dir.path / "snapshots" / "learning.safetensors"
            events += [
                MetricsCSV(run_dir.metrics_csv),
                TensorBoard(run_dir.tensorboard),
                LearningSnapshots(self.snapshots),
            ]
        events.append(_Feed(self))
        trainer = Trainer(
            task,
            net,
            spec.train,
            seed=spec.seed,
            device=device,
            run=run_dir,
            world=world,
            callbacks=events + self.callbacks,
        )
        self._trainer = trainer
        if self._stop:
            trainer.stop.requested = True
        fit = trainer.fit(splits, resume=self.resume is not None)
        distributed.barrier(world)
        metrics: dict[str, Any] = {}
        # Stopped inside the first epoch there is no best epoch yet: nothing to score, and
        # the checkpoint resumes it.
        if run_dir is not None and world.is_main and run_dir.weights.is_file():
            load_weights(run_dir.weights, net)  # the best epoch's weights
            val, chosen = _calibrate(task, net, splits, device, spec)
            for note in chosen:
                self._say(f"note: {note}", world)
            if val is not None:  # what was chosen, kept with the run
                run_dir.write_preprocess(task.state())
                run_dir.write_spec(spec, device, world.size, notes + chosen)
            metrics = final_metrics(task, net, splits, fit, device, spec, val)
            atomic_write_json(run_dir.metrics_json, metrics)
        distributed.shutdown(world)
        return Trained(
            run_dir.path if run_dir else Path("."), spec, task, net, device, metrics, fit
        )

    def _launch(self) -> Trained:
        """Re-run this training under torchrun (devices x nodes processes); the run is
        written by global rank 0."""
        spec, out, resume = self.spec, self.out, self.resume
        if self.objects:
            raise ConfigError(
                "data-parallel training (devices or nodes > 1) needs data in files",
                fix="Save the DataFrame to CSV and pass its path",
            )
        if spec.train.nodes > 1 and out is None and resume is None:
            raise ConfigError(
                "training on several machines needs --out DIR (the same on every machine)",
                fix="Add --out runs/NAME",
            )
        if out is None and resume is None:
            out = RunDir.create(None, spec.task).path
        with tempfile.TemporaryDirectory() as tmp:
            argv = ["train", spec.task]
            if resume is not None:
                argv += ["--resume", str(resume)]
            else:
                cfg = Path(tmp) / "run.yaml"
                cfg.write_text(dump_yaml(spec.to_dict()), encoding="utf-8")
                argv += ["--config", str(cfg), "--out", str(out)]
            if self.notify is None:
                argv.append("--quiet")
            try:
                code = distributed.launch(spec.train, argv)
            except distributed.LaunchInterrupted as stopped:
                stopped.path = Path(resume or out)  # type: ignore[arg-type]
                raise
        if code == 2:  # a usage or data error the workers explained (e.g. a NaN loss)
            raise distributed.WorkersFailed(code)
        if code != 0:
            raise RunError(
                f"distributed training failed (exit code {code})",
                fix="See the messages above; try --devices 1 to debug",
            )
        self.path = Path(resume or out)  # type: ignore[arg-type]
        return Trained(self.path, spec)


def _fit_to_data(spec: RunSpec, task: Task, n_train: int) -> tuple[RunSpec, list[str]]:
    """The task's data-sized training values for the options the user did not set."""
    sized = {
        k: v
        for k, v in task.sized_train_defaults(n_train, spec.train.batch_size).items()
        if k not in spec.given_train and getattr(spec.train, k) != v
    }
    if not sized:
        return spec, []
    said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sized.items())
    flags = " / ".join(f"--{k.replace('_', '-')}" for k in sized)
    note = f"{n_train} training samples, so {said}; set {flags} to choose"
    return spec.with_train(**sized), [note]


def _calibrate(
    task: Task, net: nn.Module, splits: DataSplits, device: torch.device, spec: RunSpec
) -> tuple[Outputs | None, list[str]]:
    """The validation outputs a calibrating task chose its settings from, and its notes
    on what it chose (None, [] when it does not calibrate or there is no validation)."""
    if not task.calibrates or splits.val is None:
        return None, []
    amp = autocast_dtype(device, spec.train.precision)
    out = run_outputs(task, net, splits.val, device=device, amp=amp)
    return out, task.calibrate(out.outputs, out.batch)


def final_metrics(
    task: Task,
    net: nn.Module,
    splits: DataSplits,
    fit: FitResult,
    device: torch.device,
    spec: RunSpec,
    val: Outputs | None = None,
) -> dict[str, Any]:
    """Scores of the best weights on the validation and test splits (`val`: validation
    outputs already computed, scored under the settings calibrated from them)."""
    result: dict[str, Any] = {
        "monitor": fit.monitor,
        "best_value": fit.best_value,
        "best_epoch": fit.best_epoch + 1,
        "epochs_run": fit.epochs_run,
        "stopped": fit.stopped,
        "train_seconds": round(fit.train_seconds, 3),
        "samples_per_second": round(fit.samples_seen / max(fit.train_seconds, 1e-9), 1),
        "train_precision": fit.precision,  # so a user can tell bf16 steps from fp32
    }
    amp = autocast_dtype(device, spec.train.precision)
    for name in ("val", "test"):
        split = getattr(splits, name)
        if split is None:
            continue
        if name == "val" and val is not None:
            result["val"] = {"loss": val.loss, **task.score(val.outputs, val.batch)}
            continue
        if name == "val" and _last_is_best(fit):
            # the best weights are the last epoch's, whose validation was just scored:
            # the same numbers without a second pass (about 8 % of a short image run)
            result["val"] = {
                k.removeprefix("val_"): v for k, v in fit.last_metrics.items() if k[:4] == "val_"
            }
            continue
        out = run_outputs(task, net, split, device=device, amp=amp)
        result[name] = {"loss": out.loss, **task.score(out.outputs, out.batch)}
    return result


def _last_is_best(fit: FitResult) -> bool:
    return (
        fit.stopped != "interrupted"
        and fit.best_epoch == fit.epochs_run - 1
        and "val_loss" in fit.last_metrics
    )


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
