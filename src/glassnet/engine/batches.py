"""Batches from tensors held on the device: no DataLoader, no per-sample Python.

The order of an epoch is a pure function of (seed, epoch), so a resumed run can skip to
the exact batch it stopped at. Under DDP every rank draws the same global batch and keeps
its own contiguous share of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from glassnet.engine.seeding import epoch_generator
from glassnet.tasks import Batch
from glassnet.tasks._base import batch_size_of


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class TensorBatches:
    def __init__(
        self, data: Batch, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.data = data
        self.n = batch_size_of(data)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Batch, int]]:
        """Yield (local batch, global batch size) for steps `start`.. of `epoch`."""
        order = torch.randperm(self.n, generator=epoch_generator(self.seed, epoch))
        device = next(iter(self.data.values())).device
        order = order.to(device)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]  # (B_global,)
            if self.world_size > 1:
                idx = idx.tensor_split(self.world_size)[self.rank]  # (B_local,)
            yield (
                {k: v.index_select(0, idx) for k, v in self.data.items()},
                min(self.batch_size, self.n - i * self.batch_size),
            )


def sequential(data: Batch, batch_size: int) -> Iterator[Batch]:
    """Fixed-order batches for evaluation."""
    n = batch_size_of(data)
    for i in range(0, n, batch_size):
        yield {k: v[i : i + batch_size] for k, v in data.items()}
