"""The training loop, readable top to bottom.

task.step -> backward -> clip -> optimizer step -> schedule -> callbacks. Around it: device
and precision, best-weights tracking and early stopping on a validation metric, atomic
checkpoints with exact resume (model, optimiser, scheduler, RNG streams, epoch and position
inside it), a NaN/inf guard, Ctrl-C = save and stop, and DDP when launched by torchrun.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from glassnet.config import TrainSpec
from glassnet.data.files import atomic_write_bytes
from glassnet.data.splits import batch_size_of, to_device
from glassnet.engine import distributed as dist_
from glassnet.engine.allocator import keeping_freed_memory
from glassnet.engine.batches import arrange, make_batches
from glassnet.engine.callbacks import Callback
from glassnet.engine.checkpoint import (
    BackgroundWrites,
    checkpoint_files,
    has_checkpoint,
    load_checkpoint,
    write_checkpoint,
)
from glassnet.engine.device import autocast_dtype, place_net, train_autocast_dtype
from glassnet.engine.inference import autocast, eval_batch_size, run_outputs
from glassnet.engine.optim import DirectSteps, build_optimizer, build_scheduler
from glassnet.engine.rundir import RunDir
from glassnet.errors import ConfigError, TrainingError
from glassnet.tasks import DataSplits, Task, higher_is_better


@dataclass
class FitResult:
    monitor: str
    best_value: float
    best_epoch: int  # 0-based
    epochs_run: int
    stopped: str  # "completed", "early stop" or "interrupted"
    train_seconds: float = 0.0  # wall time inside the epoch loop, this session
    samples_seen: int = 0  # training samples processed in that time (all processes)
    precision: str = "fp32"  # what the training steps ran in: "bf16" (autocast) or "fp32"
    last_metrics: dict[str, float] = field(default_factory=dict)


class _StopRequest:
    """Ctrl-C sets a flag the loop checks between steps, so the checkpoint it writes is
    consistent; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _LossTally:
    """The epoch's running training loss, and the NaN/inf check. On CPU a Python float
    (`.item()` costs nothing there); on accelerators a device tensor checked every 25 steps,
    so training does not wait for the device at every step."""

    CHECK_EVERY = 25

    def __init__(self, device: torch.device, total: float, count: int) -> None:
        self.on_cpu = device.type == "cpu"
        self.total: Any = float(total) if self.on_cpu else torch.tensor(float(total), device=device)
        self.count = int(count)
        self.steps = 0
        self.checked = False

    def add(self, loss: torch.Tensor, n: int) -> bool:
        """Add a batch's mean loss; False when the sum is (known to be) no longer finite.
        `checked` says whether this step looked (every step on CPU)."""
        self.count += n
        self.steps += 1
        if self.on_cpu:
            value = loss.item()
            self.total += value * n
            self.checked = True
            return math.isfinite(value)
        self.total += loss.detach().float() * n
        self.checked = self.steps % self.CHECK_EVERY == 0
        return not self.checked or bool(torch.isfinite(self.total))

    def value(self) -> float:
        return float(self.total)


class Trainer:
    def __init__(
        self,
        task: Task,
        net: nn.Module,
        spec: TrainSpec,
        *,
        seed: int,
        device: torch.device,
        run: RunDir | None = None,
        world: dist_.World | None = None,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.task = task
        self.net = place_net(net, device)
        self.spec = spec
        self.seed = seed
        self.device = device
        self.run = run
        self.world = world or dist_.World()
        self.callbacks = callbacks or []
        for cb in self.callbacks:
            cb.trainer = self  # so a callback can read state or request a stop
        self.amp = train_autocast_dtype(device, spec.precision, self.net)  # training steps
        # Validation runs in the precision the steps train in: it only picks the best epoch,
        # and in fp32 it took a fifth of a bf16 CNN run on CPU. Test metrics and predictions
        # keep `autocast_dtype` (fp32 on a CPU unless asked).
        self.eval_amp = self.amp or autocast_dtype(device, spec.precision)
        self.stop = _StopRequest()
        self.writes = BackgroundWrites()  # checkpoints and best weights, off the loop

    # ---- helpers -------------------------------------------------------------------------
    def _emit(self, event: str, **kw: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(**kw)

    def _writes(self) -> bool:
        return self.run is not None and self.world.is_main

    def _save(
        self, optimizer: Any, scheduler: Any, state: dict[str, Any], best: bool = False
    ) -> None:
        """A checkpoint of this moment (and, when it is the `best` epoch, its weights as the
        model), written in the background."""
        if self._writes():
            assert self.run is not None
            files = checkpoint_files(
                net=self.net, optimizer=optimizer, scheduler=scheduler, state=state
            )
            weights = files["weights.safetensors"] if best else None  # serialised once
            self.writes.submit(_write_save, self.run, weights, int(state["global_step"]), files)

    # ---- the loop ------------------------------------------------------------------------
    def fit(self, splits: DataSplits, *, resume: bool = False) -> FitResult:
        spec, world = self.spec, self.world
        # a fixed training input for the learning snapshots
        self.probe = to_device(splits.train.take([0]), self.device)
        val = arrange(splits.val, spec.stream, training=False) if splits.val is not None else None
        monitor = spec.monitor if val is not None else "train_loss"
        batches = make_batches(
            splits.train,
            spec.batch_size,
            seed=self.seed,
            device=self.device,
            stream=spec.stream,
            workers=spec.workers,
            rank=world.rank,
            world_size=world.size,
        )
        self.streamed = batches.streamed
        # on a CPU, steps reuse the memory the last step freed (engine/allocator.py)
        memory = keeping_freed_memory() if self.device.type == "cpu" else contextlib.nullcontext()
        try:
            with memory:
                result = self._fit(batches, val, monitor, resume)
        except BaseException:
            # What was saved before the error lands; the error in flight is the one raised
            # (a write's own error would hide it).
            with contextlib.suppress(Exception):
                self.writes.close()
            raise
        finally:
            batches.close()
        self.writes.close()  # every checkpoint is on disk before fit returns
        return result

    def _fit(self, batches: Any, val: Any, monitor: str, resume: bool) -> FitResult:
        spec, world = self.spec, self.world
        steps_per_epoch = len(batches)
        optimizer = build_optimizer(self.net, spec, self.device)
        scheduler = build_scheduler(optimizer, spec, spec.epochs * steps_per_epoch)
        stepper = DirectSteps(optimizer)
        model: nn.Module = self.net
        if world.distributed:
            model = DistributedDataParallel(
                self.net, device_ids=[world.local_rank] if self.device.type == "cuda" else None
            )
        if spec.compile:
            model = torch.compile(model)  # type: ignore[assignment]

        loop = {
            "epoch": 0,
            "step": 0,
            "global_step": 0,
            "best_value": None,
            "best_epoch": -1,
            "since_best": 0,
            "loss_sum": 0.0,
            "loss_count": 0,
        }
        if resume and self.run is not None and has_checkpoint(self.run.checkpoints):
            loop.update(
                load_checkpoint(
                    self.run.checkpoints, net=self.net, optimizer=optimizer, scheduler=scheduler
                ).state
            )
        start_epoch, start_step = int(loop["epoch"]), int(loop["step"])
        self._emit(
            "on_train_start",
            total_epochs=spec.epochs,
            steps_per_epoch=steps_per_epoch,
            start_epoch=start_epoch,
            start_step=start_step,
        )
        step_callbacks = [cb for cb in self.callbacks if type(cb).on_step is not Callback.on_step]
        stopped, metrics = "completed", {}
        started, seen = time.perf_counter(), 0
        with self.stop:
            for epoch in range(start_epoch, spec.epochs):
                model.train()
                tally = _LossTally(self.device, loop["loss_sum"], loop["loss_count"])
                first = start_step if epoch == start_epoch else 0
                for step, (batch, n_global) in enumerate(batches.epoch(epoch, first), first):
                    with autocast(self.device, self.amp):
                        loss = self.task.step(model, batch).loss
                    n_local = batch_size_of(batch)
                    # Checked before backward, so a bad step never reaches the weights; under
                    # DDP every rank learns of a bad loss on any rank (else the others would
                    # wait for it forever in backward's all-reduce).
                    finite = tally.add(loss, n_local)
                    stopping = self.stop.requested
                    if world.distributed:
                        # One collective says whether any rank saw a bad loss or was asked
                        # to stop, so all ranks raise, or stop, at the same step.
                        bad, stopping = dist_.any_of([not finite, stopping], world, tally.checked)
                        finite = not bad
                    if not finite:
                        self._nan_error(epoch, step, loop)
                    step_loss = loss.detach()  # this process's mean, for the callbacks
                    if world.distributed:  # so DDP's gradient mean equals the global mean
                        loss = loss * (n_local * world.size / n_global)
                    stepper.zero_grad()
                    loss.backward()
                    stepper.step(max_norm=spec.clip_grad)  # clipped inside (0: not)
                    scheduler.step()
                    seen += n_global
                    loop["global_step"] += 1
                    for cb in step_callbacks:
                        cb.on_step(epoch=epoch, step=step, loss=step_loss)
                    save_now = stopping or (
                        spec.checkpoint_every and loop["global_step"] % spec.checkpoint_every == 0
                    )
                    if save_now:
                        loop.update(
                            epoch=epoch,
                            step=step + 1,
                            loss_sum=tally.value(),
                            loss_count=tally.count,
                        )
                        self._save(optimizer, scheduler, loop)
                    if stopping:
                        stopped = "interrupted"
                        break
                if stopped == "interrupted":
                    break

                metrics = self._epoch_metrics(tally, val, optimizer)
                if monitor not in metrics:
                    raise ConfigError(
                        f"cannot monitor '{monitor}': this task reports "
                        f"{', '.join(sorted(metrics))}",
                        fix="Pick one of those",
                    )
                value = metrics[monitor]
                better = higher_is_better(monitor)
                best = loop["best_value"]
                improved = best is None or (value > best if better else value < best)
                if improved:
                    loop.update(best_value=value, best_epoch=epoch, since_best=0)
                else:
                    loop["since_best"] += 1
                loop.update(epoch=epoch + 1, step=0, loss_sum=0.0, loss_count=0)
                self._save(optimizer, scheduler, loop, best=improved)
                self._emit("on_epoch_end", epoch=epoch, metrics=metrics, improved=improved)
                advice = self.task.advise(epoch, metrics)
                if advice and world.is_main:
                    self._emit("on_note", message=advice)
                early = bool(spec.patience and loop["since_best"] >= spec.patience)
                if dist_.broadcast_flag(early, world):
                    stopped = (
                        f"early stop: no gain in {monitor} for {spec.patience} epochs "
                        f"(best at epoch {loop['best_epoch'] + 1})"
                    )
                    break
        self._emit("on_train_end", reason=stopped)
        return FitResult(
            monitor=monitor,
            best_value=float(loop["best_value"] or math.nan),
            best_epoch=int(loop["best_epoch"]),
            epochs_run=int(loop["epoch"]),
            stopped=stopped,
            last_metrics=metrics,
            train_seconds=time.perf_counter() - started,
            samples_seen=seen,
            precision="bf16" if self.amp == torch.bfloat16 else "fp32",
        )

    def _epoch_metrics(
        self, tally: _LossTally, val: Any, optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        total = torch.tensor([tally.value(), float(tally.count)], dtype=torch.float64)
        if self.world.distributed:
            total = total.to(self.device)
            torch.distributed.all_reduce(total)
        metrics = {"train_loss": float(total[0] / total[1])}
        if val is not None:
            out = run_outputs(
                self.task,
                self.net,
                val,
                device=self.device,
                batch_size=eval_batch_size(val, self.spec.batch_size),
                amp=self.eval_amp,
            )
            metrics["val_loss"] = float(out.loss or 0.0)
            metrics.update(
                {f"val_{k}": v for k, v in self.task.score(out.outputs, out.batch).items()}
            )
        metrics["lr"] = float(optimizer.param_groups[0]["lr"])
        return metrics

    def _nan_error(self, epoch: int, step: int, loop: dict[str, Any]) -> None:
        self.writes.wait()  # the checkpoint the message names is on disk
        kept = (
            f"The last good checkpoint (epoch {loop['epoch']}) is kept in {self.run.checkpoints}; "
            if self.run is not None and has_checkpoint(self.run.checkpoints)
            else ""
        )
        advice = (
            f"{kept}try a lower --lr (now {self.spec.lr:g}), keep --clip-grad on, and check "
            "the data for extreme values"
        )
        raise TrainingError(
            f"the training loss became NaN or infinite at epoch {epoch + 1}, step {step + 1}",
            fix=advice[0].upper() + advice[1:],
        )


def _write_save(
    run: RunDir, weights: bytes | None, global_step: int, files: dict[str, bytes]
) -> None:
    """One save point's writes, in the order a crash can interrupt safely: the best
    epoch's weights, then the checkpoint (LATEST last)."""
    if weights is not None:
        atomic_write_bytes(run.weights, weights)
    write_checkpoint(run.checkpoints, global_step, files)
