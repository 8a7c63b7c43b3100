"""Optimisers (AdamW, SGD) and learning-rate schedules (warm-up + cosine, one-cycle)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    with _dynamo_left_unloaded(
        torch.optim.Optimizer.__init__, torch.optim.Optimizer.add_param_group
    ):
        if spec.optimizer == "sgd":
            return torch.optim.SGD(
                groups,
                lr=spec.lr,
                momentum=spec.momentum,
                weight_decay=spec.weight_decay,
                fused=fused,
            )
        return torch.optim.AdamW(groups, lr=spec.lr, weight_decay=spec.weight_decay, fused=fused)


# torch wraps Optimizer.__init__, add_param_group, state_dict, load_state_dict and
# zero_grad in `torch._disable_dynamo`, and the step in a function that imports
# torch._dynamo: the import costs 2-3 s on a 2-core CPU at the first call (a quarter of a
# small table's whole `glassnet train`), only to keep torch.compile from tracing them.
# Outside torch.compile the wrapped function does the same work alone, so glassnet calls
# it directly (DirectSteps makes the steps); once torch._dynamo is loaded anyway (by
# torch.compile, or torchvision.ops, which detection uses), torch's wrappers are used.
def _undecorated(method: Callable[..., Any]) -> Callable[..., Any]:
    if "torch._dynamo" in sys.modules:
        return method
    return getattr(method, "__wrapped__", method)


@contextmanager
def _dynamo_left_unloaded(*methods: Callable[..., Any]) -> Iterator[None]:
    """While inside, torch's wrapped `methods` (reached from torch's own code, so not
    replaceable by `_undecorated`) run their wrapped functions: the wrapper calls the
    twin cached on the function, which is the function itself for the while."""
    cache = "__dynamo_disable"  # the attribute torch's wrapper caches its twin in
    given = []
    if "torch._dynamo" not in sys.modules:
        for method in methods:
            inner = getattr(method, "__wrapped__", None)
            if inner is not None and not hasattr(inner, cache):
                setattr(inner, cache, inner)
                given.append(inner)
    try:
        yield
    finally:
        for inner in given:
            delattr(inner, cache)


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """`optimizer.state_dict()`, without loading torch._dynamo (see `_undecorated`)."""
    return _undecorated(type(optimizer).state_dict)(optimizer)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """`optimizer.load_state_dict(state)`, without loading torch._dynamo."""
    _undecorated(type(optimizer).load_state_dict)(optimizer, state)


class DirectSteps:
    """`step()` and `zero_grad()` of a fused AdamW, minus torch's per-step Python.

    torch's `Optimizer.step` (and `zero_grad`) wrap the one fused kernel in profiler
    labels, hooks, a rebuild of the parameter/state lists, a regrouping by device and a
    list-wise add to count steps: ~150-200 us a step on a 2-core CPU, 15-20 % of the
    reference MLP's step. Here the lists are built once (at the first step, and again
    when `load_state_dict` replaced the state), the step counts live in one buffer (one
    add for all), and the kernel is called as torch calls it, so the result is bit for bit
    torch's (tested; with clipping, within float rounding of clip_grad_norm_ + torch's
    step). The first step's state is created by AdamW's own `_init_group`, as its step
    would, which also keeps torch's step from loading torch._dynamo (see `_undecorated`).
    Anything else (SGD, amsgrad, a parameter without a gradient, parameters on several
    devices) takes torch's own path."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.direct = isinstance(optimizer, torch.optim.AdamW) and all(
            g.get("fused")
            and not (g["amsgrad"] or g["maximize"] or g["capturable"] or g["differentiable"])
            and not isinstance(g["lr"], torch.Tensor)
            for g in optimizer.param_groups
        )
        self._plan: list[tuple[dict[str, Any], list[Any], list[Any], list[Any], list[Any]]] = []
        self._state: Any = None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, max_norm: float = 0.0) -> None:
        """One optimiser step, the gradients' global norm first clipped to `max_norm`
        (0: not clipped), as `torch.nn.utils.clip_grad_norm_` clips it."""
        if self.direct and self.optimizer.state is not self._state:
            self._plan_direct()  # the first step, or state loaded from a checkpoint
        grads = [[p.grad for p in group[1]] for group in self._plan]
        if not self._plan or any(g is None for gs in grads for g in gs):
            if max_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.params, max_norm, foreach=True)
            self.optimizer.step()
            self._plan_direct()
            return
        # Clipping by the kernel: it divides every gradient by `grad_scale` (meant for
        # AMP's loss scale), so torch's coefficient max_norm / (norm + 1e-6), capped at 1,
        # goes in as its inverse. This saves clip_grad_norm_'s own multiply pass and
        # Python (~13 % of the reference MLP's step); equal to clipping first within an
        # ulp (a division for a multiplication).
        scale = None
        if max_norm > 0:
            every = [g for gs in grads for g in gs]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(every)))
            scale = ((norm + 1e-6) / max_norm).clamp_(min=1.0)
        self._steps.add_(1)
        for (group, params, exp_avgs, exp_avg_sqs, steps), group_grads in zip(
            self._plan, grads, strict=True
        ):
            beta1, beta2 = group["betas"]
            torch._fused_adamw_(
                params,
                group_grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                amsgrad=False,
                maximize=False,
                grad_scale=scale,
            )

    def _plan_direct(self) -> None:
        """The lists for the direct steps, with every parameter's step count made a view
        into one buffer (the state dict still holds the counts). State not there yet is
        created as torch's first step creates it; left empty (torch's path) when anything
        is unusual."""
        opt = self.optimizer
        self._plan, self._state = [], None
        if not self.direct or any(p.grad is None for p in self.params):
            return
        if len({(p.device, p.dtype) for p in self.params}) != 1:  # torch groups these
            return
        if any(not opt.state.get(p) for p in self.params):
            try:  # AdamW's lazy state creation, which only its step calls
                for group in opt.param_groups:
                    opt._init_group(group, [], [], [], [], [], [])  # type: ignore[attr-defined]
            except (AttributeError, TypeError):  # another torch: let its step do it
                return
        states = [opt.state[p] for p in self.params]
        if not all(isinstance(s.get("step"), torch.Tensor) for s in states):
            return
        self._steps = torch.stack([s["step"] for s in states])
        views = iter(self._steps.unbind())
        for s in states:
            s["step"] = next(views)
        for group in opt.param_groups:
            params = list(group["params"])
            self._plan.append(
                (
                    group,
                    params,
                    [opt.state[p]["exp_avg"] for p in params],
                    [opt.state[p]["exp_avg_sq"] for p in params],
                    [opt.state[p]["step"] for p in params],
                )
            )
        self._state = opt.state


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
