"""The command line: argv -> api call. Thin on purpose; every verb lives in `api`.

Exit codes: 0 success, 2 bad input or usage, 1 a failure of ours, 130 interrupted (saved).
With --json, stdout carries one JSON document and nothing else; messages go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glassnet._version import __version__
from glassnet.errors import (
    GlassnetError,
    LaunchInterrupted,
    TrainingError,
    WorkersFailed,
    did_you_mean,
    under_torchrun,
)
from glassnet.task_index import task_summaries

if TYPE_CHECKING:
    from glassnet import api

# torch, pandas and the tasks are imported by the verbs that use them, and the parser fills
# in only the verb (and task) being run: `glassnet --help` and usage errors take a fraction
# of a second. `build_parser()` without argv builds everything (tests, docs).

EXIT_OK, EXIT_OURS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """Usage errors say what to type instead (with 'did you mean'), and exit with 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--epoch` must not silently mean --epochs
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        prog = self.prog
        if message.startswith("unrecognized arguments:"):
            chosen = _chosen_parser(self, sys.argv[1:])
            prog = chosen.prog
            flags = [o for a in chosen._actions for o in a.option_strings]
            for word in message.split(":", 1)[1].split():
                if word.startswith("--"):
                    message += "." + did_you_mean(word.split("=")[0], flags)
                    break
        self.exit(EXIT_USAGE, f"error: {message}\nSee `{prog} --help`.\n")


def _chosen_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser the words of argv lead to, e.g. `train tabular`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word in argv:
                if word in action.choices:
                    return _chosen_parser(action.choices[word], argv[argv.index(word) + 1 :])
    return parser


def _wanted(argv: list[str] | None) -> tuple[str | None, str | None] | None:
    """The verb and the word after it (e.g. train, tabular) that argv asks for; None = all."""
    if argv is None:
        return None
    words = [a for a in argv if not a.startswith("-")]
    return (words[0] if words else None), (words[1] if len(words) > 1 else None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; given argv, only the chosen verb's (and task's) options are built."""
    wanted = _wanted(argv)

    def chosen(verb: str, word: str | None = None) -> bool:
        if wanted is None:
            return True
        return wanted[0] == verb and (word is None or wanted[1] == word)

    parser = _Parser(
        prog="glassnet",
        description="Build, train, use and open up ANNs, CNNs and RNNs on your own data.",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_Parser)

    train = verbs.add_parser(
        "train",
        help="train a network for a task",
        description="Train a network. `glassnet train TASK --help` lists "
        "every option of that task.",
    )
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True, parser_class=_Parser)
    for task in task_summaries():
        tp = tasks.add_parser(
            task.name,
            help=task.summary,
            description=task.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if not chosen("train", task.name):
            continue
        import glassnet.tasks  # noqa: F401  (registers the tasks the options are read from)
        from glassnet.cli_options import add_spec_options

        run = tp.add_argument_group("run")
        run.add_argument("--config", metavar="YAML", help="a run config; flags override it")
        run.add_argument(
            "--out",
            metavar="DIR",
            help="run directory (default: runs/TASK-N; an existing non-empty one is refused)",
        )
        run.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
        add_output_flags(run)
        add_spec_options(tp, task.name, task.default_net)

    ev = verbs.add_parser(
        "evaluate",
        help="score a trained run on labelled data, or on its own test split",
        description="Score a trained run on labelled data (same format as for training, "
        "with the target column); without data, on the run's own held-out test split, "
        "re-drawn from its data and seed (forecasting: the backtest of its own series). "
        "Writes evaluation pictures under RUN/report/.",
    )
    ev.add_argument("run", help="the run directory, e.g. runs/tabular-1")
    ev.add_argument(
        "data",
        nargs="?",
        help="labelled data like the training data: a table, a folder of class folders, or "
        "builtin:NAME (default: the run's own test split)",
    )
    if chosen("evaluate"):
        _add_decode_flags(ev)
    add_output_flags(ev)

    pr = verbs.add_parser(
        "predict",
        help="predict with a trained run",
        description="Predict with a trained run. Prints the predictions, or "
        "writes them with --out (CSV or JSON by extension).",
    )
    pr.add_argument("run", help="the run directory, e.g. runs/tabular-1")
    pr.add_argument(
        "inputs",
        nargs="*",
        help="a table for tabular runs; image files, folders "
        "or glob patterns ('*.png') for image runs",
    )
    pr.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="PATH",
        help="an input given by name (same as a positional input; e.g. the history "
        "to forecast from)",
    )
    pr.add_argument(
        "--out",
        metavar="FILE",
        help="write predictions to FILE (.csv or .json; forecasts also get a .png plot beside it)",
    )
    if chosen("predict"):
        _add_decode_flags(pr)
    add_output_flags(pr)

    ex = verbs.add_parser(
        "explain",
        help="look inside a trained net: filters, feature maps, where it looked, memory",
        description="Write RUN/report/index.html (self-contained) and the PNGs: model-level "
        "views, plus views for the given inputs (a table, images, or a series history).",
    )
    ex.add_argument("run", help="the run directory")
    ex.add_argument("inputs", nargs="*", help="inputs to explain (optional)")
    ex.add_argument(
        "--each",
        type=int,
        default=16,
        metavar="N",
        help="explain the first N inputs one by one, a section each (default: 16)",
    )
    ex.add_argument(
        "--sanity",
        choices=("full", "weights"),
        default="full",
        help="how each map is checked: against nets with random weights and a copy trained "
        "on shuffled answers (full: the copy trains once per run, kept in RUN/sanity/), or "
        "against random weights only (weights: nothing to train)",
    )
    add_output_flags(ex)

    for task in task_summaries():  # verbs a task brings for its runs (faces: enrol, ...)
        if task.commands:
            COMMANDS.update(importlib.import_module(task.commands).add_commands(verbs))

    xp = verbs.add_parser(
        "export",
        help="write the model as ONNX or TorchScript, checked against PyTorch",
        description="Write RUN/export/FORMAT/: the model (dynamic batch size), "
        "preprocess.json, a README with plain-Python code that feeds it, and export.json. "
        "The exported model is run on held-out inputs (the run's test split, or --data) "
        "and compared with eager PyTorch; above --tolerance nothing is kept and the command "
        "fails.",
    )
    xp.add_argument("run", help="the run directory")
    xp.add_argument(
        "--format",
        default="onnx",
        choices=["onnx", "torchscript"],
        help="onnx (runs in onnxruntime; default) or torchscript (torch.jit)",
    )
    xp.add_argument("--out", metavar="DIR", help="where to write (default: RUN/export/FORMAT)")
    xp.add_argument(
        "--data",
        metavar="PATH",
        help="inputs to check parity on, when the run's own data is not at hand",
    )
    xp.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest allowed |exported - eager| difference (default: 1e-4)",
    )
    add_output_flags(xp)

    sv = verbs.add_parser(
        "serve",
        help="serve trained runs over HTTP (FastAPI + uvicorn)",
        description="Serve trained runs as a REST service: GET /health, GET /v1/models, "
        "POST /v1/models/NAME/predict and /explain; the API document is at /docs. Only the "
        "runs named here are loaded; requests carry data, never paths.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  glassnet serve runs/tabular-1 runs/images-2 --port 8000\n"
        "  glassnet serve churn=runs/tabular-1 --token s3cret   # or GLASSNET_TOKEN=s3cret\n"
        "  curl -X POST localhost:8000/v1/models/churn/predict "
        "-H 'Content-Type: application/json' -d '{\"rows\": [{\"age\": 42}]}'\n"
        "  curl -X POST localhost:8000/v1/models/images-2/predict -F files=@cat.png",
    )
    sv.add_argument("runs", nargs="+", metavar="RUN", help="run directories, or NAME=RUN")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' on /v1 routes (default: $GLASSNET_TOKEN)",
    )
    sv.add_argument(
        "--max-body-mb",
        type=float,
        default=10.0,
        help="refuse request bodies larger than this (default: 10)",
    )
    sv.add_argument(
        "--max-batch",
        type=int,
        default=256,
        help="most rows/images answered by one forward pass when requests arrive "
        "together (default: 256)",
    )
    sv.add_argument(
        "--batch-wait-ms",
        type=float,
        default=0.0,
        help="extra time a request waits for others to share its forward pass; requests "
        "that arrive while the model is busy are batched anyway (default: 0)",
    )
    sv.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")
    sv.add_argument(
        "--engine",
        choices=["auto", "onnx", "torch"],
        default="auto",
        help="what runs the nets: onnx (the exported graph through onnxruntime; exported "
        "and parity-checked at start-up if the run has none), torch (eager PyTorch), or auto "
        "(onnx on CPU where the net exports, else torch). Answers are the same: the first "
        "request is answered by both and compared (default: auto)",
    )

    lab = verbs.add_parser(
        "lab",
        help="the web lab: train, compare and look inside runs in a browser",
        description="Start the lab on this machine and open the address it prints:\n"
        "  Runs         sort, filter, tick two or more to compare curves and settings\n"
        "  a run        curves, metrics, evaluation pictures, its configuration\n"
        "  Look inside  every view of the net and of an input you send, each with its\n"
        "               faithfulness check; feature maps, memory, attention and neurons\n"
        "               to take apart\n"
        "  Train        every option of `glassnet train`, a live loss curve and first\n"
        "               layer, one training at a time (the others wait in a queue)\n"
        "Works offline: nothing is fetched from the internet.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  glassnet lab                      # runs/ at http://127.0.0.1:8000\n"
        "  glassnet lab --runs runs/demo --port 8001",
    )
    lab.add_argument(
        "--runs", default="runs", metavar="DIR", help="the runs folder (default: runs)"
    )
    lab.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    lab.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    lab.add_argument(
        "--token", help="require this bearer token on the lab's API (default: $GLASSNET_TOKEN)"
    )
    lab.add_argument(
        "--max-body-mb",
        type=float,
        default=200.0,
        help="largest upload accepted, in MB (default: 200)",
    )

    ls = verbs.add_parser("list", help="list registered nets, tasks or data sets")
    ls.add_argument("what", choices=["nets", "tasks", "data"])

    data = verbs.add_parser(
        "data",
        help="built-in offline data sets",
        description="Built-in data sets, generated or read from installed "
        "packages: nothing is downloaded.",
    )
    dverbs = data.add_subparsers(
        dest="data_verb", metavar="ACTION", required=True, parser_class=_Parser
    )
    dverbs.add_parser("list", help="list the built-in data sets")
    mk = dverbs.add_parser("make", help="write a built-in data set to a folder, as files")
    mk.add_argument("name", help="a name from `glassnet data list`")
    mk.add_argument("dir", help="where to write it")
    mk.add_argument("--n", type=int, help="how many samples, for generated sets (cartoon-pets)")
    mk.add_argument("--size", type=int, help="image side in pixels, for generated image sets")
    mk.add_argument("--seed", type=int, help="random seed, for generated sets")
    mk.add_argument(
        "--style",
        choices=("cartoon", "photo", "flat"),
        help="how generated pictures are drawn: flat draws the same kind of people "
        "(cartoon-people; default cartoon) or objects (scenes; default photo) another way, "
        "to test a net on pictures drawn unlike the ones it trained on",
    )

    demo = verbs.add_parser("demo", help="the guided tour on built-in data (CPU, minutes)")
    demo.add_argument(
        "--out",
        default="runs/demo",
        metavar="DIR",
        help="where the tour writes its runs (default: runs/demo)",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a shorter tour (for CI): fewer epochs, maps checked against random weights only",
    )
    return parser


def _decode_fields() -> dict[str, tuple[Any, list[str]]]:
    """Every task's decode options: {name: (field, tasks that take it)}."""
    from glassnet.tasks import list_tasks

    fields: dict[str, tuple[Any, list[str]]] = {}
    for t in list_tasks():
        for name, f in t.decode_options.model_fields.items():
            fields.setdefault(name, (f, []))[1].append(t.name)
    return fields


def _add_decode_flags(parser: Any) -> None:
    fields = _decode_fields()
    if not fields:
        return
    from glassnet.cli_options import add_option

    group = parser.add_argument_group("decoding (the run's own settings unless given)")
    for name, (f, owners) in fields.items():
        add_option(
            group, name, f.annotation, None, f"{owners and ', '.join(owners)}: {f.description}"
        )


def _decoding(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in _decode_fields() if hasattr(args, k)}


def add_output_flags(group: Any) -> None:
    group.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (messages go to stderr)",
    )
    group.add_argument("--quiet", action="store_true", help="no progress output")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.verb](args)
    except WorkersFailed as e:
        return e.code  # the processes of the data-parallel run printed why
    except GlassnetError as e:
        rank = int(os.environ.get("RANK", "0")) if under_torchrun() else 0
        if rank == 0 or not isinstance(e, TrainingError):  # all ranks share a NaN: say it once
            print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except LaunchInterrupted as e:
        print(
            "Interrupted; every process saved its place. Resume with:\n"
            f"  glassnet train {getattr(args, 'task', 'TASK')} --resume {e.path or 'RUN'}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `glassnet predict ... | head`: the reader left
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except Exception:  # noqa: BLE001 - the last line of defence: our bug, not the user's
        traceback.print_exc()
        print(
            "\nglassnet failed unexpectedly (this is a bug in glassnet, not in your input). "
            "Please report it with the traceback above.",
            file=sys.stderr,
        )
        return EXIT_OURS


def say(args: argparse.Namespace, text: str) -> None:
    """Human output: stdout normally, stderr under --json (stdout is for the document)."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


def emit_json(doc: dict[str, Any]) -> None:
    print(json.dumps(_rounded(doc), indent=2, default=str), flush=True)


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits (0.9133333333333333 reads as 0.913333): what a person
    or a script compares; the files a run writes keep full precision."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _cmd_train(args: argparse.Namespace) -> int:
    from glassnet import api
    from glassnet.cli_options import given_options

    options = given_options(
        args, exclude=("verb", "task", "config", "out", "resume", "json", "quiet")
    )
    data = options.pop("data", None)
    run = api.train(
        args.task,
        data,
        config=args.config,
        out=args.out,
        resume=args.resume,
        quiet=args.quiet,
        **options,
    )
    if under_torchrun():
        return EXIT_OK  # a worker process: the launching process reports
    if run is None:
        say(args, "This machine's processes are done; the run is written on rank 0's machine.")
        return EXIT_OK
    fit = run.fit
    if fit is not None and fit.stopped == "interrupted":
        print(
            f"Interrupted; the checkpoint is saved. Resume with:\n"
            f"  glassnet train {args.task} --resume {run.path}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if args.json:
        emit_json({"run": str(run.path), "metrics": run.metrics})
    else:
        say(args, _summary(run))
    return EXIT_OK


def _summary(run: api.Run) -> str:
    m = run.metrics
    lines = [
        f"\nbest epoch {m.get('best_epoch')} of {m.get('epochs_run')} "
        f"({m.get('monitor')} = {m.get('best_value', float('nan')):.4g})"
    ]
    for split in ("val", "test"):
        if split in m:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in m[split].items())
            lines.append(f"{split:>5}: {shown}")
    lines.append(f"run saved in {run.path}")
    return "\n".join(lines)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def notes(run: api.Run) -> None:
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from glassnet import api

    run = api.load(args.run)
    metrics = run.evaluate(args.data, report=True, **_decoding(args))
    notes(run)
    if args.json:
        emit_json({"run": str(run.path), "data": args.data, "metrics": metrics})
        return EXIT_OK
    report = metrics.pop("report", {})
    per_class = report.pop("per_class", None)
    width = max((len(k) for k in metrics), default=0)  # long names (seasonal_naive_mase) align
    lines = [
        f"{k:>{width}}: {v:.4g}" if isinstance(v, float) else f"{k:>{width}}: {v}"
        for k, v in metrics.items()
    ]
    if per_class:
        lines.append(f"\n{'class':>14}  precision  recall     f1  support")
        for label, m in per_class.items():
            lines.append(
                f"{label:>14}  {m['precision']:9.3f}  {m['recall']:6.3f}  "
                f"{m['f1']:5.3f}  {m['support']:7d}"
            )
    worst = report.pop("worst", None)
    if worst:
        lines.append("\nworst first:")
        for row in worst:
            lines.append("  " + "  ".join(f"{k}: {v}" for k, v in row.items()))
    for name, value in report.items():
        if isinstance(value, dict):  # e.g. a baseline's scores
            value = "  ".join(f"{k} {v:.4g}" for k, v in value.items())
        lines.append(f"{name.replace('_', ' ')}: {value}")
    explained = run.path / "report" / "index.html"
    lines.append(
        f"look inside: {explained}"
        if explained.is_file()
        else f"look inside: glassnet explain {run.path} [INPUT...]"
    )
    say(args, "\n".join(lines))
    return EXIT_OK


def _cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from glassnet import api
    from glassnet.data.files import atomic_write_json, atomic_write_text

    run = api.load(args.run)
    frames = []
    inputs = [*args.inputs, *args.data]
    if not inputs:
        raise GlassnetError("nothing to predict", fix="Pass input files (or --data PATH)")
    for item in inputs:
        frame = run.predict(item, **_decoding(args))
        notes(run)
        if len(inputs) > 1 and "source" not in frame.columns:
            frame.insert(0, "source", item)
        frames.append(frame)
    preds = pd.concat(frames, ignore_index=True)
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() == ".json":
            atomic_write_json(out, preds.to_dict(orient="records"))
        else:
            atomic_write_text(out, preds.to_csv(index=False))
        print(f"wrote {len(preds)} predictions to {out}", file=sys.stderr)
        png = run.prediction_figure(preds, out.with_suffix(".png"))
        if png is not None:
            print(f"wrote the picture of the predictions to {png}", file=sys.stderr)
    if args.json:
        emit_json({"run": str(run.path), "predictions": preds.to_dict(orient="records")})
    elif not args.out:
        say(args, preds.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from glassnet import api

    run = api.load(args.run)
    inputs: Any = None
    if args.inputs:
        inputs = args.inputs if len(args.inputs) > 1 else args.inputs[0]
    result = run.explain(
        inputs,
        each=args.each,
        sanity=args.sanity,
        notify=None if getattr(args, "quiet", False) else _to_stderr,
    )
    notes(run)
    if args.json:
        emit_json(
            {
                "run": str(run.path),
                "report": str(result.report),
                "earlier_report": None if result.earlier is None else str(result.earlier),
                "views": [
                    {"name": v.name, "title": v.title, "png": str(v.png), "checks": v.checks}
                    for v in result.views
                ],
            }
        )
    else:
        say(
            args,
            "\n".join(
                [
                    f"  {v.title}: {v.png}"
                    + "".join(f"\n      {name}: {c['verdict']}" for name, c in v.verdicts())
                    for v in result.views
                ]
                + [f"report: {result.report}"]
                + ([f"(the previous report is kept as {result.earlier})"] if result.earlier else [])
            ),
        )
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from glassnet import api

    run = api.load(args.run, device="cpu")
    result = run.export(args.format, out=args.out, data=args.data, tolerance=args.tolerance)
    if args.json:
        emit_json(result.to_dict())
    else:
        say(
            args,
            f"wrote {result.model}\n"
            f"parity: largest |{result.format} - pytorch| = {result.max_abs_diff:.2g} on "
            f"{result.checked} held-out inputs (limit {result.tolerance:g})\n"
            f"how to use it without glassnet: {result.folder / 'README.md'}",
        )
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from glassnet.serve import serve

    if args.host not in ("127.0.0.1", "localhost", "::1") and not (
        args.token or os.environ.get("GLASSNET_TOKEN")
    ):
        print(
            f"warning: serving on {args.host} without --token: anyone who can reach this "
            "port can use the models",
            file=sys.stderr,
        )
    serve(
        args.runs,
        host=args.host,
        port=args.port,
        token=args.token,
        max_body_mb=args.max_body_mb,
        max_batch=args.max_batch,
        max_wait_ms=args.batch_wait_ms,
        device=args.device,
        engine=args.engine,
    )
    return EXIT_OK


def _cmd_lab(args: argparse.Namespace) -> int:
    from glassnet.lab.runner import run_lab

    run_lab(
        args.runs,
        host=args.host,
        port=args.port,
        token=args.token or os.environ.get("GLASSNET_TOKEN") or None,
        max_body_mb=args.max_body_mb,
    )
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "nets":
        from glassnet.nets import list_nets

        for e in list_nets():
            opts = ", ".join(
                f"{k}={','.join(map(str, d)) if isinstance(d, tuple) else d}"
                for k, (_, d, _) in e.options().items()
            )
            print(f"{e.name:<14} {e.summary}\n{'':<14} options: {opts}")
    elif args.what == "tasks":
        for t in task_summaries():
            print(f"{t.name:<14} {t.summary}  (default net: {t.default_net})")
    else:
        return _cmd_data(argparse.Namespace(data_verb="list"))
    return EXIT_OK


def _cmd_data(args: argparse.Namespace) -> int:
    from glassnet.data.builtin import get_dataset, list_datasets

    if args.data_verb == "list":
        for d in list_datasets():
            print(f"{d.name:<20} {d.task:<12} {d.description}")
        print(
            "\nUse one directly with --data builtin:NAME, or write it out with "
            "`glassnet data make NAME DIR`."
        )
        return EXIT_OK
    ds = get_dataset(args.name)
    path = ds.make(Path(args.dir), **_make_options(ds, args))
    hint = " ".join(_flag(k, v) for k, v in ds.defaults.items())
    print(f"wrote {ds.name} to {path}\ntrain on it: glassnet train {ds.task} --data {path} {hint}")
    return EXIT_OK


def _flag(name: str, value: Any) -> str:
    """A default as the flag a user types: --fill, --no-fill, --horizon 52, --past a,b."""
    flag = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    if isinstance(value, (list, tuple)):
        return f"--{flag} {','.join(map(str, value))}"
    return f"--{flag} {value}"


def _make_options(ds: Any, args: argparse.Namespace) -> dict[str, Any]:
    """--n/--size/--seed/--style for the data sets whose generator takes them; an error
    otherwise."""
    import inspect

    accepted = inspect.signature(ds.make).parameters
    given = {
        k: getattr(args, k)
        for k in ("n", "size", "seed", "style")
        if getattr(args, k, None) is not None
    }
    refused = [f"--{k}" for k in given if k not in accepted]
    if refused:
        raise GlassnetError(
            f"{ds.name} does not take {', '.join(refused)}",
            fix="Those options are for generated data sets (cartoon-pets)",
        )
    return given


def _cmd_demo(args: argparse.Namespace) -> int:
    from glassnet.demo import run_demo

    run_demo(Path(args.out), quick=args.quick)
    return EXIT_OK


COMMANDS = {
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "explain": _cmd_explain,
    "export": _cmd_export,
    "serve": _cmd_serve,
    "lab": _cmd_lab,
    "list": _cmd_list,
    "data": _cmd_data,
    "demo": _cmd_demo,
}


if __name__ == "__main__":
    raise SystemExit(main())
