"""Data-parallel training with torch.distributed (DDP), launched by torchrun.

`glassnet train ... --devices N` re-launches the same command under torchrun with N
processes (gloo on CPU, nccl on CUDA). Rank 0 alone writes the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from glassnet.errors import (  # noqa: F401  (re-exported: the launcher's names)
    LaunchInterrupted,
    RunError,
    WorkersFailed,
    under_torchrun,
)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device: torch.device) -> World:
    """Join the process group when started by torchrun; a single process otherwise."""
    if not under_torchrun():
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        torch.cuda.set_device(local)
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local)


def _flag_tensor(values: list[int]) -> torch.Tensor:
    """Small integers where the backend can send them (NCCL: on the GPU)."""
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return torch.tensor(values, device=device)


def broadcast_flag(flag: bool, world: World) -> bool:
    """Rank 0's decision (e.g. early stop) for every rank."""
    if not world.distributed:
        return flag
    t = _flag_tensor([1 if flag else 0])
    dist.broadcast(t, src=0)
    return bool(t.item())


def any_of(flags: list[bool], world: World, now: bool = True) -> list[bool]:
    """Each flag, true when it holds on any rank (one all-reduce), so all ranks take the same
    branch. With `now` False nothing is exchanged and every flag reads False: ranks call this
    at the same steps, and may skip the exchange on the same steps (accelerators check every
    few steps, not to wait for the device at each)."""
    if not world.distributed or not now:
        return flags if not world.distributed else [False] * len(flags)
    t = _flag_tensor([int(f) for f in flags])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wants_launch(train: Any) -> bool:
    """Whether this process should start torchrun (more than one process wanted, and we are
    not one of torchrun's workers already)."""
    return (train.devices > 1 or train.nodes > 1) and not under_torchrun()


def torchrun_args(train: Any) -> list[str]:
    """torchrun's options: one machine standalone; several meet at `master` (c10d
    rendezvous: no node ranks to hand out, the first to arrive hosts the store)."""
    if train.nodes <= 1:
        return ["--standalone", f"--nproc-per-node={train.devices}"]
    return [
        f"--nnodes={train.nodes}",
        f"--nproc-per-node={train.devices}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={train.master}",
        "--rdzv-id=glassnet",
    ]


def launch(train: Any, argv: list[str]) -> int:
    """Run `glassnet <argv>` under torchrun with the processes `train` asks for."""
    cmd = [
        sys.executable,
        "-m",
        "glassnet.engine.torchrun_quietly",
        *torchrun_args(train),
        "-m",
        "glassnet",
        *argv,
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    # Its own session: a Ctrl-C at the terminal reaches this process only, which passes it
    # on to the workers (torchrun would answer it by killing them without a checkpoint).
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        workers = _descendants(proc.pid)
        for pid in workers:  # each worker stops cleanly (a checkpoint) at the same step
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        try:
            proc.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: stop everything now
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
        raise LaunchInterrupted from None


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively (Linux /proc; empty elsewhere)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out += children
            todo += children
    return out
