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
        shown_v = axes[r].imshow(
            v.T,
            aspect="auto",
            cmap="viridis",
            vmin=0 if name != "cell" and name != "new" else -1,
            vmax=1,
        )
        fig.colorbar(shown_v, ax=axes[r], fraction=0.02, pad=0.01)
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
        shown_c = axes[r].imshow(c.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(shown_c, ax=axes[r], fraction=0.02, pad=0.01, label="cell")
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
    """Which past steps drove each step of the forecast: Integrated Gradients of every
    forecast step's median, over the input window (baseline: the window at its own mean)."""
    from captum.attr import IntegratedGradients

    from glassnet.explain.sanity import randomisation_check
    from glassnet.nets.rnn import starting_rule

    net = run.net.eval()
    x = encoded.batch["x"][-1:].float()
    mid, look, horizon = net.n_quantiles // 2, net.lookback, net.horizon

    def ig_of(model: Any) -> np.ndarray:
        """(horizon, lookback + horizon, features): one attribution per forecast step."""
        many = x.expand(horizon, *x.shape[1:]).contiguous()
        # cuDNN's RNN backward refuses eval mode ("cudnn RNN backward can only be called in
        # training mode"); the non-cuDNN kernels give the same numbers.
        with torch.backends.cudnn.flags(enabled=False):
            attr = IntegratedGradients(lambda inp: model(inp)[..., mid]).attribute(
                many, baselines=torch.zeros_like(many), target=list(range(horizon)), n_steps=64
            )
        return attr.detach().cpu().numpy()

    def past_map(model: Any) -> np.ndarray:
        return ig_of(model)[:, :look].sum(-1)  # (horizon, lookback)

    # The rule every forecaster starts from (its highway before training) is linear, so its
    # share of the attribution is exact: weight x value. What is left is what training added.
    rule = starting_rule(look, horizon, getattr(net, "start_lag", 1)).numpy()
    rule_share = rule * x[0, :look, 0].numpy()[None, :]

    def learned_map(model: Any) -> np.ndarray:
        return past_map(model) - rule_share

    every = ig_of(net)
    per_horizon = every[:, :look].sum(-1)
    learned = per_horizon - rule_share
    per_step = per_horizon.sum(0)
    series = x[0, :look, 0].numpy()
    season = run.task.state().get("season", 1)
    start = _rule_name(getattr(net, "start_lag", 1))
    fig, axes = new_figure(8, 8.2, 4, 1)
    axes = np.atleast_1d(axes).ravel()
    axes[0].plot(series, color="#333333")
    axes[0].set_title(
        "input window (the target as the net reads it: scaled, relative to the window mean)",
        fontsize=8,
    )
    for ax, grid, title in (
        (
            axes[1],
            per_horizon,
            "each forecast step (rows): which window steps raised (red) or lowered it",
        ),
        (axes[2], learned, f"what training added to the rule it started from ({start})"),
    ):
        lim = float(np.abs(grid).max()) or 1.0
        shown = ax.imshow(
            grid, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest"
        )
        fig.colorbar(shown, ax=ax, fraction=0.02, pad=0.01, label="contribution")
        if 1 < season <= look:  # where "the same step one season ago" sits for each step
            ax.scatter(
                [look - season + h % season for h in range(horizon)],
                range(horizon),
                marker="o",
                facecolors="none",
                edgecolors="#222222",
                s=14,
                label=f"one season ({season} steps) back",
            )
            ax.legend(fontsize=7, loc="lower left")
        ax.set_ylabel("forecast step", fontsize=8)
        ax.set_yticks(range(horizon), [str(h + 1) for h in range(horizon)], fontsize=6)
        ax.set_title(title, fontsize=8)
    axes[3].bar(range(look), per_step, color=["#c44e52" if v > 0 else "#4c72b0" for v in per_step])
    axes[3].set_title("the first map summed over the forecast steps", fontsize=8)
    axes[3].set_xlabel("time step in the window (right = most recent)")
    for ax in (axes[0], axes[3]):
        ax.set_xlim(-0.5, look - 0.5)
    fig.tight_layout()
    share = float(np.abs(learned).sum() / (np.abs(per_horizon).sum() or 1.0))
    return [
        View(
            "rnn-step-attribution",
            "Which past steps drove each step of this forecast",
            (
                "Integrated Gradients splits each forecast step's median among the steps of the "
                "input window, starting from a window flat at its own mean (so the level itself "
                "gets no credit; only the shape does). Each row of the first heat map is one "
                "forecast step: a net that learned the season lights the circles, one season "
                "back; one that follows the trend lights the most recent steps. Every "
                f"forecaster here starts from a simple rule ({start}); the second map takes that "
                "rule's exact share away and shows what training added to it (here "
                f"{share:.0%} of the first map's total). The sanity check is about that second "
                "map: the rule is there before any training, so it cannot show what was learned."
            ),
            fig,
            {
                "per_step": per_step,
                "per_horizon": per_horizon,
                "learned_per_horizon": learned,
                "attributions": every.sum(0),
            },
            randomisation_check(learned_map, run, signed=True),
        )
    ]


def _rule_name(lag: int) -> str:
    if lag == 0:
        return "the window's mean"
    if lag == 1:
        return "repeat the last value"
    return f"repeat the value {lag} steps back"
