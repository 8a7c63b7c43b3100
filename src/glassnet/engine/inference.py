"""Forward passes without gradients, in fixed order: evaluation, prediction, validation."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from glassnet.engine.batches import sequential, to_device
from glassnet.tasks import Batch, Task
from glassnet.tasks._base import batch_size_of


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def run_outputs(
    task: Task,
    net: nn.Module,
    data: Batch,
    *,
    device: torch.device,
    batch_size: int = 1024,
    amp: torch.dtype | None = None,
    with_loss: bool = True,
) -> tuple[torch.Tensor, float | None]:
    """Concatenated raw outputs for `data` (on CPU) and, with targets, the mean loss."""
    was_training = net.training
    net.eval()
    outs, loss_sum, n = [], 0.0, 0
    try:
        for batch in sequential(data, batch_size):
            batch = to_device(batch, device)
            with autocast(device, amp):
                if with_loss:
                    step = task.step(net, batch)
                    size = batch_size_of(batch)
                    loss_sum += float(step.loss) * size
                    n += size
                    outs.append(step.outputs.float().cpu())
                else:
                    outs.append(task.forward(net, batch).float().cpu())
    finally:
        net.train(was_training)
    return torch.cat(outs), (loss_sum / n if with_loss and n else None)
