"""Engine policy: early stopping, best weights, NaN guard, schedules, optimisers, device,
logging, run directories."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

import glassnet
from glassnet.config import TrainSpec
from glassnet.engine.callbacks import Callback
from glassnet.engine.device import autocast_dtype, choose_device
from glassnet.engine.optim import build_optimizer, build_scheduler
from glassnet.engine.rundir import RunDir
from glassnet.errors import ConfigError, RunError, TrainingError
from tests.conftest import mixed_frame


def _lrs(schedule: str, steps: int = 100) -> list[float]:
    net = torch.nn.Linear(2, 1)
    spec = TrainSpec(schedule=schedule, lr=1.0, warmup=0.1)
    opt = build_optimizer(net, spec, torch.device("cpu"))
    sched = build_scheduler(opt, spec, steps)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine() -> None:
    lrs = _lrs("cosine")
    assert lrs[0] < lrs[5] < lrs[10] == pytest.approx(1.0, abs=0.01)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] < 0.02


def test_one_cycle_peaks_at_thirty_percent() -> None:
    lrs = _lrs("onecycle")
    assert max(range(100), key=lambda i: lrs[i]) == 30
    assert lrs[0] == pytest.approx(1 / 25) and lrs[-1] < 1e-2


def test_constant_after_warmup_and_sgd() -> None:
    assert _lrs("constant")[50:] == [1.0] * 50
    spec = TrainSpec(optimizer="sgd", momentum=0.8)
    opt = build_optimizer(torch.nn.Linear(2, 2), spec, torch.device("cpu"))
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.8
    assert [g["weight_decay"] for g in opt.param_groups] == [spec.weight_decay]
    assert opt.defaults["fused"]


def test_device_choice() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert choose_device("auto").type == expected
    assert choose_device("cpu").type == "cpu"
    assert autocast_dtype(torch.device("cpu")) is None
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda' is not available"):
            choose_device("cuda")


def test_cpu_bf16_only_where_the_cpu_has_it_and_the_net_gains() -> None:
    """auto: fp32 on a CPU for evaluation and for nets that gain nothing (MLPs); bf16
    training steps (and their validation) for image CNNs where the CPU computes bf16
    natively. An explicit bf16 on a CPU without it is an error that says what is missing."""
    from glassnet.engine.device import cpu_has_native_bf16, train_autocast_dtype
    from glassnet.nets import create_net

    cpu = torch.device("cpu")
    cnn = create_net("cnn.small", in_channels=3, num_outputs=2)
    mlp = create_net("mlp.small", in_features=4, num_outputs=2)
    native = cpu_has_native_bf16()
    assert autocast_dtype(cpu) is None
    assert train_autocast_dtype(cpu, "auto", mlp) is None
    assert train_autocast_dtype(cpu, "auto", cnn) == (torch.bfloat16 if native else None)
    assert train_autocast_dtype(cpu, "fp32", cnn) is None
    # Validation during training runs in the steps' precision (it only picks the epoch).
    from glassnet.engine.trainer import Trainer

    for net in (cnn, mlp):
        trainer = Trainer(None, net, TrainSpec(), seed=0, device=cpu)  # type: ignore[arg-type]
        assert trainer.eval_amp == trainer.amp == train_autocast_dtype(cpu, "auto", net)
    if native:
        assert autocast_dtype(cpu, "bf16") == torch.bfloat16
    else:
        with pytest.raises(ConfigError, match="bf16 precision needs a CPU with AVX512-BF16"):
            autocast_dtype(cpu, "bf16")


def test_early_stopping_keeps_the_best_weights(workdir: Path) -> None:
    frame = mixed_frame(300)
    run = glassnet.train(
        "tabular",
        frame,
        target="label",
        epochs=60,
        patience=3,
        monitor="val_accuracy",
        lr=0.05,
        quiet=True,
        out="r",
    )
    m = run.metrics
    assert m["train_precision"] == "fp32"  # an MLP gains nothing from bf16 on a CPU
    assert m["stopped"].startswith("early stop") and m["epochs_run"] < 60
    assert m["epochs_run"] - m["best_epoch"] == 3
    rows = list(csv.DictReader(Path("r/metrics.csv").read_text().splitlines()))
    assert len(rows) == m["epochs_run"]
    best_row = max(rows, key=lambda r: float(r["val_accuracy"]))
    assert float(best_row["val_accuracy"]) == pytest.approx(m["best_value"], abs=1e-5)
    # model.safetensors holds the best epoch's weights: its val accuracy is the best value
    assert m["val"]["accuracy"] == pytest.approx(m["best_value"], abs=1e-6)


def test_unknown_monitor_is_explained(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="cannot monitor 'val_acc'.*val_accuracy"):
        glassnet.train("tabular", mixed_frame(), target="label", monitor="val_acc", quiet=True)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(workdir: Path) -> None:
    frame = pd.DataFrame({"a": [float(i) for i in range(200)], "y": [i * 0.5 for i in range(200)]})
    with pytest.raises(TrainingError) as err:  # a learning rate that diverges at once
        glassnet.train(
            "tabular",
            frame,
            target="y",
            epochs=5,
            quiet=True,
            out="r",
            optimizer="sgd",
            lr=1e6,
            clip_grad=0.0,
            batch_size=16,
        )
    text = str(err.value)
    assert "NaN or infinite at epoch 1" in text and "--lr" in text
    # a new run has no good checkpoint yet; the spec and preprocessing were kept
    assert Path("r/run.yaml").is_file() and Path("r/preprocess.json").is_file()


class PoisonAfter(Callback):
    """Turn one weight into NaN after an epoch, as a diverging run would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, *, epoch: int, **_: object) -> None:
        if epoch == self.epoch:
            with torch.no_grad():
                list(self.trainer.net.parameters())[-1].fill_(float("nan"))  # the head bias


def test_nan_guard_after_good_epochs_keeps_them(workdir: Path) -> None:
    with pytest.raises(TrainingError, match=r"epoch 3, step 1.*last good checkpoint \(epoch 2\)"):
        glassnet.train(
            "tabular",
            mixed_frame(300),
            target="label",
            epochs=5,
            quiet=True,
            out="r",
            patience=0,
            callbacks=[PoisonAfter(1)],
        )
    net = glassnet.load("r").net
    assert all(torch.isfinite(p).all() for p in net.parameters())
    ckpt = Path("r/checkpoint") / Path("r/checkpoint/LATEST").read_text().strip()
    weights = load_file(ckpt / "weights.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_logs_csv_and_tensorboard(workdir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    glassnet.train("tabular", mixed_frame(), target="label", epochs=3, quiet=True, out="r")
    rows = list(csv.DictReader(Path("r/metrics.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]  # counted as people count
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= rows[0].keys()
    acc = EventAccumulator("r/tensorboard")
    acc.Reload()
    assert len(acc.Scalars("val/accuracy")) == 3
    metrics = __import__("json").loads(Path("r/metrics.json").read_text())
    assert {"val", "test", "best_epoch"} <= metrics.keys()


def test_run_directories_never_overwrite(workdir: Path) -> None:
    a = RunDir.create(None, "tabular")
    (a.path / "x").write_text("1")
    b = RunDir.create(None, "tabular")
    assert (a.path.name, b.path.name) == ("tabular-1", "tabular-2")
    with pytest.raises(RunError, match="already exists and is not empty"):
        RunDir.create(a.path, "tabular")


def test_checkpoint_keeps_one_complete_copy(workdir: Path) -> None:
    glassnet.train(
        "tabular", mixed_frame(), target="label", epochs=3, quiet=True, out="r", checkpoint_every=2
    )
    steps = list(Path("r/checkpoint").glob("step-*"))
    assert len(steps) == 1 and Path("r/checkpoint/LATEST").read_text().strip() == steps[0].name
    assert not list(Path("r").rglob("*.tmp"))
    assert math.isfinite(
        float(__import__("json").loads((steps[0] / "state.json").read_text())["loop"]["best_value"])
    )


def test_small_tables_get_batches_sized_from_the_data(workdir: Path) -> None:
    frame = mixed_frame(n=200)
    run = glassnet.train("tabular", frame, target="label", quiet=True, out="small", patience=3)
    saved = RunDir.open("small").read_spec()
    assert (saved.train.batch_size, saved.train.epochs) == (8, 30)  # 144 rows: n/16 -> 8
    doc = yaml.safe_load(Path("small/run.yaml").read_text())
    assert any("144 training samples, so batch size 8" in n for n in doc["notes"])
    assert run.metrics["val"]["accuracy"] > 0.7
    # what the user sets stands, and a big enough table keeps the usual defaults
    glassnet.train(
        "tabular", frame, target="label", quiet=True, out="given", batch_size=32, epochs=2
    )
    given = RunDir.open("given").read_spec().train
    assert (given.batch_size, given.epochs) == (32, 2)
    big = glassnet.train(
        "tabular", mixed_frame(n=3000), target="label", quiet=True, out="big", epochs=1
    )
    assert big.spec.train.batch_size == 64


def test_no_second_validation_pass_when_the_last_epoch_is_best(workdir: Path, monkeypatch) -> None:  # noqa: ANN001
    """The final validation numbers are the last epoch's when it was the best (the same
    weights, the same data): equal to a fresh pass, without running one."""
    from glassnet.engine import session
    from glassnet.engine.inference import run_outputs
    from glassnet.errors import RunError
    from glassnet.tasks import redraw_splits

    sizes: list[int] = []

    def counted(task, net, split, **kw):  # noqa: ANN001, ANN003, ANN202
        sizes.append(len(split))
        return run_outputs(task, net, split, **kw)

    monkeypatch.setattr(session, "run_outputs", counted)
    # a small step size and few epochs: the validation loss is still falling at the end
    run = glassnet.train("tabular", "builtin:iris", epochs=4, lr=1e-3, quiet=True, out="r")
    assert run.metrics["best_epoch"] == run.metrics["epochs_run"], run.metrics
    splits = redraw_splits(run.spec, "check", RunError, "")
    assert sizes == [len(splits.test)]  # only the test split was scored after training
    out = run_outputs(run.task, run.net, splits.val, device=run.device)
    fresh = {"loss": out.loss, **run.task.score(out.outputs, out.batch)}
    assert set(fresh) == set(run.metrics["val"])
    for key, value in fresh.items():
        assert run.metrics["val"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
