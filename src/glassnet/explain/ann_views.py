"""ANN views: the weight matrices, and which features drove one prediction (Integrated
Gradients, with the completeness check sum(attr) ~= f(x) - f(baseline))."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from glassnet.explain.figures import category_colour, new_figure
from glassnet.explain.sanity import randomisation_check
from glassnet.explain.views import View, register_view
from glassnet.nets.mlp import ACTIVATIONS


@register_view("mlp", "model")
def weight_maps(run: Any, encoded: Any) -> list[View]:
    linears = [m for m in run.net.modules() if isinstance(m, nn.Linear)]
    fig, axes = new_figure(4.8 * len(linears), 3.8, 1, len(linears))
    arrays = {}
    names = run.task.feature_names()
    labels = run.task.class_labels()
    for i, (ax, layer) in enumerate(zip(np.atleast_1d(axes).ravel(), linears, strict=True)):
        w = layer.weight.detach().cpu().numpy()
        arrays[f"layer{i}"] = w
        lim = float(np.abs(w).max()) or 1.0
        im = ax.imshow(
            w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest"
        )
        ax.set_title(f"layer {i + 1}: {w.shape[1]} -> {w.shape[0]}", fontsize=9)
        ax.set_xlabel("input unit")
        ax.set_ylabel("neuron")
        if i == 0 and names and len(names) == w.shape[1]:
            step = -(-len(names) // 60)  # every name up to 60 columns, then every k-th
            ticks = list(range(0, len(names), step))
            ax.set_xticks(ticks, [names[t][:24] for t in ticks], rotation=90, fontsize=6)
            if step > 1:
                ax.set_xlabel(f"input feature (every {step}th named)")
        if i == len(linears) - 1 and labels and len(labels) == w.shape[0]:
            ax.set_yticks(range(len(labels)), [str(c)[:20] for c in labels], fontsize=6)
            ax.set_ylabel("class")
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    return [
        View(
            "ann-weights",
            "Weights of every layer",
            (
                "Each square is one connection: row = a neuron, column = what feeds it. Red pushes "
                "the neuron up, blue pushes it down; strong colours in the first layer show which "
                "input features the network listens to most."
            ),
            fig,
            arrays,
        )
    ]


@register_view("mlp", "input")
def integrated_gradients(run: Any, encoded: Any) -> list[View]:
    from captum.attr import IntegratedGradients

    x = encoded.batch["x"][:1].float()
    net = run.net.eval()
    with torch.no_grad():
        target = int(net(x).argmax(-1)) if net(x).shape[-1] > 1 else 0
    baseline = torch.zeros_like(x)  # standardised features: zero is the training mean
    ig = IntegratedGradients(net)
    attr, delta = ig.attribute(
        x, baselines=baseline, target=target, n_steps=128, return_convergence_delta=True
    )
    attr_np = attr.detach().numpy()[0]

    def ig_of(model: Any) -> np.ndarray:
        ig_model = IntegratedGradients(model)
        return ig_model.attribute(x, baselines=baseline, target=target, n_steps=64).detach().numpy()

    with torch.no_grad():
        gap = float(net(x)[0, target] - net(baseline)[0, target])
    names = run.task.feature_names() or [f"f{i}" for i in range(len(attr_np))]
    order = np.argsort(-np.abs(attr_np))[:15][::-1]
    fig, ax = new_figure(6, 0.3 * len(order) + 1.2)
    ax.barh(
        [names[i] for i in order],
        attr_np[order],
        color=["#c44e52" if v > 0 else "#4c72b0" for v in attr_np[order]],
    )
    label = (run.task.class_labels() or ["output"] * (target + 1))[target]
    ax.set_title(
        f"why '{label}': sum of attributions {attr_np.sum():.3f} vs f(x) - f(baseline) {gap:.3f}",
        fontsize=9,
    )
    ax.axvline(0, color="black", lw=0.8)
    return [
        View(
            "ann-attributions",
            "Which features drove this prediction",
            (
                "Integrated Gradients walks from a baseline row to this row and adds up how much "
                "each feature moved the output. The baseline has every number at its training "
                "mean and every one-hot or missing-flag column at 0 ('none of these "
                "categories', not the commonest one), so a category's bar is its effect against "
                "having no category at all. Red bars pushed towards the predicted answer, blue "
                "bars against it; the bars add up to the change in output (the check in the title)."
            ),
            fig,
            {"attributions": attr_np},
            {
                "completeness_gap": round(abs(float(attr_np.sum()) - gap), 6),
                "captum_delta": round(float(delta.abs().max()), 6),
                **randomisation_check(ig_of, run, signed=True),
            },
        )
    ]


@register_view("mlp", "inputs")
def decision_regions(run: Any, encoded: Any) -> list[View]:
    """What the net answers across the data: a 2-D projection (PCA) of the inputs, with the
    predicted class painted on the plane behind them."""
    labels = run.task.class_labels()
    x = encoded.batch["x"].float()
    net = run.net.eval()
    n_embedded = getattr(net, "n_embedded", 0)
    if not labels or len(x) < 5 or n_embedded:
        return []  # classification on numeric/one-hot inputs only
    from sklearn.decomposition import PCA

    data = x.numpy()
    pca = PCA(n_components=2).fit(data)
    xy = pca.transform(data)
    lo, hi = xy.min(0) - 0.5, xy.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    grid = pca.inverse_transform(np.c_[gx.ravel(), gy.ravel()]).astype(np.float32)
    with torch.no_grad():
        regions = net(torch.from_numpy(grid)).argmax(-1).numpy().reshape(gx.shape)
        points = net(x).argmax(-1).numpy()
    fig, ax = new_figure(6, 5)
    cmap = "tab10"
    ax.contourf(
        gx,
        gy,
        regions,
        levels=np.arange(len(labels) + 1) - 0.5,
        cmap=cmap,
        alpha=0.3,
        vmin=0,
        vmax=9,
    )
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        c=points,
        cmap=cmap,
        vmin=0,
        vmax=9,
        s=10,
        edgecolors="black",
        linewidths=0.3,
    )
    for k, lab in enumerate(labels):
        ax.scatter([], [], color=category_colour(k), label=lab)
    ax.legend(fontsize=7, title="predicted", title_fontsize=7)
    share = pca.explained_variance_ratio_.sum()
    ax.set_xlabel("first principal direction")
    ax.set_ylabel("second principal direction")
    ax.set_title(
        f"decision regions on a 2-D view of the inputs ({share:.0%} of variance)", fontsize=9
    )
    return [
        View(
            "ann-decision-regions",
            "Decision regions: what the net answers where",
            (
                "The inputs are flattened to two directions that keep most of their spread (PCA); "
                "each dot is a row, coloured by the prediction, and the background shows what the "
                "net would answer at every point of this plane. Curved borders are what the hidden "
                "layers buy over a straight-line (linear) model."
            ),
            fig,
            {"projection": xy, "regions": regions},
        )
    ]


@register_view("mlp", "input")
def network_drawing(run: Any, encoded: Any) -> list[View]:
    """The network as layers of neurons, lit by their activations for one input row."""
    net = run.net.eval()
    x = encoded.batch["x"][:1].float()
    layers: list[np.ndarray] = []
    activation_types = tuple(ACTIVATIONS.values())  # one per hidden layer
    hooks = [
        m.register_forward_hook(lambda m, i, o: layers.append(o.detach()[0].numpy()))
        for m in net.body
        if isinstance(m, activation_types)
    ]
    dense = x[0, : x.shape[1] - getattr(net, "n_embedded", 0)].numpy()
    with torch.no_grad():
        out = torch.softmax(net(x), -1)[0].numpy() if run.task.class_labels() else net(x)[0].numpy()
    for h in hooks:
        h.remove()
    hidden = layers
    columns = [dense, *hidden, out]
    cap = 24  # neurons drawn per layer; the strongest when a layer is wider
    fig, ax = new_figure(2.2 * len(columns) + 3, 6)
    positions = []
    for c, acts in enumerate(columns):
        idx = np.argsort(-np.abs(acts))[:cap] if len(acts) > cap else np.arange(len(acts))
        idx = np.sort(idx)
        ys = np.linspace(0.05, 0.95, len(idx)) if len(idx) > 1 else np.array([0.5])
        positions.append((c, idx, ys))
        lim = float(np.abs(acts).max()) or 1.0
        # Activations that cannot be negative (after ReLU, class probabilities) get a one-sided
        # scale, white to red; signed ones (inputs, other activations) white in the middle.
        one_sided = bool((acts >= 0).all())
        ax.scatter(
            np.full(len(idx), c),
            ys,
            s=140,
            c=acts[idx],
            cmap="Reds" if one_sided else "RdBu_r",
            vmin=0 if one_sided else -lim,
            vmax=lim,
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for (c, idx_a, ys_a), (_, idx_b, ys_b), layer in zip(
        positions, positions[1:], linears, strict=False
    ):
        w = layer.weight.detach().numpy()
        if w.shape[1] != len(columns[c]):
            continue  # embeddings widen the first layer's input: skip those lines
        lim = float(np.abs(w).max()) or 1.0
        for j, yb in zip(idx_b, ys_b, strict=True):
            for i, ya in zip(idx_a, ys_a, strict=True):
                ax.plot(
                    [c, c + 1],
                    [ya, yb],
                    color="#c44e52" if w[j, i] > 0 else "#4c72b0",
                    alpha=min(abs(w[j, i]) / lim, 1.0) * 0.5,
                    lw=0.6,
                    zorder=1,
                )
    feature_names = run.task.feature_names() or []
    side = {0: feature_names, len(columns) - 1: run.task.class_labels() or []}
    for c, idx, ys in positions:
        for i, y in zip(idx, ys, strict=True):
            if c in side and i < len(side[c]):
                ax.text(
                    c + (-0.08 if c == 0 else 0.08),
                    y,
                    str(side[c][i])[:22],
                    ha="right" if c == 0 else "left",
                    va="center",
                    fontsize=6,
                )
    names = [
        "inputs",
        *[f"hidden {k + 1}" for k in range(len(hidden))],
        "output" if not run.task.class_labels() else "class probabilities",
    ]
    ax.set_xticks(range(len(columns)), names)
    ax.set_xlim(-1.2, len(columns) - 1 + 1.2)
    ax.set_yticks([])
    ax.set_title(
        "neurons lit by this input (red = positive, blue = negative; layers that cannot go "
        "negative, after ReLU or softmax, run from white to red)",
        fontsize=9,
    )
    return [
        View(
            "ann-network",
            "The network, lit up by one input",
            (
                "Circles are neurons, left to right from the input features to the output; "
                "their colour is how strongly each fired for this row. Lines are the weights "
                "between them "
                "(red positive, blue negative, fainter = weaker). Wide layers show their 24 most "
                "active neurons."
            ),
            fig,
            {
                **{f"layer{i}": a for i, a in enumerate(columns)},
                # the weights between layer i and i+1, for a page that shows what fed a neuron
                **{
                    f"weights{i}": layer.weight.detach().float().numpy()
                    for i, layer in enumerate(linears[: len(columns) - 1])
                    if layer.weight.shape[1] == len(columns[i])
                },
                **{
                    f"bias{i}": layer.bias.detach().float().numpy()
                    for i, layer in enumerate(linears[: len(columns) - 1])
                    if layer.bias is not None and layer.weight.shape[1] == len(columns[i])
                },
                "input_names": np.array([str(n) for n in feature_names[: len(dense)]]),
                "output_names": np.array([str(n) for n in side[len(columns) - 1]]),
            },
        )
    ]
