"""The data model every task fits: a split is rows you can count, take by index and collate.

A `Batch` maps names to per-sample values: tensors whose first dimension is the sample, or
lists with one entry per sample (ragged things: boxes per image, transcripts). Two kinds of
split implement the same small protocol:

- `TensorSplit`: every value already in memory (small data: tables, series, texts, images
  that fit). The engine keeps it on the device and slices batches out of it.
- `ItemSplit`: samples read one at a time (`load(i)`) and joined by `collate`; the engine
  reads it through a DataLoader whose worker processes decode while the net trains.

`concat_batches` joins batches whose sequence axes differ (each padded to its own longest
member) and `materialise` turns an ItemSplit into a TensorSplit when it fits.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import torch
from torch.nn import functional as F

Batch = dict[str, Any]  # tensors (first dim = sample) or lists (one entry per sample)
Indices = Sequence[int] | torch.Tensor


def batch_size_of(batch: Batch) -> int:
    value = next(iter(batch.values()))
    return int(value.shape[0]) if isinstance(value, torch.Tensor) else len(value)


def take_rows(batch: Batch, idx: Indices) -> Batch:
    """The rows `idx` of every value (index_select for tensors, picks for lists)."""
    out: Batch = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            i = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(idx, dtype=torch.long)
            out[k] = v.index_select(0, i.to(v.device))
        else:
            out[k] = [v[int(i)] for i in idx]
    return out


def to_device(batch: Batch, device: torch.device, non_blocking: bool = True) -> Batch:
    return {
        k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def pad_cat(parts: list[torch.Tensor], value: float = 0) -> torch.Tensor:
    """Concatenate on the first axis, padding every other axis to the longest part (padded
    sequences of two batches rarely share a length)."""
    if len(parts) == 1:
        return parts[0]
    shape = [max(p.shape[d] for p in parts) for d in range(1, parts[0].ndim)]
    padded = []
    for p in parts:
        pad: list[int] = []
        for d in reversed(range(1, p.ndim)):
            pad += [0, shape[d - 1] - p.shape[d]]
        padded.append(F.pad(p, pad, value=value) if any(pad) else p)
    return torch.cat(padded)


def concat_batches(parts: list[Any]) -> Any:
    """Join per-batch values in order: tensors (padded), lists, and dicts / tuples of
    those (structured net outputs)."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return pad_cat(parts)
    if isinstance(first, dict):
        return {k: concat_batches([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple):
        return tuple(concat_batches([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, list):
        return [item for p in parts for item in p]
    raise TypeError(f"cannot join batch values of type {type(first).__name__}")


def map_tensors(value: Any, fn: Any) -> Any:
    """Apply `fn` to every tensor inside dicts, tuples and lists (e.g. move outputs to CPU)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(map_tensors(v, fn) for v in value)
    if isinstance(value, list):
        return [map_tensors(v, fn) for v in value]
    return value


@runtime_checkable
class Split(Protocol):
    """Rows of one split (train / val / test, or a user's inputs)."""

    def __len__(self) -> int: ...

    def take(self, idx: Indices) -> Batch:
        """The rows `idx`, collated into one batch (in that order)."""
        ...

    def nbytes(self) -> int:
        """About how much memory the whole split takes once loaded."""
        ...


class TensorSplit:
    """A split held in memory as one batch of equal-length values."""

    def __init__(self, batch: Batch) -> None:
        if not batch:
            raise ValueError("a split needs at least one value")
        self.batch = batch
        self.n = batch_size_of(batch)
        for k, v in batch.items():
            size = v.shape[0] if isinstance(v, torch.Tensor) else len(v)
            if size != self.n:
                raise ValueError(f"'{k}' has {size} rows where the split has {self.n}")

    def __len__(self) -> int:
        return self.n

    def take(self, idx: Indices) -> Batch:
        return take_rows(self.batch, idx)

    def to(self, device: torch.device) -> TensorSplit:
        return TensorSplit(to_device(self.batch, device))

    def nbytes(self) -> int:
        return _tensor_bytes(self.batch)


def _tensor_bytes(batch: Batch) -> int:
    return sum(v.numel() * v.element_size() for v in batch.values() if isinstance(v, torch.Tensor))


class ItemSplit(ABC):
    """A split read one sample at a time. Subclasses must pickle cheaply (paths and
    settings, not pixels): DataLoader workers receive a copy."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def load(self, i: int) -> Batch:
        """Sample `i` as a batch of one (tensors without the batch axis, or plain values)."""

    def collate(self, items: list[Batch]) -> Batch:
        """Samples -> a batch: tensors stacked (padded where lengths differ), other values
        listed. Tasks with ragged samples override this."""
        out: Batch = {}
        for k in items[0]:
            values = [it[k] for it in items]
            if isinstance(values[0], torch.Tensor):
                out[k] = pad_cat([v.unsqueeze(0) for v in values])
            else:
                out[k] = values
        return out

    def nbytes(self) -> int:
        """About how much memory the whole split takes once loaded (to choose streaming)."""
        return len(self) * _tensor_bytes(self.load(0)) if len(self) else 0

    def take(self, idx: Indices) -> Batch:
        rows = [int(i) for i in idx]
        return self.collate([self.load(i) for i in rows])

    # DataLoader's map-style Dataset protocol: workers call this one sample at a time.
    def __getitem__(self, i: int) -> Batch:
        return self.load(i)


class RowsOf(ItemSplit):
    """An in-memory split read row by row: how a TensorSplit goes through the streamed
    path (`--stream on`), with the same batches as the in-memory path."""

    def __init__(self, split: TensorSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def load(self, i: int) -> Batch:
        return {k: v[i] for k, v in self.split.batch.items()}

    def collate(self, items: list[Batch]) -> Batch:
        # Rows of a padded tensor already share a length: stacking restores the batch.
        return {
            k: torch.stack([it[k] for it in items])
            if isinstance(items[0][k], torch.Tensor)
            else [it[k] for it in items]
            for k in items[0]
        }

    def nbytes(self) -> int:
        return self.split.nbytes()

    def take(self, idx: Indices) -> Batch:
        return self.split.take(idx)


class _PermutedItems(ItemSplit):
    """An ItemSplit whose sample i carries the answers of sample perm[i]."""

    def __init__(self, split: ItemSplit, keys: tuple[str, ...], perm: torch.Tensor) -> None:
        self.split, self.keys, self.perm = split, keys, perm

    def __len__(self) -> int:
        return len(self.split)

    def load(self, i: int) -> Batch:
        item = self.split.load(i)
        donor = self.split.load(int(self.perm[i]))  # read twice: fine for a short run
        return {**item, **{k: donor[k] for k in self.keys if k in item}}

    def collate(self, items: list[Batch]) -> Batch:
        return self.split.collate(items)


def permute_answers(split: Split, keys: tuple[str, ...], seed: int) -> Split:
    """The same inputs with their answers (`keys`) shuffled among the samples: data on which
    a net can only memorise (the data randomisation of the sanity checks)."""
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    if isinstance(split, RowsOf):
        split = split.split
    if isinstance(split, TensorSplit):
        shuffled = take_rows({k: v for k, v in split.batch.items() if k in keys}, perm)
        return TensorSplit({**split.batch, **shuffled})
    assert isinstance(split, ItemSplit)
    return _PermutedItems(split, keys, perm)


def chunks(n: int, size: int) -> Iterable[range]:
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


def materialise(split: Split, threads: int | None = None, chunk: int = 256) -> TensorSplit:
    """The whole split in memory. Items are read by threads (decoders such as Pillow
    release the GIL), a chunk at a time, then joined."""
    if isinstance(split, TensorSplit):
        return split
    if isinstance(split, RowsOf):
        return split.split
    assert isinstance(split, ItemSplit)
    workers = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = [split.collate(list(pool.map(split.load, r))) for r in chunks(len(split), chunk)]
    return TensorSplit(concat_batches(parts))
