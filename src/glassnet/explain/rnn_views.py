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
    axes[0].set_title(
        "input window (the target as the net reads it: scaled, relative to the window mean)",
        fontsize=8,
    )
    axes[0].set_xlim(-0.5, len(series) - 0.5)
    # Units sorted by how closely they follow the input (|correlation|), each on its own
    # scale: one saturated unit would otherwise wash out the ones that track the season.
    order = _units_by_tracking(hidden, series)
    scaled = hidden[:, order] / (np.abs(hidden[:, order]).max(0, keepdims=True) + 1e-12)
    shown = axes[1].imshow(scaled.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(shown, ax=axes[1], fraction=0.02, pad=0.01, label="÷ unit's max")
    axes[1].set_title(
        f"hidden state h_t, layer {layer + 1}: units (rows) sorted by |correlation| with the "
        "input, top = closest; each unit on its own scale",
        fontsize=8,
    )
    arrays = {"input": series, "hidden": hidden, "unit_order": order}
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


def _units_by_tracking(hidden: np.ndarray, series: np.ndarray) -> np.ndarray:
    """Unit indices, the unit whose state correlates most (either sign) with the input first;
    flat units last."""
    h = hidden - hidden.mean(0)
    s = series - series.mean()
    norm = np.sqrt((h**2).sum(0) * (s**2).sum()) + 1e-12
    return np.argsort(-np.abs(s @ h) / norm, kind="stable")


@register_view("rnn", "input")
def step_attribution(run: Any, encoded: Any) -> list[View]:
    """Which past steps drove the forecast: Integrated Gradients over the input window."""
    from captum.attr import IntegratedGradients

    from glassnet.explain.sanity import randomisation_check

    net = run.net.eval()
    x = encoded.batch["x"][-1:].float()
    mid = net.n_quantiles // 2

    def forecast_total(inp: torch.Tensor, model: Any = net) -> torch.Tensor:
        return model(inp)[..., mid].sum(-1, keepdim=True)  # (B, 1): the median path's sum

    def ig_of(model: Any) -> np.ndarray:
        # cuDNN's RNN backward refuses eval mode ("cudnn RNN backward can only be called in
        # training mode"); the non-cuDNN kernels give the same numbers.
        with torch.backends.cudnn.flags(enabled=False):
            attr = IntegratedGradients(lambda inp: forecast_total(inp, model)).attribute(
                x, baselines=torch.zeros_like(x), target=0, n_steps=64
            )
        return attr.detach().cpu().numpy()[0]

    attr = ig_of(net)  # (L + H, F)
    per_step = attr[: net.lookback].sum(-1)
    series = x[0, : net.lookback, 0].numpy()
    fig, axes = new_figure(8, 3.6, 2, 1)
    axes = np.atleast_1d(axes).ravel()
    axes[0].plot(series, color="#333333")
    axes[0].set_title(
        "input window (the target as the net reads it: scaled, relative to the window mean)",
        fontsize=8,
    )
    axes[1].bar(
        range(len(per_step)), per_step, color=["#c44e52" if v > 0 else "#4c72b0" for v in per_step]
    )
    axes[1].set_title("contribution of each past step to the forecast", fontsize=8)
    axes[1].set_xlabel("time step in the window (right = most recent)")
    for ax in axes:
        ax.set_xlim(-0.5, len(series) - 0.5)
    fig.tight_layout()
    return [
        View(
            "rnn-step-attribution",
            "Which past steps drove this forecast",
            (
                "Integrated Gradients splits the forecast (the sum of its median path) among the "
                "steps of the input window. Tall bars are the moments the network leaned on - "
                "often "
                "the latest steps and the same season a cycle ago."
            ),
            fig,
            {"per_step": per_step, "attributions": attr},
            randomisation_check(ig_of, net, run.metrics),
        )
    ]
