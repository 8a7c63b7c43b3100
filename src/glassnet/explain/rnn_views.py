"""RNN views: the memory (hidden state per unit and time step) under the input sequence,
and for LSTMs the input/forget/output gates and the cell state, from the transparent loop
that replays the fused net's own weights step by step."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from glassnet.explain.figures import new_figure
from glassnet.explain.views import View, register_view


@register_view("rnn", "input")
def memory_over_time(run: Any, encoded: Any) -> list[View]:
    net = run.net.eval()
    x = encoded.batch["x"][-1:].float()  # the latest window
    net.transparent = True
    try:
        with torch.no_grad():
            net(x)
    finally:
        net.transparent = False
    trace = net.last_trace
    assert trace is not None
    layer = max(k[0] for k in trace.hidden)
    hidden = trace.hidden[(layer, 0)][0].numpy()  # (T, H)
    series = x[0, : net.lookback, 0].numpy()
    gates = trace.gates[(layer, 0)]
    rows = 2 + (len(gates) if gates else 0) + (1 if trace.cell else 0)
    fig, axes = new_figure(8, 1.5 * rows + 0.5, rows, 1)
    axes = np.atleast_1d(axes).ravel()
    axes[0].plot(series, color="#333333")
    axes[0].set_title("input sequence (scaled target)", fontsize=8)
    axes[0].set_xlim(-0.5, len(series) - 0.5)
    lim = float(np.abs(hidden).max()) or 1.0
    axes[1].imshow(hidden.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[1].set_title(f"hidden state h_t (units x time), layer {layer + 1}", fontsize=8)
    arrays = {"input": series, "hidden": hidden}
    r = 2
    for name, values in gates.items():
        v = values[0].numpy()
        arrays[f"gate_{name}"] = v
        axes[r].imshow(
            v.T,
            aspect="auto",
            cmap="viridis",
            vmin=0 if name != "cell" and name != "new" else -1,
            vmax=1,
        )
        axes[r].set_title(
            f"{name} gate (0 = closed, 1 = open)"
            if name not in ("cell", "new")
            else f"{name} candidate",
            fontsize=8,
        )
        r += 1
    if trace.cell:
        c = trace.cell[(layer, 0)][0].numpy()
        arrays["cell"] = c
        lim = float(np.abs(c).max()) or 1.0
        axes[r].imshow(c.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[r].set_title("cell state c_t: the long-term memory", fontsize=8)
    for ax in axes[1:]:
        ax.set_ylabel("unit", fontsize=7)
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    return [
        View(
            "rnn-memory",
            "The RNN's memory across the sequence",
            (
                "Top: the sequence the net read. Below, each row is one memory unit over time (red "
                "positive, blue negative): units that flip with the seasons track the cycle. "
                "For an LSTM, a forget gate near 1 means 'keep what you remember', the input gate "
                "says when new information is written, the output gate when memory is used."
            ),
            fig,
            arrays,
        )
    ]
