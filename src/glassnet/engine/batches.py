"""Batches for training and evaluation, from either kind of split (`data/splits.py`).

The order of an epoch is a pure function of (seed, epoch), so a resumed run can skip to
the exact batch it stopped at. Under DDP every rank draws the same global batch and keeps
its own contiguous share of it. Both paths below yield the same batches for the same split:
- in memory: the split lives on the device, batches are `index_select`s (no DataLoader,
  no per-sample Python: why the MLP beats a hand-written loop);
- streamed: a DataLoader's worker processes load and collate the samples of each batch
  while the net trains (pinned memory on CUDA), for data larger than memory.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader

from glassnet.data.splits import (
    Batch,
    ItemSplit,
    RowsOf,
    Split,
    TensorSplit,
    materialise,
    take_rows,
    to_device,
)
from glassnet.engine.seeding import epoch_generator

StreamMode = Literal["auto", "on", "off"]
BUDGET_SHARE = 0.25  # auto: keep a split in memory when it takes under this share of RAM
BUDGET_CAP = 4 << 30  # ... and under 4 GiB
WORKER_NICENESS = 10  # loader workers' priority drop when cores are short


def memory_budget() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return int(min(total * BUDGET_SHARE, BUDGET_CAP))


def default_workers(device: torch.device) -> int:
    """Loader processes for streamed data: one core stays with the training loop. None
    when training on a CPU of two cores or fewer: the training's threads use both, so a
    worker only takes turns with them (and a preempted thread stalls its whole team);
    decoding in the loop between steps was faster there (6 000 64 px PNGs: 803-844
    samples/s against 747-783 with one worker, 917-941 in memory)."""
    cores = os.cpu_count() or 2
    if device.type == "cpu" and cores <= 2:
        return 0
    return max(1, min(4, cores - 1))


def arrange(split: Split, mode: StreamMode, training: bool = True) -> TensorSplit | ItemSplit:
    """How a split is read: in memory (a TensorSplit) or streamed (an ItemSplit). `auto`
    keeps what is in memory and loads an ItemSplit whole when it fits the budget; `on`
    streams even in-memory training data (evaluation slices what is in memory anyway)."""
    if mode == "off":
        return materialise(split)
    if mode == "on":
        if isinstance(split, TensorSplit):
            return RowsOf(split) if training else split
        assert isinstance(split, ItemSplit)
        return split
    if isinstance(split, TensorSplit):
        return split
    assert isinstance(split, ItemSplit)
    return materialise(split) if split.nbytes() <= memory_budget() else split


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=epoch_generator(seed, epoch))


def local_share(idx: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's contiguous part of a global batch of indices."""
    return idx.tensor_split(world_size)[rank] if world_size > 1 else idx


class _Batches:
    def __init__(
        self, n: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def global_size(self, step: int) -> int:
        return min(self.batch_size, self.n - step * self.batch_size)

    def index_batches(self, epoch: int, start: int) -> Iterator[torch.Tensor]:
        """The local indices of steps `start`.. of `epoch`."""
        order = epoch_order(self.n, self.seed, epoch)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]  # (B_global,)
            yield local_share(idx, self.rank, self.world_size)  # (B_local,)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Batch, int]]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop worker processes (streamed batches)."""


class InMemoryBatches(_Batches):
    """Batches sliced out of a split held on the training device."""

    streamed = False

    def __init__(self, split: TensorSplit, batch_size: int, **kw: Any) -> None:
        super().__init__(len(split), batch_size, **kw)
        self.split = split

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Batch, int]]:
        """Yield (local batch, global batch size) for steps `start`.. of `epoch`."""
        device = next(
            (v.device for v in self.split.batch.values() if isinstance(v, torch.Tensor)), None
        )
        for step, idx in enumerate(self.index_batches(epoch, start), start):
            yield (
                take_rows(self.split.batch, idx.to(device) if device else idx),
                self.global_size(step),
            )


class _Sampler:
    """DataLoader batch sampler over the seeded order; `set` picks the epoch and first step
    before each pass (the workers persist between epochs)."""

    def __init__(self, batches: _Batches) -> None:
        self.batches, self.epoch, self.start = batches, 0, 0

    def set(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[list[int]]:
        for idx in self.batches.index_batches(self.epoch, self.start):
            yield idx.tolist()

    def __len__(self) -> int:
        return len(self.batches) - self.start


class StreamedBatches(_Batches):
    """Batches loaded and collated by DataLoader workers while the net trains."""

    streamed = True

    def __init__(
        self,
        split: ItemSplit,
        batch_size: int,
        *,
        device: torch.device,
        workers: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(len(split), batch_size, **kw)
        self.device = device
        self.sampler = _Sampler(self)
        self.workers = default_workers(device) if workers is None else workers
        self.loader = loader(split, self.sampler, self.workers, device)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Batch, int]]:
        self.sampler.set(epoch, start)
        for step, batch in enumerate(self.loader, start):
            yield to_device(batch, self.device), self.global_size(step)

    def close(self) -> None:
        it = getattr(self.loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()


class _WholeBatches:
    """A worker's view of a split: item `idx` is the whole batch of those rows, read by
    `split.take` (one call per batch: a task can decode straight into one array)."""

    def __init__(self, split: ItemSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, idx: list[int]) -> Batch:
        return self.split.take(idx)


def _as_is(batch: Batch) -> Batch:
    return batch


def _yield_to_training(training_threads: int, worker_id: int) -> None:
    """Lower a loader worker's priority when the workers and the training threads together
    want more cores than there are: the training's threads wait for each other at every
    kernel, so one of them preempted by a decoding worker stalls them all, while a worker
    that runs a little later costs nothing (batches are queued ahead)."""
    info = torch.utils.data.get_worker_info()
    busy = training_threads + (info.num_workers if info is not None else 1)
    if busy > (os.cpu_count() or 1):
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)


def loader(split: ItemSplit, sampler: Any, workers: int, device: torch.device) -> DataLoader:
    """Persistent loader processes that each read whole batches (`sampler` yields lists
    of row indices)."""
    return DataLoader(
        _WholeBatches(split),  # type: ignore[arg-type]  (map-style: __len__ + __getitem__)
        sampler=sampler,
        batch_size=None,  # the sampler's lists are the batches
        num_workers=workers,
        collate_fn=_as_is,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        worker_init_fn=functools.partial(_yield_to_training, torch.get_num_threads()),
        prefetch_factor=4 if workers > 0 else None,
        # Its own generator: DataLoader draws its workers' base seed at every epoch, which
        # would otherwise shift the global stream (dropout, augmentation) of the training.
        generator=torch.Generator().manual_seed(0),
    )


def make_batches(
    split: Split,
    batch_size: int,
    *,
    seed: int,
    device: torch.device,
    stream: StreamMode = "auto",
    workers: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> InMemoryBatches | StreamedBatches:
    """The training batches of `split`, in memory or streamed (see `arrange`)."""
    arranged = arrange(split, stream)
    kw = {"seed": seed, "rank": rank, "world_size": world_size}
    if isinstance(arranged, TensorSplit):
        return InMemoryBatches(arranged.to(device), batch_size, **kw)
    return StreamedBatches(arranged, batch_size, device=device, workers=workers, **kw)


def sequential(split: Split, batch_size: int) -> Iterator[Batch]:
    """Fixed-order batches for evaluation: slices of a TensorSplit; an ItemSplit's samples
    read by threads one batch ahead (image and audio decoders release the GIL)."""
    n = len(split)
    if isinstance(split, TensorSplit):
        for i in range(0, n, batch_size):
            yield {k: v[i : i + batch_size] for k, v in split.batch.items()}
        return
    assert isinstance(split, ItemSplit)
    ranges = [range(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        ahead = [pool.submit(split.load, i) for i in ranges[0]] if ranges else []
        for k in range(len(ranges)):
            items = [f.result() for f in ahead]
            if k + 1 < len(ranges):
                ahead = [pool.submit(split.load, i) for i in ranges[k + 1]]
            yield split.collate(items)
