"""The transparent loop steps the same weights as torch's fused RNNs and gives the same
outputs (within 1e-5), for LSTM, GRU and vanilla RNN, one or both directions, several layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glassnet.nets.rnn import GATES, run_transparent


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
def test_transparent_equals_fused(cls: type, bidirectional: bool, layers: int) -> None:
    torch.manual_seed(layers)
    module = cls(4, 6, num_layers=layers, batch_first=True, bidirectional=bidirectional).eval()
    x = torch.randn(3, 9, 4)
    out, state = module(x)
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    t_out, t_h, t_c, trace = run_transparent(module, x)
    torch.testing.assert_close(t_out, out, atol=1e-5, rtol=0)
    torch.testing.assert_close(t_h, h_n, atol=1e-5, rtol=0)
    if c_n is not None:
        torch.testing.assert_close(t_c, c_n, atol=1e-5, rtol=0)
    dirs = 2 if bidirectional else 1
    kind = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}[cls]
    assert len(trace.hidden) == layers * dirs
    for gates in trace.gates.values():
        assert set(gates) == set(GATES[kind])
        for g in gates.values():
            assert g.shape == (3, 9, 6)
    if kind == "lstm":
        assert trace.cell[(0, 0)].shape == (3, 9, 6)


def test_forecaster_transparent_path_matches_fast_path() -> None:
    from glassnet.nets import create_net

    torch.manual_seed(0)
    net = create_net(
        "rnn.lstm",
        n_features=3,
        n_future=1,
        lookback=12,
        horizon=4,
        n_quantiles=3,
        layers=2,
        bidirectional=True,
    ).eval()
    x = torch.randn(5, 16, 3)
    fast = net(x)
    net.transparent = True
    slow = net(x)
    torch.testing.assert_close(slow, fast, atol=1e-5, rtol=0)
    assert net.last_trace is not None and (1, 1) in net.last_trace.hidden
    assert bool((fast[..., 0] <= fast[..., 1]).all() and (fast[..., 1] <= fast[..., 2]).all())
