"""Every registered net: shapes, finite outputs, a gradient for every parameter, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from glassnet.engine.checkpoint import load_weights, save_weights
from glassnet.nets import create_net, list_nets

# How to build a small instance of each family and feed it (data args + an input batch).
FAMILY_INPUTS = {
    # forecaster: lookback 6 + horizon 3 rows of (target, past cov, future cov)
    "rnn": (
        dict(n_features=3, n_future=1, lookback=6, horizon=3, n_quantiles=3),
        lambda: torch.randn(4, 9, 3),
    ),
    "cnn": (dict(in_channels=3, num_outputs=4), lambda: torch.randn(2, 3, 32, 32)),
    # speech recogniser: log-mel frames + lengths -> per-frame scores and frame counts
    "asr": (
        dict(n_mels=16, num_classes=6),
        lambda: (torch.randn(3, 40, 16), torch.tensor([40, 25, 9])),
    ),
    # detector: structured outputs (heat map, sizes, offsets per cell)
    "det": (dict(in_channels=3, num_classes=3), lambda: torch.randn(2, 3, 64, 64)),
    "mlp": (
        dict(in_features=7, num_outputs=3, cardinalities=(5,)),
        lambda: torch.cat([torch.randn(6, 6), torch.randint(0, 5, (6, 1)).float()], 1),
    ),
    # sequence classifier: padded token ids + lengths (one sequence ends early)
    "seq": (
        dict(vocab_size=20, n_channels=0, num_outputs=3),
        lambda: (torch.randint(4, 20, (5, 7)), torch.tensor([7, 3, 5, 1, 7])),
    ),
    # translator: source ids + lengths + the target so far (teacher forcing)
    "seq2seq": (
        dict(src_vocab=15, tgt_vocab=12),
        lambda: (
            torch.randint(4, 15, (3, 6)),
            torch.tensor([6, 4, 2]),
            torch.cat([torch.full((3, 1), 2), torch.randint(4, 12, (3, 4))], 1),
        ),
    ),
}


def _build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    entry = [e for e in list_nets() if e.name == name][0]
    args, make_x = FAMILY_INPUTS[entry.family]
    torch.manual_seed(0)
    return create_net(name, **args), make_x()


@pytest.mark.parametrize("name", [e.name for e in list_nets()])
def test_every_family_has_contract_inputs(name: str) -> None:
    assert name.split(".")[0] in FAMILY_INPUTS, "add the family to FAMILY_INPUTS"


@pytest.mark.parametrize("name", [e.name for e in list_nets()])
def test_net_contract(name: str, tmp_path: Path) -> None:
    net, x = _build(name)
    args = x if isinstance(x, tuple) else (x,)
    batch = args[0].shape[0]
    net.eval()  # no dropout noise, so the two paths must agree exactly
    out = net(*args)
    for part in _tensors(out):  # a tensor, or a dict of them (structured outputs)
        assert part.shape[0] == batch and torch.isfinite(part).all()
    if hasattr(net, "num_outputs"):
        assert out.reshape(batch, -1).shape == (batch, net.num_outputs)
    if hasattr(net, "forward_features"):  # the split the feature views rely on
        assert torch.equal(net.forward_head(net.forward_features(*args)), out)
    net.train()
    sum(part.square().sum() for part in _tensors(net(*args))).backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"

    net.eval()
    save_weights(tmp_path / "w.safetensors", net)
    twin, _ = _build(name)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.0)
    load_weights(tmp_path / "w.safetensors", twin)
    twin.eval()
    for a, b in zip(_tensors(net(*args)), _tensors(twin(*args)), strict=True):
        assert torch.equal(a, b)


def _tensors(out: torch.Tensor | dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return list(out.values()) if isinstance(out, dict) else [out]


def test_duplicate_registration_raises() -> None:
    from glassnet.nets import register_net

    with pytest.raises(ValueError, match="already registered"):
        register_net("mlp.small", data_args=())(lambda: None)
