"""Checkpoints for exact resume, without pickle: tensors in safetensors, the rest in JSON.

Layout: `checkpoint/step-<N>/` holds weights, optimiser tensors, RNG tensors and
`state.json`; `checkpoint/LATEST` names the complete one. A new checkpoint is written in
full before LATEST is replaced atomically, so a crash at any moment leaves a usable one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from glassnet.data.files import atomic_write_bytes, atomic_write_text, json_bytes
from glassnet.engine.optim import load_optimizer_state, optimizer_state
from glassnet.engine.seeding import capture_rng, restore_rng
from glassnet.errors import RunError


def save_weights(path: Path, net: nn.Module) -> None:
    """The net's weights as safetensors (buffers included), written atomically."""
    atomic_write_bytes(path, weights_bytes(net))


def load_weights(path: Path, net: nn.Module) -> None:
    """Load safetensors weights; a missing, damaged or foreign file is a RunError naming
    it (a pickle renamed to .safetensors is refused by the format, never executed)."""
    if not path.is_file():
        raise RunError(f"the weights file '{path}' is missing", fix="Retrain, or resume the run")
    try:
        net.load_state_dict(load(path.read_bytes()))
    except SafetensorError as e:
        raise RunError(
            f"the weights file '{path}' is damaged or not a safetensors file ({e})",
            fix="Retrain the run, or copy the file again from where it was made",
        ) from None
    except RuntimeError as e:  # other tensor names or shapes than this net's
        first = str(e).strip().splitlines()[0]
        raise RunError(
            f"the weights in '{path}' do not fit this run's net ({first})",
            fix="Keep each run's model.safetensors with its own run.yaml",
        ) from None


def _tensors(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU copies safetensors accepts: views (the optimiser's step counts share one buffer,
    see `optim.DirectSteps`) are cloned, as the format refuses tensors sharing memory."""
    out = {}
    for k, v in d.items():
        t = v.detach().cpu()
        out[k] = t.clone() if t._is_view() else t.contiguous()
    return out


def _split_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for idx, slots in sd["state"].items():
        plain["state"][str(idx)] = {}
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}/{name}"] = value
            else:
                plain["state"][str(idx)][name] = value
    return _tensors(tensors), plain


def _join_optimizer(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(s) for i, s in plain["state"].items()}
    for key, value in tensors.items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": plain["param_groups"]}


@dataclass
class Checkpoint:
    """What `load_checkpoint` gives back: the loop's position and bookkeeping."""

    state: dict[str, Any]
    directory: Path


def save_checkpoint(
    root: Path,
    *,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
) -> Path:
    """Write a complete checkpoint under `root` and point LATEST at it; prune older ones."""
    files = checkpoint_files(net=net, optimizer=optimizer, scheduler=scheduler, state=state)
    return write_checkpoint(root, state["global_step"], files)


def checkpoint_files(
    *, net: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, state: dict[str, Any]
) -> dict[str, bytes]:
    """The checkpoint's files as bytes: a snapshot of this moment, so they can be written
    while training goes on (`BackgroundWrites`)."""
    opt_tensors, opt_plain = _split_optimizer(optimizer_state(optimizer))
    rng_json, rng_tensors = capture_rng()
    return {
        "weights.safetensors": weights_bytes(net),
        "optimizer.safetensors": save(opt_tensors),
        "rng.safetensors": save(_tensors(rng_tensors)),
        "state.json": json_bytes(
            {
                "loop": state,
                "optimizer": opt_plain,
                "scheduler": scheduler.state_dict(),
                "rng": rng_json,
            }
        ),
    }


def write_checkpoint(root: Path, global_step: int, files: dict[str, bytes]) -> Path:
    """Write `files` as the checkpoint of `global_step`, then point LATEST at it.

    Every checkpoint gets a folder of its own (a step can be saved twice: at an epoch's last
    step after `--checkpoint-every`, or when resuming after Ctrl-C at that step), so the one
    LATEST names is never touched before the new one is complete."""
    step_dir = root / f"step-{global_step:09d}"
    if step_dir.exists():
        step_dir = root / f"step-{global_step:09d}-{time.time_ns()}"
    for name, data in files.items():
        atomic_write_bytes(step_dir / name, data)
    atomic_write_text(root / "LATEST", step_dir.name + "\n")
    for old in root.glob("step-*"):
        if old != step_dir:
            shutil.rmtree(old, ignore_errors=True)
    return step_dir


def weights_bytes(net: nn.Module) -> bytes:
    """The net's weights as the bytes of a safetensors file (a snapshot of this moment)."""
    return save(_tensors(net.state_dict()))


class BackgroundWrites:
    """Runs write jobs on a background thread, one at a time, while training goes on.

    A checkpoint costs a few fsyncs (~1 ms each on a VM's disk, far more on network
    storage): written in line they were 3-5 % of a short-epoch run (a table, a series).
    A job writes bytes made at the moment of the save (`checkpoint_files`,
    `weights_bytes`), so what lands is that moment; each file still lands atomically and
    LATEST moves only after the whole checkpoint, so a crash at any point leaves the
    previous one. A new job first waits for the one before (so at most one snapshot is
    held), and a job's error (a full disk) is raised there, or by `wait` / `close`."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[Any] | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="glassnet-writes")
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        """Block until the job submitted last is done; raise its error."""
        job, self._pending = self._pending, None
        if job is not None:
            job.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


def has_checkpoint(root: Path) -> bool:
    return (root / "LATEST").is_file()


def load_checkpoint(
    root: Path, *, net: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> Checkpoint:
    """Restore net, optimiser, scheduler and RNG streams; return the loop state."""
    if not has_checkpoint(root):
        raise RunError(
            f"there is no checkpoint in '{root}' to resume from",
            fix="Start a new run instead of --resume",
        )
    step_dir = root / (root / "LATEST").read_text(encoding="utf-8").strip()
    try:
        data = json.loads((step_dir / "state.json").read_text(encoding="utf-8"))
        net.load_state_dict(load((step_dir / "weights.safetensors").read_bytes()))
        opt_tensors = load((step_dir / "optimizer.safetensors").read_bytes())
        load_optimizer_state(optimizer, _join_optimizer(opt_tensors, data["optimizer"]))
        scheduler.load_state_dict(data["scheduler"])
        restore_rng(data["rng"], load((step_dir / "rng.safetensors").read_bytes()))
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:
        raise RunError(
            f"the checkpoint '{step_dir}' cannot be read ({type(e).__name__}: {e})",
            fix="It was damaged outside glassnet; start a new run (the run's model.safetensors "
            "still holds its best weights)",
        ) from None
    return Checkpoint(state=data["loop"], directory=step_dir)
