"""Optimisers (AdamW, SGD) and learning-rate schedules (warm-up + cosine, one-cycle)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from glassnet.config import TrainSpec


def build_optimizer(net: nn.Module, spec: TrainSpec, device: torch.device) -> torch.optim.Optimizer:
    """AdamW or SGD with the fused kernel where torch has one for the device: one kernel
    launch per step instead of a Python loop over parameters. One parameter group, so one
    launch (excluding biases from decay cost a second launch per step for no measurable gain
    on these nets)."""
    groups = [p for p in net.parameters() if p.requires_grad]
    fused = device.type in ("cuda", "cpu", "mps")
    if spec.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay, fused=fused
        )
    return torch.optim.AdamW(groups, lr=spec.lr, weight_decay=spec.weight_decay, fused=fused)


class StepSchedule:
    """Sets each group's lr to peak x factor(step) after every optimiser step. Lighter than
    torch's LambdaLR (this runs once per step), and its state is two numbers and a list."""

    def __init__(self, optimizer: torch.optim.Optimizer, factor: Callable[[int], float]) -> None:
        self.optimizer = optimizer
        self.factor = factor
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.step_count = 0
        self._apply()

    def _apply(self) -> None:
        f = self.factor(self.step_count)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * f

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.base_lrs = [float(v) for v in state["base_lrs"]]
        self._apply()


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: TrainSpec, total_steps: int
) -> StepSchedule:
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

    return StepSchedule(optimizer, factor)
