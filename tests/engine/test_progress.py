"""The progress output a person watches: at 80 columns the live bar keeps its epoch, steps,
loss and times (nothing cut to '…'), and every epoch leaves one line behind."""

from __future__ import annotations

import io
import re

import torch
from rich.console import Console

from glassnet.engine.callbacks import Progress


def _console(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=True, color_system=None), out


def _bar_text(progress: Progress, width: int) -> str:
    console, out = _console(width)
    console.print(progress.bar.make_tasks_table(progress.bar.tasks))
    return out.getvalue()


def test_bar_fits_80_columns_and_epochs_stay() -> None:
    console, out = _console(80)
    progress = Progress(console=console)
    progress.on_train_start(total_epochs=30, steps_per_epoch=500, start_epoch=0, start_step=0)
    for epoch in range(2):
        for step in range(500):
            progress.on_step(epoch=epoch, step=step, loss=torch.tensor(0.123456))
        if epoch == 0:
            progress.on_note(message="the validation loss went up")
        metrics = {"train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.91, "val_f1": 0.9}
        progress.on_epoch_end(epoch=epoch, metrics=metrics, improved=epoch == 0)
    for step in range(120):
        progress.on_step(epoch=2, step=step, loss=torch.tensor(0.25))
    for width in (80, 60):
        bar = _bar_text(progress, width)
        assert "…" not in bar, bar
        for part in ("epoch 3/30", "120/500", "loss 0.25"):
            assert part in bar, (width, bar)
        assert max(len(line) for line in bar.splitlines()) <= width
    progress.on_train_end(reason="completed")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # cursor moves of the bar
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # the live bar's frames are in the stream too; the kept lines are the epochs and notes
    kept = [line for line in lines if "train_loss" in line or line.startswith("note")]
    assert kept[0] == "note: the validation loss went up"
    assert kept[1].startswith("epoch 1/30  train_loss 0.5  val_loss 0.4") and "(best)" in kept[1]
    assert kept[2].startswith("epoch 2/30") and "(best)" not in kept[2]


def test_plain_lines_when_not_a_terminal(capsys) -> None:  # noqa: ANN001
    progress = Progress()  # pytest's stderr is not a terminal
    progress.on_train_start(total_epochs=2, steps_per_epoch=3, start_epoch=0, start_step=0)
    progress.on_epoch_end(epoch=0, metrics={"train_loss": 1.0}, improved=True)
    progress.on_train_end(reason="completed")
    assert capsys.readouterr().err == "epoch 1/2  train_loss 1  (best)\n"
