"""Forward passes without gradients, in fixed order: evaluation, prediction, validation."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from glassnet.data.splits import Batch, Split, batch_size_of, concat_batches, map_tensors, to_device
from glassnet.engine.batches import sequential
from glassnet.tasks import Task


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to_cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().cpu() if t.is_floating_point() else t.detach().cpu()


EVAL_INPUT_BYTES = 1 << 20  # raw input per evaluation batch: keeps a CNN's activations small


def eval_batch_size(split: Split, at_least: int = 1) -> int:
    """Samples per evaluation batch: up to 1024, fewer for large samples (a 1024-image batch
    of 64 px pictures would hold ~1 GB of activations in a small CNN)."""
    per_sample = split.nbytes() / max(len(split), 1)
    fits = int(EVAL_INPUT_BYTES // per_sample) if per_sample else 1024
    return max(1, min(1024, max(at_least, fits)))


@dataclass
class Outputs:
    """What a pass over a split gives: the task's outputs (on CPU), the split's values other
    than the net's inputs (targets, scales: what `decode` and `score` read), and the mean
    loss when targets were there."""

    outputs: Any
    batch: Batch
    loss: float | None
    n: int


@torch.no_grad()
def run_outputs(
    task: Task,
    net: nn.Module,
    data: Split,
    *,
    device: torch.device,
    batch_size: int | None = None,
    amp: torch.dtype | None = None,
    with_loss: bool = True,
    forward: Callable[[Batch], Any] | None = None,
) -> Outputs:
    """The outputs for every sample of `data`, in order, and with targets the mean loss.
    `forward` (without loss only) answers a batch in place of `task.forward(net, batch)`:
    an exported graph, for the service."""
    was_training = net.training
    if was_training:  # walking every module costs ~0.4 ms a call: a served net stays in eval
        net.eval()
    outs, kept, loss_sum, n = [], [], 0.0, 0
    try:
        for batch in sequential(data, batch_size or eval_batch_size(data)):
            batch = to_device(batch, device)
            with autocast(device, amp):
                if with_loss:
                    step = task.step(net, batch)
                    size = batch_size_of(batch)
                    loss_sum += float(step.loss) * size
                    n += size
                    out = step.outputs
                elif forward is not None:
                    out = forward(batch)
                else:
                    out = task.forward(net, batch)
            outs.append(map_tensors(out, _to_cpu))
            rest = {k: v for k, v in batch.items() if k not in task.input_keys}
            kept.append(map_tensors(rest, lambda t: t.cpu()))
    finally:
        if was_training:
            net.train()
    return Outputs(
        outputs=task.collate_outputs(outs),
        batch=concat_batches(kept) if kept and kept[0] else {},
        loss=loss_sum / n if with_loss and n else None,
        n=len(data),
    )
