"""Callbacks: what the loop tells the outside world, at explicit events.

The loop calls `on_train_start`, `on_step`, `on_epoch_end`, `on_train_end`; callbacks never
change training. Rank 0 alone gets file-writing callbacks.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

from glassnet.data.files import atomic_write_text


class Callback:
    trainer: Any = None  # set by the Trainer before on_train_start

    def on_train_start(
        self, *, total_epochs: int, steps_per_epoch: int, start_epoch: int, start_step: int
    ) -> None: ...
    def on_step(self, *, epoch: int, step: int, loss: Any) -> None: ...  # loss: a 0-d tensor
    def on_epoch_end(self, *, epoch: int, metrics: dict[str, float], improved: bool) -> None: ...
    def on_train_end(self, *, reason: str) -> None: ...
    def on_note(self, *, message: str) -> None: ...  # advice from the task for the user


class MetricsCSV(Callback):
    """One row per epoch in metrics.csv; on resume, rows past the checkpoint are dropped
    so the file matches an uninterrupted run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []

    def on_train_start(self, *, start_epoch: int, **_: Any) -> None:
        if self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as f:
                # epochs count from 1: the first start_epoch are done and kept
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= start_epoch]

    def on_epoch_end(self, *, epoch: int, metrics: dict[str, float], improved: bool) -> None:
        self.rows.append({"epoch": epoch + 1, **{k: f"{v:.6g}" for k, v in metrics.items()}})
        fields: list[str] = []
        for r in self.rows:
            fields += [k for k in r if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


class TensorBoard(Callback):
    """Per-epoch scalars as TensorBoard events (`tensorboard --logdir runs/`)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.writer: Any = None

    def on_train_start(self, **_: Any) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import, only when training

        self.writer = SummaryWriter(str(self.logdir))

    def on_epoch_end(self, *, epoch: int, metrics: dict[str, float], improved: bool) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
        self.writer.flush()

    def on_train_end(self, **_: Any) -> None:
        if self.writer is not None:
            self.writer.close()


def interactive() -> bool:
    """A live progress bar only on a terminal and outside CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class Progress(Callback):
    """On a terminal: one line per epoch kept above a live bar (epoch, steps, loss, elapsed,
    remaining) that fits any width, as Keras prints; elsewhere (logs, CI) the epoch lines
    alone. Epochs count from 1 everywhere (console, metrics.csv, TensorBoard)."""

    def __init__(self, quiet: bool = False, console: Any = None) -> None:
        self.quiet = quiet
        self.console = console  # a rich Console (tests pass one of a given width)
        self.live = (console is not None or interactive()) and not quiet
        self.bar: Any = None

    def on_train_start(
        self, *, total_epochs: int, steps_per_epoch: int, start_epoch: int, start_step: int
    ) -> None:
        self.total_epochs = total_epochs
        self.steps = steps_per_epoch
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            # Short fixed columns and a bar that takes what is left: nothing is cut at 80.
            self.bar = Bar(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(bar_width=None),
                MofNCompleteColumn(),
                TextColumn("{task.fields[loss]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                expand=True,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(
                "train",
                total=steps_per_epoch,
                completed=start_step,
                epoch=f"{start_epoch + 1}/{total_epochs}",
                loss="",
            )

    def on_step(self, *, epoch: int, step: int, loss: Any) -> None:
        if self.bar is not None:
            # Reading the loss waits for the device: only every 10th step.
            shown = f"loss {float(loss):.4g}" if step % 10 == 0 else None
            fields = {"loss": shown} if shown else {}
            self.bar.update(self.task, completed=step + 1, **fields)

    def on_epoch_end(self, *, epoch: int, metrics: dict[str, float], improved: bool) -> None:
        # The loss and the first few task metrics; metrics.csv has them all.
        picked = [k for k in metrics if k.endswith("_loss")]
        picked += [
            k for k in metrics if k.startswith("val_") and k not in picked and "naive_" not in k
        ][:4]
        shown = "  ".join(f"{k} {metrics[k]:.4g}" for k in picked)
        line = f"epoch {epoch + 1}/{self.total_epochs}  {shown}{'  (best)' if improved else ''}"
        if self.bar is not None:
            self.bar.console.print(line, highlight=False, soft_wrap=True)
            if epoch + 1 < self.total_epochs:
                # reset replaces every field: the loss is given again
                loss = self.bar.tasks[0].fields.get("loss", "")
                nxt = f"{epoch + 2}/{self.total_epochs}"
                self.bar.reset(self.task, total=self.steps, epoch=nxt, loss=loss)
        elif not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def on_note(self, *, message: str) -> None:
        if self.bar is not None:
            self.bar.console.print(f"note: {message}", highlight=False, soft_wrap=True)
        elif not self.quiet:
            print(f"note: {message}", file=sys.stderr, flush=True)

    def on_train_end(self, *, reason: str) -> None:
        if self.bar is not None:
            self.bar.stop()
        if reason != "completed" and not self.quiet:
            print(reason, file=sys.stderr, flush=True)


class LearningSnapshots(Callback):
    """What the net looked like before training and after every epoch, for explain's
    "watch it learn" strips: the first layer's weights (`weights_epoch_k`) and, for nets
    with conv stages, each stage's mean activation map for one fixed training input
    (`stage<s>_epoch_k`). Stored in `snapshots/learning.safetensors`; epoch_0 is the start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: dict[str, Any] = {}

    def _snapshot(self, epoch: int) -> None:
        import torch

        net = self.trainer.net
        # the first layer's weight, in module order (a net's own extra parameters, such as
        # a face embedder's per-person centres, come first in parameters() but are no layer)
        weight = next(
            (
                m.weight
                for m in net.modules()
                if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim >= 2
            ),
            None,
        )
        if weight is not None:
            self.saved[f"weights_epoch_{epoch}"] = (
                weight.detach().float().cpu().contiguous().clone()
            )
        stages, probe = getattr(net, "stages", None), getattr(self.trainer, "probe", None)
        if stages is not None and probe is not None:
            maps: list[Any] = []
            hooks = [
                s.register_forward_hook(
                    lambda m, i, o: maps.append(o.detach().float().abs().mean(1)[0].cpu())
                )
                for s in stages
            ]
            was_training = net.training
            net.eval()  # no dropout, no batch-norm updates, no random numbers drawn
            try:
                with torch.no_grad():
                    self.trainer.task.forward(net, probe)
            finally:
                net.train(was_training)
                for h in hooks:
                    h.remove()
            for k, m in enumerate(maps):
                self.saved[f"stage{k + 1}_epoch_{epoch}"] = m.contiguous().clone()
        from safetensors.torch import save

        from glassnet.data.files import atomic_write_bytes

        atomic_write_bytes(self.path, save(self.saved))

    def on_train_start(self, *, start_epoch: int, **_: Any) -> None:
        if self.path.is_file():  # a resumed run keeps the epochs before its checkpoint
            from safetensors.torch import load_file

            self.saved = {
                k: v
                for k, v in load_file(self.path).items()
                if int(k.rsplit("_", 1)[1]) <= start_epoch
            }
        if not self.saved:
            self._snapshot(0)

    def on_epoch_end(self, *, epoch: int, metrics: dict[str, float], improved: bool) -> None:
        self._snapshot(epoch + 1)
