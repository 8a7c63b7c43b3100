"""Data-parallel training with torch.distributed (DDP), launched by torchrun.

`glassnet train ... --devices N` re-launches the same command under torchrun with N
processes (gloo on CPU, nccl on CUDA). Rank 0 alone writes the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


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


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


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


def _flag_tensor(value: int) -> torch.Tensor:
    """A one-number tensor where the backend can send it (NCCL: on the GPU)."""
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return torch.tensor([value], device=device)


def broadcast_flag(flag: bool, world: World) -> bool:
    """Rank 0's decision (e.g. early stop) for every rank."""
    if not world.distributed:
        return flag
    t = _flag_tensor(1 if flag else 0)
    dist.broadcast(t, src=0)
    return bool(t.item())


def all_agree(flag: bool, world: World) -> bool:
    """True only when `flag` holds on every rank (e.g. "my loss is finite"), so all ranks
    take the same branch."""
    if not world.distributed:
        return flag
    t = _flag_tensor(0 if flag else 1)
    dist.all_reduce(t)
    return int(t.item()) == 0


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
        "torch.distributed.run",
        *torchrun_args(train),
        "-m",
        "glassnet",
        *argv,
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.call(cmd, env=env)
