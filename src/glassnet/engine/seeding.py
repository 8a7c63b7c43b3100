"""Seeds and random-number-generator state, captured and restored for exact resume."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling stream of one epoch, a pure function of (seed, epoch), so a resumed
    run sees the same order without storing it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def capture_rng() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON part, tensor part) of every global RNG state."""
    py = random.getstate()
    np_state = np.random.get_state()
    json_part = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *map(_plain, np_state[2:])],
    }
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    return json_part, tensors


def restore_rng(json_part: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    py = json_part["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npj = json_part["numpy"]
    np.random.set_state((npj[0], np.array(npj[1], dtype=np.uint32), *npj[2:]))
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
