"""The facade: train / load / Run.predict / Run.evaluate. The CLI and REST call these.

Option names are the spec field names (`batch_size`, `hidden`, `target`, ...), the same
as the CLI flags (`--batch-size`, `--hidden`, `--target`).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from glassnet import tasks as _tasks  # noqa: F401  (registers every task)
from glassnet.config import RunSpec
from glassnet.data.splits import TensorSplit
from glassnet.engine.callbacks import Callback
from glassnet.engine.device import autocast_dtype, choose_device, place_net
from glassnet.engine.inference import Outputs, run_outputs
from glassnet.engine.session import Notify, TrainingSession, plan, stderr
from glassnet.engine.trained import open_trained
from glassnet.engine.trainer import FitResult
from glassnet.errors import ConfigError, GlassnetError, RunError
from glassnet.export import ExportResult, export_model
from glassnet.tasks import Encoded, Task, redraw_splits
from glassnet.tasks._base import plain
from glassnet.tasks.messages import (
    ExplainResponse,
    ModelInfo,
    PredictResponse,
    Request,
    ViewOut,
)

log = logging.getLogger("glassnet")
MAX_EXPLAINED = 16  # inputs explained one by one (a page section each); the rest are noted


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
        self.graph: Any = None  # an ExportedForward answering requests (`use_engine`)
        # (net or None, what it is): the shuffled-label twin the sanity checks compare with
        self.shuffled_twin: tuple[nn.Module | None, str] | None = None
        self.graph_checked = False

    def __repr__(self) -> str:
        return f"Run('{self.path}', task={self.spec.task!r}, net={self.spec.net.name!r})"

    def _outputs(self, encoded: Encoded, with_loss: bool, graph: Any = None) -> Outputs:
        return run_outputs(
            self.task,
            self.net,
            encoded.data,
            device=self.device,
            amp=autocast_dtype(self.device, self.spec.train.precision),
            with_loss=with_loss,
            forward=graph,
        )

    def _answers(self, data: Any, exported: bool = False) -> tuple[list[dict[str, Any]], Encoded]:
        encoded = self.task.encode(data, with_targets=False)
        self.notes = encoded.notes + self.task.caveats(self.metrics or {})
        graph = self._graph_if_agrees(encoded) if exported else None
        out = self._outputs(encoded, with_loss=False, graph=graph)
        self.last_encoded = encoded
        return self.task.decode(out.outputs, out.batch), encoded

    def use_engine(self, engine: str = "auto", threads: int | None = None) -> str:
        """How `predict_request` (the service) runs the net: "torch" (eager), "onnx" (the
        exported graph through onnxruntime; exported now, parity-checked, if the run has
        none) or "auto" (onnx on CPU where it exports, else eager). Returns what was
        chosen, in words. Answers do not change: the first request is answered by both and
        compared; on any difference the run stays eager."""
        from glassnet.export.runtime import ExportedForward, graph_file

        self.graph, self.graph_checked = None, False
        if engine == "torch" or (engine == "auto" and self.device.type != "cpu"):
            return "eager PyTorch"
        path = graph_file(self.path)
        if not path.is_file():
            try:
                self.export("onnx")
            except (GlassnetError, OSError) as e:  # cannot export, or a read-only run folder
                if engine == "onnx":
                    raise
                return f"eager PyTorch (no ONNX graph: {e})"
        self.graph = ExportedForward(path, self.task, threads)
        return f"onnxruntime ({path.relative_to(self.path)})"

    def _graph_if_agrees(self, encoded: Encoded) -> Any:
        """The exported graph, after it answered one real batch exactly as eager did."""
        if self.graph is None or self.graph_checked:
            return self.graph
        from glassnet.export.runtime import agrees

        first = Encoded(TensorSplit(encoded.data.take(range(min(len(encoded.data), 8)))))
        eager = self._outputs(first, with_loss=False).outputs
        exported = self._outputs(first, with_loss=False, graph=self.graph).outputs
        self.graph_checked = True
        if not agrees(eager, exported):
            log.warning(
                "%s: the exported graph's answers differ from eager PyTorch's; serving eager",
                self.name,
            )
            self.graph = None
        return self.graph

    def predict(self, data: Any, **decoding: Any) -> pd.DataFrame:
        """Predictions as a table: for a table a path, DataFrame or list of row dicts; for
        images files, folders or glob patterns; for series the history to forecast from;
        for text models strings. `decoding` holds the task's decode options (e.g. a
        translator's `beam=4`; `glassnet.load(run).task.decode_options` lists them)."""
        with self.task.decoded_with(**decoding):
            predictions, encoded = self._answers(data)
        return self.task.to_frame(predictions, encoded)

    def prediction_figure(self, predictions: pd.DataFrame, path: str | Path) -> Path | None:
        """The task's picture of the last `predict` (e.g. the forecast with its history),
        written to `path`; None when the task has none."""
        if self.task.prediction_figure is None or self.last_encoded is None:
            return None
        from glassnet.explain.prediction_figures import draw_prediction

        return draw_prediction(self, predictions, Path(path))

    def explain(
        self,
        inputs: Any = None,
        each: int = MAX_EXPLAINED,
        sanity: str = "full",
        notify: Notify | None = None,
    ) -> Explanation:
        """Look inside the net: views as figures + the numbers behind them, and a
        self-contained `report/index.html`. The first `each` inputs are also explained one
        by one (a section each); views over all inputs (decision regions) see them all.

        Each map of an input carries a sanity check (`View.checks["verdict"]`): against nets
        with random weights and, with `sanity="full"`, against a copy of the net trained
        briefly on shuffled answers (trained on first use, kept in `<run>/sanity/`);
        `sanity="weights"` skips that copy. `notify` hears what takes time.

        Example:
            >>> ex = glassnet.load("runs/images-1").explain("cat.png")   # doctest: +SKIP
            >>> [v.title for v in ex.views], ex.report                   # doctest: +SKIP
        """
        return explain_run(self, inputs, each, sanity, notify)

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
            example=self.task.request_example(),
        )

    def predict_request(self, request: Request, **decoding: Any) -> PredictResponse:
        """`predict` for a request model (rows, a history, uploaded images): JSON-ready
        answers in input order, plus the data check's notes. Requests carry data only."""
        self._check_request(request)
        with self.task.decoded_with(**decoding):
            # the exported graph bakes in the run's own decoding; other options run eager
            source = self.task.request_source(request)
            predictions, encoded = self._answers(source, exported=not decoding)
        records = self.task.to_records(predictions, encoded)
        return PredictResponse(
            model=self.name, task=self.spec.task, predictions=records, notes=encoded.notes
        )

    def request_notes(self, request: Request) -> list[str]:
        """The notes `predict_request` gives this request, from encoding it alone (no
        forward pass): what a shared pass answers each of its callers, so a note about
        one caller's values never reaches another."""
        self._check_request(request)
        return self.task.input_notes(self.task.request_source(request))

    def explain_request(
        self, request: Request | None = None, with_arrays: bool = False
    ) -> ExplainResponse:
        """`explain` for a request model: the views with their figures as PNG data URLs;
        nothing is written to disk. Without a request: the views of the net alone. With
        `with_arrays`, the numbers behind each view too (arrays up to 20 000 values)."""
        from glassnet.explain.figures import png_bytes
        from glassnet.explain.report import stamp_verdict

        if request is not None:
            self._check_request(request)
        views = explain_views(self, None if request is None else self.task.request_source(request))
        out = []
        for v in views:
            stamp_verdict(v)
            data = base64.b64encode(png_bytes(v.figure)).decode("ascii")
            out.append(
                ViewOut(
                    name=v.name,
                    title=v.title,
                    how_to_read=v.how_to_read,
                    png=f"data:image/png;base64,{data}",
                    checks=plain(v.checks),
                    about=v.about,
                    scope=v.scope,
                    arrays=_small_arrays(v.arrays) if with_arrays else None,
                )
            )
        return ExplainResponse(model=self.name, task=self.spec.task, views=out, notes=self.notes)

    def _check_request(self, request: Request) -> None:
        if not isinstance(request, self.task.request_model):
            raise ConfigError(
                f"{self.spec.task} models take a {self.task.request_model.__name__}, "
                f"not a {type(request).__name__}"
            )

    def evaluate(self, data: Any = None, report: bool = False, **decoding: Any) -> dict[str, Any]:
        """Task metrics on labelled data. Without data: the run's own held-out test split,
        re-drawn from its data and seed (the numbers equal metrics.json's `test`), or for
        forecasting the backtest of its own series. With `report`, evaluation plots
        (confusion matrix, worst mistakes, backtest, worst detections) are written under
        `<run>/report/` and listed. `decoding`: the task's decode options (e.g. `beam=4`)."""
        held_out = data is None and not self.task.evaluates_own_data()
        if data is None:
            data = self.spec.data.data
        # Scored inside the block too: a recogniser's beam search runs when it decodes the
        # outputs, not in the forward pass (speech's --beam was ignored by evaluate).
        with self.task.decoded_with(**decoding):
            if held_out:
                encoded = Encoded(self._held_out_split())
            else:
                encoded = self.task.encode(data, with_targets=True)
            self.notes = encoded.notes
            out = self._outputs(encoded, with_loss=True)
            result: dict[str, Any] = dict(self.task.score(out.outputs, out.batch))
            result["n"] = out.n
            if report:
                from glassnet.explain.evaluation import write_evaluation_report

                result["report"] = write_evaluation_report(
                    self.task, out, encoded, self.path / "report"
                )
        return result

    def _held_out_split(self) -> Any:
        """The run's test split (validation if it has none), re-read from its data with
        its seed: the same rows it was scored on when it finished training."""
        fix = "Pass labelled data: glassnet evaluate RUN DATA"
        splits = redraw_splits(self.spec, "score its test split", RunError, fix)
        split = splits.test if splits.test is not None else splits.val
        if split is None:
            raise ConfigError(
                "this run kept no test or validation split to score",
                fix=fix,
            )
        return split


def _small_arrays(arrays: dict[str, Any], limit: int = 20_000) -> dict[str, Any]:
    """The numbers behind a view as JSON: arrays up to `limit` values, floats to 5
    significant digits (what a page plots), text arrays as strings."""
    import numpy as np

    out: dict[str, Any] = {}
    for name, value in arrays.items():
        try:
            a = np.asarray(value)
        except ValueError:  # ragged: not an array a page plots
            continue
        if a.size > limit:
            continue
        if a.dtype.kind == "f":
            out[name] = np.round(a.astype(np.float64), 5).tolist()
        elif a.dtype.kind in "iub":
            out[name] = a.tolist()
        elif a.dtype.kind in "US":
            out[name] = [str(x) for x in a.ravel().tolist()]
    return out


SANITY_LEVELS = ("full", "weights")


def explain_views(
    run: Run,
    inputs: Any = None,
    each: int = MAX_EXPLAINED,
    sanity: str = "weights",
    notify: Notify | None = None,
) -> list[Any]:
    """Views inside `run`'s net: model-level, plus per-input when inputs are given (a
    forecaster shows its memory on the latest window of its own series). With
    `sanity="full"` the shuffled-label twin is trained when missing; otherwise a cached
    one is used if there is one (a REST request never waits for training)."""
    from glassnet.explain.figures import close_figures
    from glassnet.explain.views import views_for

    family = run.spec.net.name.split(".")[0]
    if inputs is None and run.task.evaluates_own_data():
        inputs = run.spec.data.data
    encoded = None
    if inputs is not None:  # bad inputs fail before any figure is drawn
        encoded = run.task.encode(inputs, with_targets=False)
        run.notes = encoded.notes
        _prepare_twin(run, sanity, notify)
    views: list[Any] = []
    try:
        for fn in views_for(family, "model"):
            views += fn(run, None)
        if encoded is not None:
            for fn in views_for(family, "inputs"):
                for v in fn(run, encoded):
                    v.scope = "inputs"
                    views.append(v)
            n = len(encoded)
            if n > each:
                run.notes = [*run.notes, f"explained the first {each} of {n} inputs one by one"]
            for i in range(min(n, each)):
                one = encoded.only(i) if n > 1 else encoded
                about = one.names[0] if one.names else f"input {i + 1}"
                for fn in views_for(family, "input"):
                    for v in fn(run, one):
                        v.about, v.scope = about, "input"
                        if n > 1:
                            v.name = f"{v.name}-{i + 1}"
                        views.append(v)
    except BaseException:
        close_figures(views)
        raise
    return views


def _prepare_twin(run: Run, sanity: str, notify: Notify | None) -> None:
    """Set `run.shuffled_twin` for the sanity checks of the maps about to be drawn."""
    from glassnet.explain.sanity import model_skill
    from glassnet.explain.shuffled_twin import load_twin, train_twin

    if sanity not in SANITY_LEVELS:
        raise ConfigError(
            f"unknown sanity level '{sanity}'",
            fix="Use 'full' (random weights and a shuffled-answer copy) or 'weights'",
        )
    if run.shuffled_twin is not None and run.shuffled_twin[0] is not None:
        return
    if model_skill(run.metrics)[0] is False:  # the verdict fails on skill already
        run.shuffled_twin = (None, "")
    elif sanity == "full":
        run.shuffled_twin = train_twin(run, notify)
    else:
        run.shuffled_twin = load_twin(run)


def explain_run(
    run: Run,
    inputs: Any = None,
    each: int = MAX_EXPLAINED,
    sanity: str = "full",
    notify: Notify | None = None,
) -> Explanation:
    """The views and the self-contained report `<run>/report/index.html`."""
    from glassnet.explain.report import write_sections

    views = explain_views(run, inputs, each, sanity, notify)
    overall = [v for v in views if not v.about]
    sections = [("", "", overall)]
    for about in dict.fromkeys(v.about for v in views if v.about):
        sections.append(
            (
                f"Input: {about}",
                "What the net did with this input.",
                [v for v in views if v.about == about],
            )
        )
    kept = _keep_earlier_report(run.path / "report")
    report = write_sections(
        sections,
        run.path / "report",
        f"Inside {run.path.name}",
        f"{run.spec.task} task, net {run.spec.net.name}",
    )
    return Explanation(views=views, report=report, earlier=kept)


def _keep_earlier_report(folder: Path) -> Path | None:
    """The last explanation's page (self-contained: its pictures are inside) moved to
    report/earlier/index-K.html before a new one replaces it; nothing is lost."""
    index = folder / "index.html"
    if not index.is_file():
        return None
    earlier = folder / "earlier"
    earlier.mkdir(exist_ok=True)
    numbers = [p.stem.removeprefix("index-") for p in earlier.glob("index-*.html")]
    k = 1 + max((int(n) for n in numbers if n.isdigit()), default=0)
    return index.replace(earlier / f"index-{k}.html")


@dataclass
class Explanation:
    """What `Run.explain` returns: the views (figures + arrays) and the HTML report path."""

    views: list[Any]
    report: Path
    earlier: Path | None = None  # where the previous explanation's page was kept


def session(
    task: str,
    data: Any = None,
    *,
    config: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    notify: Notify | None = None,
    callbacks: list[Callback] | None = None,
    **options: Any,
) -> TrainingSession:
    """A training run to start, watch and stop (what `train` runs to the end). The spec
    is validated now; nothing is read or trained until `start()` (background thread) or
    `run()` (this thread).

    Example:
        >>> s = glassnet.session("tabular", "builtin:iris", epochs=5)   # doctest: +SKIP
        >>> s.start()                                                    # doctest: +SKIP
        >>> for event in s.events():                                     # doctest: +SKIP
        ...     print(event.kind, event.data)  # started, step, epoch, snapshot, finished
    """
    spec, objects = plan(task, data, config=config, resume=resume, **options)
    return TrainingSession(
        spec, out=out, resume=resume, objects=objects, notify=notify, callbacks=callbacks
    )


def train(
    task: str,
    data: Any = None,
    *,
    config: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    notify: Notify | None = stderr,
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

    Returns the run; None only on a machine other than rank 0's in a multi-machine run
    (`nodes` > 1), whose processes took part while rank 0's machine wrote the run.

    Example:
        >>> run = glassnet.train("tabular", data="builtin:wine", epochs=20)   # doctest: +SKIP
        >>> run.metrics["test"]["accuracy"]                                   # doctest: +SKIP
    """
    done = session(
        task,
        data,
        config=config,
        out=out,
        resume=resume,
        notify=None if quiet else notify,
        callbacks=callbacks,
        **options,
    ).run()
    if done.task is None or done.net is None or done.device is None:  # trained under torchrun
        if not (done.path / "run.yaml").is_file():
            return None  # type: ignore[return-value]  (another machine holds the run)
        return load(done.path)
    return Run(done.path, done.spec, done.task, done.net, done.device, done.metrics, done.fit)


def load(path: str | Path, device: str = "auto") -> Run:
    """Open a trained run: rebuild the net from run.yaml through the registry, load weights.

    Example:
        >>> run = glassnet.load("runs/tabular-1")            # doctest: +SKIP
        >>> run.predict([{"age": 42, "contract": "two-year"}])  # doctest: +SKIP
    """
    trained = open_trained(path)
    dev = choose_device(device)
    metrics: dict[str, Any] = {}
    if trained.run_dir.metrics_json.is_file():
        metrics = json.loads(trained.run_dir.metrics_json.read_text(encoding="utf-8"))
    return Run(
        trained.run_dir.path, trained.spec, trained.task, place_net(trained.net, dev), dev, metrics
    )
