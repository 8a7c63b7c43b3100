"""Views for RNNs that read sequences: per-token attribution and the hidden state over the
tokens (classifiers), the attention matrix (translators), and the learned token map."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from glassnet.data.text import BOS
from glassnet.explain.figures import new_figure
from glassnet.explain.views import View, register_view
from glassnet.nets.rnn import run_transparent

MAX_TOKENS_SHOWN = 60


def _labels(encoded: Any, i: int, n: int) -> list[str]:
    tokens = encoded.extra.get("tokens")
    if tokens:
        return [str(t) for t in tokens[i][:n]]
    return [str(t + 1) for t in range(n)]  # numeric sequences: step numbers


def _one(encoded: Any, i: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(encoded.batch["lengths"][i])
    return encoded.batch["x"][i : i + 1, :n], torch.tensor([n])


@register_view("seq", "input")
def token_attribution(run: Any, encoded: Any) -> list[View]:
    """Integrated Gradients on the embedded input: each token's share of the class score."""
    from captum.attr import IntegratedGradients

    from glassnet.explain.sanity import randomisation_check

    net = run.net.eval()
    x, lengths = _one(encoded)
    with torch.no_grad():
        probs = net(x, lengths).softmax(-1)[0]
    target = int(probs.argmax())
    labels = run.task.class_labels() or [str(i) for i in range(len(probs))]

    def ig_of(model: Any) -> np.ndarray:
        e = model.embed_inputs(x).detach()
        with torch.backends.cudnn.flags(enabled=False):
            attr = IntegratedGradients(model.forward_embedded).attribute(
                e,
                baselines=torch.zeros_like(e),
                target=target,
                additional_forward_args=(lengths,),
                n_steps=64,
            )
        return attr.detach().numpy()[0]

    attr = ig_of(net)  # (T, E)
    per_token = attr.sum(-1)
    e = net.embed_inputs(x).detach()
    with torch.no_grad():
        gap = float(
            net.forward_embedded(e, lengths)[0, target]
            - net.forward_embedded(torch.zeros_like(e), lengths)[0, target]
            - per_token.sum()
        )
    shown = min(len(per_token), MAX_TOKENS_SHOWN)
    names = _labels(encoded, 0, shown)
    fig, ax = new_figure(max(4.0, 0.32 * shown + 1.5), 3.2)
    ax.bar(
        range(shown),
        per_token[:shown],
        color=["#c44e52" if v > 0 else "#4c72b0" for v in per_token[:shown]],
    )
    ax.set_xticks(range(shown), names, rotation=60, ha="right", fontsize=8)
    ax.axhline(0, color="#888", lw=0.6)
    ax.set_title(f"why '{labels[target]}' (p = {float(probs[target]):.2f})", fontsize=9)
    ax.set_ylabel("contribution to the class score", fontsize=8)
    fig.tight_layout()
    checks = {
        "completeness_gap": round(abs(gap), 5),
        **randomisation_check(ig_of, run, signed=True),
    }
    return [
        View(
            "seq-token-attribution",
            "Which tokens decided the class",
            "Integrated Gradients shares the predicted class's score among the tokens (for "
            "numbers: the steps). Red bars pushed towards the predicted class, blue against it. "
            "In 'the screen is great but the battery is not good', a net that reads in order "
            "puts its weight on 'not' and 'good' after 'but'.",
            fig,
            {"per_token": per_token, "attributions": attr},
            checks,
        )
    ]


@register_view("seq", "input")
def hidden_over_tokens(run: Any, encoded: Any) -> list[View]:
    """The recurrent state after each token, from the transparent loop (same weights)."""
    net = run.net.eval()
    x, _ = _one(encoded)
    with torch.no_grad():
        e = net.embed_inputs(x)
        _, _, _, trace = run_transparent(net.rnn, e)
    layer = max(k[0] for k in trace.hidden)
    dirs = sorted(d for (lay, d) in trace.hidden if lay == layer)
    shown = min(x.shape[1], MAX_TOKENS_SHOWN)
    names = _labels(encoded, 0, shown)
    rows = len(dirs) + (1 if trace.gates.get((layer, 0)) else 0)
    fig, axes = new_figure(max(5.0, 0.3 * shown + 2), 2.3 * rows + 0.4, rows, 1)
    axes = np.atleast_1d(axes).ravel()
    arrays: dict[str, np.ndarray] = {}
    for r, d in enumerate(dirs):
        h = trace.hidden[(layer, d)][0].numpy()[:shown]  # (T, H)
        arrays[f"hidden_{'backward' if d else 'forward'}"] = h
        lim = float(np.abs(h).max()) or 1.0
        shown_h = axes[r].imshow(
            h.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest"
        )
        fig.colorbar(shown_h, ax=axes[r], fraction=0.02, pad=0.01, label="state")
        way = "right to left" if d else "left to right"
        axes[r].set_title(f"hidden state, reading {way} (units x tokens)", fontsize=8)
        axes[r].set_ylabel("unit", fontsize=7)
    arrays["steps"] = np.array(names)  # the token read at each step
    gates = trace.gates.get((layer, 0))
    if gates:
        name = "forget" if "forget" in gates else "update"
        g = gates[name][0].numpy()[:shown]
        arrays[f"gate_{name}"] = g
        shown_g = axes[-1].imshow(
            g.T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest"
        )
        fig.colorbar(shown_g, ax=axes[-1], fraction=0.02, pad=0.01, label="openness")
        axes[-1].set_title(f"{name} gate, reading left to right (1 = keep the memory)", fontsize=8)
    for ax in axes:
        ax.set_xticks(range(shown), names, rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    return [
        View(
            "seq-hidden-states",
            "The memory while reading",
            "Each column is the RNN's state right after reading that token (red positive, blue "
            "negative). Units that change colour at a word like 'not' or 'but' are tracking it; "
            f"the {'forget' if net.cell == 'lstm' else 'update'} gate shows when the net keeps "
            "its memory (bright) or overwrites it (dark).",
            fig,
            arrays,
        )
    ]


@register_view("seq2seq", "inputs")
def attention_matrix(run: Any, encoded: Any) -> list[View]:
    """Which source tokens each generated token attended to, for up to three inputs."""
    from glassnet.explain.sanity import attention_agreement, randomisation_check

    net = run.net.eval()
    task = run.task
    views = []
    for i in range(min(3, len(encoded.names or []))):
        src, src_len = encoded.batch["src"][i : i + 1], encoded.batch["src_len"][i : i + 1]
        n = int(src_len[0])
        outputs = task.forward(net, {"src": src[:, :n], "src_len": src_len})
        out_tokens = (task.output_tokens(outputs) or [[]])[0] + ["<eos>"]
        attn = net.last_attention[0, : len(out_tokens), :n].numpy()
        # Any copy of the net, fed this translation (teacher forcing): where it attends.
        fed = torch.cat([torch.tensor([[BOS]]), outputs["ids"][:, : len(out_tokens) - 1]], 1)

        def attention_of(
            model: Any, src: Any = src[:, :n], src_len: Any = src_len, fed: Any = fed
        ) -> np.ndarray:
            with torch.no_grad():
                model(src, src_len, fed)
            return model.last_attention[0].numpy()

        src_tokens = _labels(encoded, i, n)
        fig, ax = new_figure(max(3.5, 0.45 * n + 1.8), max(2.5, 0.35 * len(out_tokens) + 1.2))
        shown = ax.imshow(attn, cmap="Greys", vmin=0, vmax=1, aspect="auto")
        fig.colorbar(shown, ax=ax, fraction=0.04, pad=0.02, label="attention (row sums to 1)")
        ax.set_xticks(range(n), src_tokens, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(out_tokens)), out_tokens, fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("generated")
        fig.tight_layout()
        views.append(
            View(
                f"seq2seq-attention-{i + 1}",
                f"Where the translator looked: {encoded.names[i][:50]}",
                "Each row is one generated token; dark cells are the source tokens the decoder "
                "attended to while choosing it (each row sums to 1). A clean diagonal means "
                "word-by-word; blocks and crossings show reordering and many-to-one words.",
                fig,
                {
                    "attention": attn,
                    "output_tokens": np.array(out_tokens),
                    "source_tokens": np.array(src_tokens),
                },
                {
                    "rows_sum_to_one": bool(np.allclose(attn.sum(1), 1, atol=1e-4)),
                    **randomisation_check(attention_of, run, compare=attention_agreement),
                },
            )
        )
    return views


CLASSIFIER_KIN = (
    "tokens that push the answer the same way (for reviews, words of the same sentiment; for "
    "measurements, values of the same size)"
)
TRANSLATOR_KIN = (
    "tokens that play the same part in a translation (for numbers, 'twenty' beside 'thirty' "
    "and 'two' beside 'three': the same place value)"
)


def _embedding_map(
    weights: np.ndarray, itos: list[str], title: str, name: str, kinship: str
) -> View:
    from sklearn.decomposition import PCA

    n = min(len(itos), 64)  # the most frequent tokens (ids 4.. in frequency order)
    ids = list(range(4, n))
    points = (
        PCA(2, random_state=0).fit_transform(weights[ids])
        if len(ids) > 2
        else np.zeros((len(ids), 2))
    )
    fig, ax = new_figure(6.5, 5.0)
    ax.scatter(points[:, 0], points[:, 1], s=8, color="#4c72b0")
    for (px, py), i in zip(points, ids, strict=True):
        ax.annotate(itos[i], (px, py), fontsize=7, alpha=0.85)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return View(
        name,
        title,
        "Each token's learned vector, flattened to 2-D (PCA). Tokens the net treats alike sit "
        f"together: {kinship}. The net found these groups itself, from the task alone; PCA "
        "keeps only the two largest directions, so tokens that look close here may still "
        "differ in the others.",
        fig,
        {"points": points},
    )


@register_view("seq", "model")
def token_map(run: Any, encoded: Any) -> list[View]:
    net = run.net
    if net.embed is None:
        return []
    w = net.embed.weight.detach().cpu().numpy()
    return [
        _embedding_map(
            w,
            run.task.vocabularies()["input"],
            "The learned token map",
            "seq-token-map",
            CLASSIFIER_KIN,
        )
    ]


@register_view("seq2seq", "model")
def translation_token_maps(run: Any, encoded: Any) -> list[View]:
    vocab = run.task.vocabularies()
    return [
        _embedding_map(
            run.net.src_embed.weight.detach().cpu().numpy(),
            vocab["source"],
            "The learned map of source tokens",
            "seq2seq-source-map",
            TRANSLATOR_KIN,
        ),
        _embedding_map(
            run.net.tgt_embed.weight.detach().cpu().numpy(),
            vocab["target"],
            "The learned map of target tokens",
            "seq2seq-target-map",
            TRANSLATOR_KIN,
        ),
    ]


UNITS_SHOWN, CONTEXTS, SIDE = 6, 4, 4  # units, sentences per unit, tokens each side of a peak
SAMPLE = 400  # training texts read to find where units fire


def _training_sample(run: Any) -> Any:
    """Up to SAMPLE of the run's training texts, encoded (None when the data is gone)."""
    from glassnet.errors import GlassnetError

    source = run.task.objects.get("data", run.spec.data.data)
    try:
        encoded = run.task.encode(source, with_targets=False)
    except (GlassnetError, OSError):
        return None
    n = len(encoded)
    if n > SAMPLE:
        keep = np.sort(np.random.default_rng(0).choice(n, SAMPLE, replace=False)).tolist()
        encoded = type(encoded)(
            type(encoded.data)(encoded.data.take(keep)),
            extra={"tokens": [encoded.extra["tokens"][i] for i in keep]},
        )
    return encoded


@register_view("seq", "model")
def unit_contexts(run: Any, encoded: Any) -> list[View]:
    """LSTMVis-style: for the recurrent units that move the answer most, the places in the
    training texts where each one switches on hardest, with the tokens around them."""
    net = run.net.eval()
    if net.embed is None:  # numeric channels: no words to show
        return []
    sample = _training_sample(run)
    if sample is None or not len(sample):
        return []
    x, lengths = sample.batch["x"], sample.batch["lengths"]
    with torch.no_grad():
        out, pooled = net.states(net.embed_inputs(x), lengths)  # (N, T, W), (N, W)
    weights = net.head.weight.detach()  # (classes, W)
    # A unit matters when its summary value, times its weights, varies across texts.
    pull = (pooled[:, :, None] * weights.T[None]).std(0).amax(-1)  # (W,)
    units = pull.argsort(descending=True)[:UNITS_SHOWN].tolist()
    labels = run.task.class_labels() or [str(c) for c in range(weights.shape[0])]
    half = out.shape[-1] // 2 if net.rnn.bidirectional else out.shape[-1]
    valid = torch.arange(out.shape[1])[None] < lengths[:, None]
    tokens = sample.extra["tokens"]
    fig, axes = new_figure(8.5, 1.15 * len(units) * CONTEXTS / 3 + 0.6, len(units), 1)
    axes = np.atleast_1d(axes).ravel()
    grids, names, all_words = [], [], []
    for ax, u in zip(axes, units, strict=False):
        # Where the unit switches on: its largest rise from the step before in its own reading
        # direction (a memory unit stays high after the word that set it, so its maximum
        # often sits words later).
        acts = out[:, :, u].masked_fill(~valid, 0.0)
        if u >= half:  # reading right to left: the step before is the one to the right
            before = torch.cat([acts[:, 1:], torch.zeros_like(acts[:, :1])], 1)
        else:
            before = torch.cat([torch.zeros_like(acts[:, :1]), acts[:, :-1]], 1)
        peak, where = (acts - before).masked_fill(~valid, float("-inf")).max(1)
        texts = peak.argsort(descending=True)[:CONTEXTS].tolist()
        grid = np.full((len(texts), 2 * SIDE + 1), np.nan)
        words = [[""] * (2 * SIDE + 1) for _ in texts]
        for r, i in enumerate(texts):
            p, n = int(where[i]), int(lengths[i])
            for c, t in enumerate(range(p - SIDE, p + SIDE + 1)):
                if 0 <= t < n:
                    grid[r, c] = float(out[i, t, u])
                    words[r][c] = str(tokens[i][t])[:10]
        lim = float(np.nanmax(np.abs(grid))) or 1.0
        # a paler scale than the values span, so the words on the strongest cells stay legible
        shown = ax.imshow(grid, cmap="RdBu_r", vmin=-1.7 * lim, vmax=1.7 * lim, aspect="auto")
        fig.colorbar(shown, ax=ax, fraction=0.02, pad=0.01, label="unit value")
        for r, row in enumerate(words):
            for c, word in enumerate(row):
                bold = "bold" if c == SIDE else "normal"
                ax.text(c, r, word, ha="center", va="center", fontsize=6.5, fontweight=bold)
        way = "reading backwards" if u >= half else "reading forwards"
        favours = labels[int(weights[:, u].argmax())]
        name = f"unit {u % half} ({way})"
        ax.set_title(f"{name}: switches on at the bold word; raises '{favours}'", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        grids.append(grid)
        names.append(name)
        all_words.append(words)
    fig.tight_layout()
    return [
        View(
            "seq-unit-contexts",
            "Where the units that decide fire",
            (
                f"The {len(units)} recurrent units whose output moves the answer most (their "
                "summary value times their weights varies most across texts), and for each, the "
                f"{CONTEXTS} places in {len(sample)} training texts where it switches on "
                "hardest (rises most from the word before, in its reading direction): the bold "
                "token in the middle, with its neighbours, coloured by the unit's value (red "
                "positive, blue negative, its own scale per unit). A unit that always switches "
                "on at the same kind of word ('not', 'but' followed by praise) has learned to "
                "detect it, and usually stays on after it: that is its memory. A forwards unit "
                "has read only what is left of the bold token, a backwards one only what is "
                "right of it."
            ),
            fig,
            {
                "units": np.array(names),
                # positions beyond a text's ends are blank in the picture, 0 here
                "activations": np.nan_to_num(np.stack(grids)),
                "tokens": np.array(all_words),
            },
        )
    ]
