"""DirectSteps calls AdamW's fused kernel without torch's per-step Python: its training must
be bit for bit torch's own, through schedules, two parameter groups, a parameter that
misses a gradient, and a checkpoint saved and loaded in the middle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from glassnet.config import TrainSpec
from glassnet.engine.checkpoint import load_checkpoint, save_checkpoint
from glassnet.engine.optim import DirectSteps, build_optimizer, build_scheduler


def _setup(two_groups: bool = False) -> tuple[nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3), nn.Linear(3, 2))
    spec = TrainSpec(lr=1e-2, weight_decay=0.05, schedule="cosine", warmup=0.2)
    if two_groups:  # as a user's own optimiser might: no decay on biases
        decay = [p for n, p in net.named_parameters() if n.endswith("weight")]
        rest = [p for n, p in net.named_parameters() if not n.endswith("weight")]
        opt = torch.optim.AdamW(
            [{"params": decay}, {"params": rest, "weight_decay": 0.0}], lr=1e-2, fused=True
        )
    else:
        opt = build_optimizer(net, spec, torch.device("cpu"))
    return net, opt, build_scheduler(opt, spec, 40)


def _train(
    direct: bool,
    steps: int = 40,
    skip_last_at: int = -1,
    two_groups: bool = False,
    max_norm: float = 0.0,
):
    net, opt, sched = _setup(two_groups)
    stepper = DirectSteps(opt)
    gen = torch.Generator().manual_seed(1)
    for i in range(steps):
        x, y = torch.randn(8, 5, generator=gen), torch.randint(0, 2, (8,), generator=gen)
        if direct:
            stepper.zero_grad()
        else:
            opt.zero_grad(set_to_none=True)
        h = net[1](net[0](x))
        # at one step the last layer is skipped: its parameters get no gradient
        out = net[2](h)[:, :2] if i == skip_last_at else net[3](net[2](h))
        nn.functional.cross_entropy(out, y).backward()
        if direct:
            stepper.step(max_norm=max_norm)
        else:
            if max_norm:
                nn.utils.clip_grad_norm_(list(net.parameters()), max_norm, foreach=True)
            opt.step()
        sched.step()  # type: ignore[attr-defined]
    return net, opt


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_direct_steps_equal_torch_bit_for_bit() -> None:
    ref, ref_opt = _train(direct=False)
    got, got_opt = _train(direct=True)
    assert _same(ref, got)
    for p, q in zip(ref.parameters(), got.parameters(), strict=True):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(ref_opt.state[p][key], got_opt.state[q][key]), key


def test_clipping_in_the_kernel_equals_clip_grad_norm() -> None:
    """`step(max_norm=)` clips as torch's clip_grad_norm_ does: within float rounding when
    it clips (the kernel divides by the inverse coefficient), and bit for bit when the
    gradients are under the limit (the coefficient is 1)."""
    ref, _ = _train(direct=False, max_norm=0.05)
    got, _ = _train(direct=True, max_norm=0.05)
    unclipped, _ = _train(direct=True)
    for p, q, u in zip(ref.parameters(), got.parameters(), unclipped.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-7)
        assert not torch.allclose(p, u, rtol=1e-3)  # the limit was reached: clipping acted
    assert _same(_train(direct=False, max_norm=1e6)[0], _train(direct=True, max_norm=1e6)[0])


def test_direct_steps_really_bypass_torch_step(monkeypatch) -> None:
    """Torch's step is never called, not even for the first step (which creates the
    optimiser's state): the fast path is the path taken, not a silent fallback."""
    net, opt, _ = _setup()
    calls = []
    original = type(opt).step
    monkeypatch.setattr(type(opt), "step", lambda self, *a, **k: calls.append(1) or original(self))
    stepper = DirectSteps(opt)
    for _ in range(5):
        stepper.zero_grad()
        net(torch.randn(4, 5)).sum().backward()
        stepper.step()
    assert calls == []
    assert all(opt.state[p]["step"] == 5 for p in net.parameters())


def test_two_groups_and_a_missing_gradient_fall_back_and_stay_equal() -> None:
    ref, _ = _train(direct=False, skip_last_at=17, two_groups=True)
    got, _ = _train(direct=True, skip_last_at=17, two_groups=True)
    assert _same(ref, got)


def test_checkpoint_round_trip_mid_training(tmp_path: Path) -> None:
    """Save after 10 direct steps (the step counts are views of one buffer), load into a
    fresh optimiser, go on: equal to 20 uninterrupted torch steps."""
    ref, _ = _train(direct=False, steps=20)

    net, opt, sched = _setup()
    stepper = DirectSteps(opt)
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 5, generator=gen), torch.randint(0, 2, (8,), generator=gen))]
    for _ in range(19):
        batches.append((torch.randn(8, 5, generator=gen), torch.randint(0, 2, (8,), generator=gen)))

    def run(net, stepper, sched, part):
        for x, y in part:
            stepper.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            stepper.step()
            sched.step()

    run(net, stepper, sched, batches[:10])
    save_checkpoint(tmp_path, net=net, optimizer=opt, scheduler=sched, state={"global_step": 10})
    net2, opt2, sched2 = _setup()
    load_checkpoint(tmp_path, net=net2, optimizer=opt2, scheduler=sched2)
    run(net2, DirectSteps(opt2), sched2, batches[10:])
    assert _same(ref, net2)


def test_training_does_not_load_torch_dynamo(tmp_path: Path) -> None:
    """torch's optimiser methods load torch._dynamo at their first call (~2 s on 2 cores,
    a third of a small table's run) only to keep torch.compile out; glassnet's training,
    checkpoints and resume do not load it. In a fresh process, as a user's run starts."""
    code = f"""
import sys, glassnet
from glassnet.engine.callbacks import Callback
class Stop(Callback):  # interrupted after 5 steps, as Ctrl-C would
    def on_step(self, step, **_):
        self.trainer.stop.requested = step == 4
out = {str(tmp_path / "r")!r}
glassnet.train("tabular", "builtin:iris", epochs=2, quiet=True, out=out, callbacks=[Stop()])
glassnet.train("tabular", resume=out, quiet=True)
print("torch._dynamo" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
