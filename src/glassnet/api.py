"""The facade: train / load / Run.predict / Run.evaluate. The CLI and REST call these.

Option names are the spec field names (`batch_size`, `hidden`, `target`, ...), the same
as the CLI flags (`--batch-size`, `--hidden`, `--target`).
"""

from __future__ import annotations

import base64
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from glassnet import tasks as _tasks  # noqa: F401  (registers every task)
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
from glassnet.engine.device import autocast_dtype, choose_device, place_net
from glassnet.engine.inference import run_outputs
from glassnet.engine.rundir import RunDir
from glassnet.engine.seeding import seed_everything
from glassnet.engine.trainer import FitResult, Trainer
from glassnet.errors import ConfigError, RunError
from glassnet.export import ExportResult, export_model
from glassnet.tasks import Task, get_task_class
from glassnet.tasks._base import plain
from glassnet.tasks.messages import (
    ExplainResponse,
    ModelInfo,
    PredictResponse,
    Request,
    ViewOut,
)
from glassnet.tasks.sources import IN_MEMORY

Notify = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Run:
    """A trained model on disk, ready to predict, evaluate (and, later, explain and export).

    Example:
        >>> run = glassnet.train("tabular", data="builtin:iris", epochs=5)   # doctest: +SKIP
        >>> run.predict("new_flowers.csv")                                    # doctest: +SKIP
    """

    def __init__(
        self,
        path: Path,
        spec: RunSpec,
        task: Task,
        net: nn.Module,
        device: torch.device,
        metrics: dict[str, Any] | None = None,
        fit: FitResult | None = None,
    ) -> None:
        self.path = path
        self.spec = spec
        self.task = task
        self.net = net.eval()
        self.device = device
        self.metrics = metrics or {}
        self.fit = fit
        self.notes: list[str] = []
        self.last_encoded: Any = None  # the inputs of the last predict (for plots)

    def __repr__(self) -> str:
        return f"Run('{self.path}', task={self.spec.task!r}, net={self.spec.net.name!r})"

    def _outputs(self, batch: dict[str, torch.Tensor], with_loss: bool) -> torch.Tensor:
        outputs, _ = run_outputs(
            self.task,
            self.net,
            batch,
            device=self.device,
            amp=autocast_dtype(self.device, self.spec.train.precision),
            with_loss=with_loss,
        )
        return outputs

    def predict(self, data: Any, *, beam: int | None = None) -> pd.DataFrame:
        """Predictions as a table: for a table a path, DataFrame or list of row dicts; for
        images files, folders or glob patterns; for series the history to forecast from;
        for text models strings. `beam` sets a translator's beam width (1 = greedy)."""
        if beam is not None:
            self.task.use_beam(beam)
        encoded = self.task.encode(data, with_targets=False)
        self.notes = encoded.notes
        outputs = self._outputs(encoded.batch, with_loss=False)
        self.last_encoded = encoded
        return self.task.to_frame(self.task.decode(outputs, encoded.batch), encoded)

    def explain(self, inputs: Any = None) -> Explanation:
        """Look inside the net: views as figures + the numbers behind them, and a
        self-contained `report/index.html`.

        Example:
            >>> ex = glassnet.load("runs/images-1").explain("cat.png")   # doctest: +SKIP
            >>> [v.title for v in ex.views], ex.report                   # doctest: +SKIP
        """
        return explain_run(self, inputs)

    def export(
        self,
        format: str = "onnx",
        *,
        out: str | Path | None = None,
        data: Any = None,
        tolerance: float = 1e-4,
    ) -> ExportResult:
        """Write the net as ONNX ("onnx") or TorchScript ("torchscript") under
        `<run>/export/<format>` with preprocess.json and a README of plain-Python code, after
        checking it matches eager PyTorch on held-out inputs (the run's test split, or
        `data`) within `tolerance` (else `ExportError`).

        Example:
            >>> glassnet.load("runs/images-1").export("onnx").max_abs_diff   # doctest: +SKIP
        """
        return export_model(
            self.task,
            self.net,
            self.spec,
            self.path,
            format,
            out=out,
            data=data,
            tolerance=tolerance,
        )

    # ---- the request/response side (the REST service serves exactly these) -------------
    @property
    def name(self) -> str:
        return self.path.name

    def info(self) -> ModelInfo:
        """What this model is and what it expects to be sent."""
        return ModelInfo(
            name=self.name,
            task=self.spec.task,
            net=self.spec.net.name,
            request=self.task.request_model.__name__,
            inputs=self.task.describe_inputs(),
            labels=self.task.class_labels(),
        )

    def predict_request(self, request: Request) -> PredictResponse:
        """`predict` for a request model (rows, a history, uploaded images): JSON-ready
        answers in input order, plus the data check's notes. Requests carry data only."""
        self._check_request(request)
        encoded = self.task.encode(self.task.request_source(request), with_targets=False)
        outputs = self._outputs(encoded.batch, with_loss=False)
        records = self.task.to_records(self.task.decode(outputs, encoded.batch), encoded)
        return PredictResponse(
            model=self.name, task=self.spec.task, predictions=records, notes=encoded.notes
        )

    def explain_request(self, request: Request) -> ExplainResponse:
        """`explain` for a request model: the views with their figures as PNG data URLs;
        nothing is written to disk."""
        from glassnet.explain.figures import png_bytes

        self._check_request(request)
        views = explain_views(self, self.task.request_source(request))
        out = []
        for v in views:
            data = base64.b64encode(png_bytes(v.figure)).decode("ascii")
            out.append(
                ViewOut(
                    name=v.name,
                    title=v.title,
                    how_to_read=v.how_to_read,
                    png=f"data:image/png;base64,{data}",
                    checks=plain(v.checks),
                )
            )
        return ExplainResponse(model=self.name, task=self.spec.task, views=out, notes=self.notes)

    def _check_request(self, request: Request) -> None:
        if not isinstance(request, self.task.request_model):
            raise ConfigError(
                f"{self.spec.task} models take a {self.task.request_model.__name__}, "
                f"not a {type(request).__name__}"
            )

    def evaluate(
        self, data: Any = None, report: bool = False, *, beam: int | None = None
    ) -> dict[str, Any]:
        """Task metrics on labelled data (for forecasting, `data=None` backtests the run's
        own series; for translation it scores the run's own test split). With `report`,
        evaluation plots (confusion matrix, worst mistakes) are written under
        `<run>/report/` and listed. `beam` sets a translator's beam width."""
        if beam is not None:
            self.task.use_beam(beam)
        if data is None:
            if not self.task.evaluates_own_data():
                raise ConfigError(
                    "evaluate needs labelled data for this task",
                    fix="Pass a file or folder like the training data",
                )
            data = self.spec.data.data
        encoded = self.task.encode(data, with_targets=True)
        self.notes = encoded.notes
        outputs = self._outputs(encoded.batch, with_loss=True)
        result: dict[str, Any] = dict(self.task.score(outputs, encoded.batch))
        result["n"] = int(outputs.shape[0])
        if report:
            from glassnet.explain.evaluation import write_evaluation_report

            result["report"] = write_evaluation_report(
                self.task, outputs, encoded, self.path / "report"
            )
        return result


def explain_views(run: Run, inputs: Any = None) -> list[Any]:
    """Views inside `run`'s net: model-level, plus per-input when inputs are given (a
    forecaster shows its memory on the latest window of its own series)."""
    from glassnet.explain.figures import close_figures
    from glassnet.explain.views import views_for

    family = run.spec.net.name.split(".")[0]
    if inputs is None and run.task.evaluates_own_data():
        inputs = run.spec.data.data
    encoded = None
    if inputs is not None:  # bad inputs fail before any figure is drawn
        encoded = run.task.encode(inputs, with_targets=False)
        run.notes = encoded.notes
    views: list[Any] = []
    try:
        for fn in views_for(family, "model"):
            views += fn(run, None)
        if encoded is not None:
            for fn in views_for(family, "input"):
                views += fn(run, encoded)
    except BaseException:
        close_figures(views)
        raise
    return views


def explain_run(run: Run, inputs: Any = None) -> Explanation:
    """The views and the self-contained report `<run>/report/index.html`."""
    from glassnet.explain.report import write_report

    views = explain_views(run, inputs)
    report = write_report(
        views,
        run.path / "report",
        f"Inside {run.path.name}",
        f"{run.spec.task} task, net {run.spec.net.name}",
    )
    return Explanation(views=views, report=report)


@dataclass
class Explanation:
    """What `Run.explain` returns: the views (figures + arrays) and the HTML report path."""

    views: list[Any]
    report: Path


def train(
    task: str,
    data: Any = None,
    *,
    config: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    notify: Notify | None = _stderr,
    callbacks: list[Callback] | None = None,
    **options: Any,
) -> Run:
    """Train a network for `task` on `data` and return the run.

    Args:
        task: "tabular" (more tasks: `glassnet.list_tasks()`).
        data: a file path, "builtin:NAME", or a pandas DataFrame.
        config: a YAML config; `options` override it.
        out: the run directory (default: the next free `runs/<task>-<n>`).
        resume: a run directory to continue from its last checkpoint.
        quiet: no progress output.
        callbacks: extra `glassnet.engine.callbacks.Callback`s (they see `self.trainer`).
        **options: any spec option, e.g. target="churned", epochs=20, hidden=(64, 32).

    Example:
        >>> run = glassnet.train("tabular", data="builtin:wine", epochs=20)   # doctest: +SKIP
        >>> run.metrics["test"]["accuracy"]                                   # doctest: +SKIP
    """
    notify = None if quiet else notify
    frames: dict[str, pd.DataFrame] = {}
    for key in ("data", "val", "test"):
        value = data if key == "data" else options.get(key)
        if isinstance(value, pd.DataFrame):
            frames[key] = value
            value = IN_MEMORY
        if value is not None:
            options[key] = str(value)

    if resume is not None:
        run_dir = RunDir.open(resume)
        spec = run_dir.read_spec()
        if options.keys() - {"data", "val", "test"}:
            raise ConfigError(
                "a resumed run keeps its configuration",
                fix="Pass only --resume (and the data again if it was in memory)",
            )
    else:
        spec = build_spec(task, options, config)
        run_dir = None

    if spec.train.devices > 1 and not distributed.under_torchrun():
        if frames:
            raise ConfigError(
                "data-parallel training (devices > 1) needs data in files",
                fix="Save the DataFrame to CSV and pass its path",
            )
        return _launch_distributed(spec, out=out, resume=resume, quiet=quiet)

    device = choose_device(spec.train.device)
    world = distributed.init_world(device)
    seed_everything(spec.seed, spec.train.deterministic)
    task_obj = get_task_class(spec.task)(spec.data, seed=spec.seed)
    if hasattr(task_obj, "frames"):
        task_obj.frames.update(frames)
    elif frames:
        raise ConfigError(f"task '{spec.task}' does not take a DataFrame", fix="Pass a path")
    splits = task_obj.load_data()
    if notify and world.is_main:
        for note in splits.notes:
            notify(f"note: {note}")
    if world.is_main and run_dir is None:
        run_dir = RunDir.create(out, spec.task)
    if world.is_main:
        assert run_dir is not None
        run_dir.write_spec(spec, device, world.size)
        run_dir.write_preprocess(task_obj.state())

    torch.manual_seed(spec.seed)  # the net's initial weights depend on the seed alone
    net = task_obj.build_net(spec.net)
    events: list[Callback] = [Progress(quiet=notify is None or not world.is_main)]
    if world.is_main and run_dir is not None:
        events += [
            MetricsCSV(run_dir.metrics_csv),
            TensorBoard(run_dir.tensorboard),
            LearningSnapshots(run_dir.path / "snapshots" / "learning.safetensors"),
        ]
    trainer = Trainer(
        task_obj,
        net,
        spec.train,
        seed=spec.seed,
        device=device,
        run=run_dir if world.is_main else None,
        world=world,
        callbacks=events + list(callbacks or []),
    )
    fit = trainer.fit(splits, resume=resume is not None)
    distributed.barrier(world)
    metrics: dict[str, Any] = {}
    if world.is_main and run_dir is not None:
        load_weights(run_dir.weights, net)  # the best epoch's weights
        metrics = _final_metrics(task_obj, net, splits, fit, device, spec)
        atomic_write_json(run_dir.metrics_json, metrics)
    distributed.shutdown(world)
    return Run(run_dir.path if run_dir else Path("."), spec, task_obj, net, device, metrics, fit)


def _final_metrics(
    task: Task, net: nn.Module, splits: Any, fit: FitResult, device: torch.device, spec: RunSpec
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "monitor": fit.monitor,
        "best_value": fit.best_value,
        "best_epoch": fit.best_epoch + 1,
        "epochs_run": fit.epochs_run,
        "stopped": fit.stopped,
        "train_seconds": round(fit.train_seconds, 3),
        "samples_per_second": round(fit.samples_seen / max(fit.train_seconds, 1e-9), 1),
    }
    amp = autocast_dtype(device, spec.train.precision)
    for name in ("val", "test"):
        batch = getattr(splits, name)
        if batch is not None:
            outputs, loss = run_outputs(task, net, batch, device=device, amp=amp)
            result[name] = {"loss": loss, **task.score(outputs, batch)}
    return result


def _launch_distributed(
    spec: RunSpec, *, out: str | Path | None, resume: str | Path | None, quiet: bool
) -> Run:
    """Re-run this training under torchrun with `devices` processes, then load the result."""
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
        if quiet:
            argv.append("--quiet")
        code = distributed.launch(spec.train.devices, argv)
    if code != 0:
        raise RunError(
            f"distributed training failed (exit code {code})",
            fix="See the messages above; try --devices 1 to debug",
        )
    return load(resume or out)


def load(path: str | Path, device: str = "auto") -> Run:
    """Open a trained run: rebuild the net from run.yaml through the registry, load weights.

    Example:
        >>> run = glassnet.load("runs/tabular-1")            # doctest: +SKIP
        >>> run.predict([{"age": 42, "contract": "two-year"}])  # doctest: +SKIP
    """
    run_dir = RunDir.open(path)
    spec = run_dir.read_spec()
    task = get_task_class(spec.task)(spec.data, state=run_dir.read_preprocess(), seed=spec.seed)
    net = task.build_net(spec.net)
    load_weights(run_dir.weights, net)
    dev = choose_device(device)
    metrics: dict[str, Any] = {}
    if run_dir.metrics_json.is_file():
        import json

        metrics = json.loads(run_dir.metrics_json.read_text(encoding="utf-8"))
    return Run(run_dir.path, spec, task, place_net(net, dev), dev, metrics)
