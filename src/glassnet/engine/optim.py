"""Optimisers (AdamW, SGD) and learning-rate schedules (warm-up + cosine, one-cycle)."""

from __future__ import annotations

import math

import torch
from torch import nn

from glassnet.config import TrainSpec


def build_optimizer(net: nn.Module, spec: TrainSpec, device: torch.device) -> torch.optim.Optimizer:
    """AdamW or SGD; the fused kernel where torch has one for the device (fewer launches,
    no per-parameter Python loop). Norm and bias parameters get no weight decay."""
    decay, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": spec.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu", "mps")
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, fused=fused)
    return torch.optim.AdamW(groups, lr=spec.lr, fused=fused)


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: TrainSpec, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step multiplier of the peak lr. Plain functions of the step count, so the
    scheduler's state is a few numbers and resumes exactly."""
    total = max(total_steps, 1)
    if spec.schedule == "onecycle":
        # Smith's one-cycle: 30% up from lr/25, cosine down to lr/1e4.
        warm = max(int(0.3 * total), 1)

        def factor(step: int) -> float:
            if step < warm:
                return 1 / 25 + (1 - 1 / 25) * step / warm
            t = min((step - warm) / max(total - warm, 1), 1.0)
            return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * t))
    else:
        warm = int(spec.warmup * total)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            if spec.schedule == "constant":
                return 1.0
            t = min((step - warm) / max(total - warm, 1), 1.0)
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
