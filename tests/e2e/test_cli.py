"""The CLI end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mixed_frame


def glassnet(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "glassnet", *args], capture_output=True, text=True, timeout=timeout
    )


def test_data_make_train_predict_evaluate(workdir: Path) -> None:
    made = glassnet("data", "make", "iris", "data")
    assert made.returncode == 0 and "glassnet train tabular --data data/iris.csv" in made.stdout
    train = glassnet(
        "train",
        "tabular",
        "--data",
        "data/iris.csv",
        "--target",
        "species",
        "--epochs",
        "60",
        "--lr",
        "0.01",
        "--json",
    )
    assert train.returncode == 0, train.stderr
    doc = json.loads(train.stdout)  # stdout is the JSON document and nothing else
    assert doc["run"] == "runs/tabular-1" and doc["metrics"]["test"]["accuracy"] >= 0.85
    assert "epoch 1/60" in train.stderr  # progress went to stderr
    saved = json.loads(Path("runs/tabular-1/metrics.json").read_text())["test"]
    assert saved == pytest.approx(doc["metrics"]["test"], rel=1e-5)  # --json rounds to 6 digits

    pred = glassnet("predict", "runs/tabular-1", "data/iris.csv", "--out", "preds.csv")
    assert pred.returncode == 0, pred.stderr
    preds = pd.read_csv("preds.csv")
    assert len(preds) == 150 and {"label", "probability_0"} <= set(preds.columns)
    js = glassnet("predict", "runs/tabular-1", "data/iris.csv", "--json")
    predictions = json.loads(js.stdout)["predictions"]
    assert len(predictions) == 150
    shown = [v for row in predictions for v in row.values() if isinstance(v, float)]
    assert shown and all(float(f"{v:.6g}") == v for v in shown)  # rounded for reading

    ev = glassnet("evaluate", "runs/tabular-1", "data/iris.csv", "--json")
    assert ev.returncode == 0 and json.loads(ev.stdout)["metrics"]["n"] == 150
    plain = glassnet("evaluate", "runs/tabular-1", "data/iris.csv")
    assert "accuracy" in plain.stdout


def test_builtin_data_and_config_file(workdir: Path) -> None:
    Path("run.yaml").write_text("net: {name: mlp.small, hidden: [16]}\ntrain: {epochs: 2}\n")
    res = glassnet(
        "train",
        "tabular",
        "--data",
        "builtin:wine",
        "--config",
        "run.yaml",
        "--epochs",
        "3",
        "--out",
        "w",
    )
    assert res.returncode == 0, res.stderr
    stored = Path("w/run.yaml").read_text()
    assert "epochs: 3" in stored and "- 16" in stored and "data: builtin:wine" in stored
    assert "run saved in w" in res.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "tabular", "--data", "nope.csv", "--target", "y"], "'nope.csv' does not exist"),
        (["train", "tabular", "--data", "d.csv", "--target", "lable"], "Did you mean 'label'"),
        (
            ["train", "tabular", "--data", "d.csv", "--target", "label", "--epoch", "2"],
            "Did you mean '--epochs'",
        ),
        (
            ["train", "tabular", "--data", "d.csv", "--target", "label", "--config", "bad.yaml"],
            "not valid YAML",
        ),
        (
            ["train", "tabular", "--data", "d.csv", "--target", "label", "--lr", "abc"],
            "invalid float value: 'abc'",
        ),
        (["predict", ".", "d.csv"], "is not a glassnet run"),
        (["evaluate", "missing-run", "d.csv"], "does not exist"),
        (["data", "make", "wines", "x"], "Did you mean 'wine'"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    args: list[str], message: str, workdir: Path
) -> None:
    mixed_frame().to_csv("d.csv", index=False)
    Path("bad.yaml").write_text("train: {epochs: [1}\n")
    res = glassnet(*args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_predict_with_missing_columns_names_them(workdir: Path) -> None:
    mixed_frame().to_csv("d.csv", index=False)
    assert (
        glassnet(
            "train",
            "tabular",
            "--data",
            "d.csv",
            "--target",
            "label",
            "--epochs",
            "1",
            "--out",
            "r",
        ).returncode
        == 0
    )
    mixed_frame().drop(columns=["x1"]).to_csv("new.csv", index=False)
    res = glassnet("predict", "r", "new.csv")
    assert res.returncode == 2 and "lacks the column(s) 'x1'" in res.stderr


def test_list_and_help() -> None:
    nets = glassnet("list", "nets")
    assert nets.returncode == 0 and "mlp.small" in nets.stdout and "hidden=128,64" in nets.stdout
    helptext = glassnet("train", "tabular", "--help").stdout
    for flag in [
        "--target",
        "--kind",
        "--hidden",
        "--activation",
        "--dropout",
        "--norm",
        "--epochs",
        "--lr",
        "--optimizer",
        "--schedule",
        "--clip-grad",
        "--patience",
        "--resume",
        "--seed",
        "--deterministic",
        "--devices",
        "--config",
        "--json",
        "--val",
        "--test",
        "--out",
    ]:
        assert flag in helptext, flag
    assert "tabular" in glassnet("list", "tasks").stdout


def test_train_help_shows_each_tasks_real_defaults() -> None:
    """--help is built from the same per-task defaults the trainer uses (forecasting trains
    150 epochs with batch 32 and patience 25; the help once said 30, 64 and 10)."""
    import argparse

    from glassnet.cli import build_parser
    from glassnet.config import TrainSpec, train_defaults
    from glassnet.tasks import list_tasks

    parser = build_parser()
    for entry in list_tasks():
        helptext = " ".join(
            _subparser(parser, "train", entry.name).format_help().split()
        )  # one line: argparse wraps
        for name in ("epochs", "batch_size", "patience"):
            value = train_defaults(entry.name).get(name, TrainSpec.model_fields[name].default)
            flag = "--" + name.replace("_", "-")
            after = helptext.rsplit(flag + " INT", 1)[1].split("--", 1)[0]  # not the usage
            assert f"(default: {value})" in after, (entry.name, flag, after)
    assert isinstance(parser, argparse.ArgumentParser)


def test_an_off_choice_has_a_no_flag() -> None:
    """`--no-detect` is `--detect off` (and so for every option with an "off" choice)."""
    from glassnet.cli import build_parser

    parser = build_parser(["train", "faces", "--help"])
    args = parser.parse_args(["train", "faces", "--data", "people", "--no-detect"])
    assert args.detect == "off"
    args = parser.parse_args(["train", "faces", "--data", "people", "--detect", "on"])
    assert args.detect == "on"
    assert "--no-stream" in _subparser(parser, "train", "faces").format_help()


def _subparser(parser, *path):  # noqa: ANN001, ANN202
    import argparse

    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def test_ctrl_c_saves_and_resume_finishes(workdir: Path) -> None:
    mixed_frame(2000).to_csv("d.csv", index=False)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glassnet",
            "train",
            "tabular",
            "--data",
            "d.csv",
            "--target",
            "label",
            "--epochs",
            "400",
            "--patience",
            "0",
            "--batch-size",
            "8",
            "--out",
            "r",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not Path("r/metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "glassnet train tabular --resume r" in err
    assert Path("r/checkpoint/LATEST").is_file()
    state = json.loads(next(Path("r/checkpoint").glob("step-*/state.json")).read_text())
    assert state["loop"]["global_step"] > 0
    # Resume with a shorter horizon is not allowed (config is kept); resume the same run but
    # stop it again right away by editing nothing: just check it starts from the checkpoint.
    Path("r/run.yaml").write_text(
        Path("r/run.yaml")
        .read_text()
        .replace("epochs: 400", f"epochs: {state['loop']['epoch'] + 1}")
    )
    res = glassnet("train", "tabular", "--resume", "r", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["metrics"]["epochs_run"] == state["loop"]["epoch"] + 1


def test_exit_code_1_is_ours_only() -> None:
    # `python -m glassnet` with no verb is a usage error, not a crash.
    res = glassnet()
    assert res.returncode == 2
    env = dict(os.environ)
    assert "glassnet" in glassnet("--version").stdout and env


def test_demo_quick_trains_all_three_families(workdir: Path) -> None:
    res = glassnet("demo", "--quick", "--out", "tour", timeout=600)
    assert res.returncode == 0, res.stderr
    for part in ("ANN: test accuracy", "CNN: test accuracy", "RNN: backtest MASE", "test BLEU"):
        assert part in res.stdout
    assert re.search(r"its 80% interval held \d+% of the truth", res.stdout), res.stdout
    for family in ("ann", "cnn", "rnn", "seq2seq"):
        assert (Path("tour") / family / "model.safetensors").is_file()
    page = Path("tour/index.html").read_text()
    for heading in ("The ANN", "The CNN", "The RNN", "The translating RNN"):
        assert heading in page
    assert page.count("data:image/png;base64,") >= 6 and "src='runs" not in page


@pytest.mark.slow  # the default suite keeps under 15 minutes on 2 cores
def test_translation_and_text_from_the_command_line(workdir: Path) -> None:
    pairs = [f"{a} {b}\t{b} {a}" for a in ("red", "blue", "big", "old") for b in ("cat", "dog")]
    Path("pairs.tsv").write_text("\n".join(pairs * 3) + "\n", encoding="utf-8")
    train = glassnet(
        "train",
        "translation",
        "--data",
        "pairs.tsv",
        "--epochs",
        "2",
        "--beam",
        "3",
        "--attention",
        "luong",
        "--quiet",
        "--out",
        "tr",
    )
    assert train.returncode == 0, train.stderr
    pred = glassnet("predict", "tr", "red cat", "old zebra", "--json")
    assert pred.returncode == 0, pred.stderr
    rows = json.loads(pred.stdout)["predictions"]
    assert [r["source"] for r in rows] == ["red cat", "old zebra"] and "translation" in rows[0]
    assert "'zebra'" in pred.stderr and "<unk>" in pred.stderr
    ev = glassnet("evaluate", "tr", "--json")
    assert ev.returncode == 0 and {"bleu", "chrf"} <= set(json.loads(ev.stdout)["metrics"])
    beamed = glassnet("predict", "tr", "red cat", "--beam", "2")
    assert beamed.returncode == 0 and "red" in beamed.stdout
    ex = glassnet("export", "tr")
    assert ex.returncode == 0 and "parity: largest |onnx - pytorch|" in ex.stdout, ex.stderr
    assert "Torch IR" not in ex.stdout + ex.stderr  # the exporter's own chatter stays out
    missing = glassnet("predict", "tr", "missing.tsv")
    assert missing.returncode == 2 and "'missing.tsv' does not exist" in missing.stderr
