"""Views inside a speech recogniser: the spectrogram with the per-frame CTC output under it
(blank and characters), the recurrent memory across the frames (the transparent loop, same
weights), and which time-frequency cells decided the first word."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from glassnet.explain.figures import new_figure
from glassnet.explain.views import View, register_view
from glassnet.nets.rnn import run_transparent

FRAME_SECONDS = 0.01  # one feature frame every 10 ms


def _first(run: Any, encoded: Any) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    """The first clip as a batch of one, and as the net sees it (x, lengths)."""
    first = {k: v[:1] for k, v in encoded.batch.items()}
    x, lengths = run.task.net_inputs(run.net.eval(), first)
    return first, x, lengths


@register_view("asr", "input")
def alignment(run: Any, encoded: Any) -> list[View]:
    net = run.net.eval()
    first, x, lengths = _first(run, encoded)
    with torch.no_grad():
        out = run.task.forward(net, first)
    n = int(out["lengths"][0])
    probs = out["logp"][0, :n].exp().numpy()  # (T', C)
    classes = run.task.vocabularies()["output"]
    text = run.task.transcripts(out)[0]
    raw = first["x"][0].numpy()  # (T, n_mels)
    fig, axes = new_figure(max(7.0, 0.06 * len(raw) + 2), 6.4, 2, 1)
    axes = np.atleast_1d(axes).ravel()
    seconds = len(raw) * FRAME_SECONDS
    shown = axes[0].imshow(
        raw.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, raw.shape[1])
    )
    axes[0].set_ylabel("mel band")
    axes[0].set_title(f"log-mel spectrogram; heard: '{text}'", fontsize=9)
    fig.colorbar(shown, ax=axes[0], fraction=0.03, label="log power")
    step = seconds / n
    shown = axes[1].imshow(
        probs.T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
        extent=(0, n * step, -0.5, len(classes) - 0.5),
    )  # fmt: skip
    axes[1].set_yticks(range(len(classes)), [c if c != " " else "␣" for c in classes], fontsize=6)
    axes[1].set_xlabel("time (s)")
    axes[1].set_title("CTC output per frame (dark = likely); top letters marked", fontsize=9)
    best = probs.argmax(1)
    last = 0
    for t, c in enumerate(best.tolist()):
        if c != 0 and c != last:
            axes[1].text((t + 0.5) * step, c, classes[c], color="#d62728", fontsize=8, ha="center")
        last = c
    fig.colorbar(shown, ax=axes[1], fraction=0.03, label="probability")
    fig.tight_layout()
    return [
        View(
            "asr-alignment",
            "What the recogniser heard, frame by frame",
            "Top: the clip's spectrogram (time left to right, pitch bottom to top, bright = "
            "loud). Below: for each 40 ms step, how likely each character is; most steps say "
            "'blank' (nothing new), and a character lights up briefly where it is spoken. "
            "Reading the red letters left to right, merging repeats, gives the transcript.",
            fig,
            {"features": raw, "probabilities": probs},
        )
    ]


@register_view("asr", "input")
def memory(run: Any, encoded: Any) -> list[View]:
    net = run.net.eval()
    _, x, lengths = _first(run, encoded)
    steps = int(net(x, lengths)["lengths"][0])
    with torch.no_grad():
        e = net.embed(x)[:, :steps]
        _, _, _, trace = run_transparent(net.rnn, e)
    layer = max(k[0] for k in trace.hidden)
    fig, axes = new_figure(max(6.0, 0.08 * steps + 2), 5.0, 2, 1)
    axes = np.atleast_1d(axes).ravel()
    arrays = {}
    for d, ax in enumerate(axes):
        h = trace.hidden[(layer, d)][0].numpy()  # (T', H)
        order = np.argsort(-h.var(0))[:48]  # the 48 most active units, most active on top
        arrays[f"hidden_{'backward' if d else 'forward'}"] = h
        shown = ax.imshow(h[:, order].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_ylabel("unit (by activity)", fontsize=7)
        ax.set_title(
            f"memory, reading {'backwards' if d else 'forwards'} in time (top layer)", fontsize=8
        )
        fig.colorbar(shown, ax=ax, fraction=0.03)
    axes[-1].set_xlabel("step (40 ms each)")
    fig.tight_layout()
    return [
        View(
            "asr-memory",
            "The recogniser's memory across the clip",
            "Each column is one 40 ms step, each row one memory unit of the top recurrent layer "
            "(red positive, blue negative; the most active units on top). One direction reads "
            "the clip forwards, the other backwards, so each step knows what came before and "
            "after; units that switch at word boundaries are tracking the words.",
            fig,
            arrays,
        )
    ]


@register_view("asr", "input")
def first_word_saliency(run: Any, encoded: Any) -> list[View]:
    """|gradient| of the first word's frames' log-probabilities w.r.t. the features."""
    from glassnet.explain.sanity import randomisation_check

    net = run.net.eval()
    _, x, lengths = _first(run, encoded)
    with torch.no_grad():
        out = net(x, lengths)
    n = int(out["lengths"][0])
    best = out["logits"][0, :n].argmax(-1)
    classes = run.task.vocabularies()["output"]
    space = classes.index(" ") if " " in classes else -1
    frames = [t for t, c in enumerate(best.tolist()) if c not in (0, space)]
    first_word: list[int] = []
    for t in frames:  # the first run of letters, up to the first space
        if first_word and (space in best[first_word[-1] : t].tolist()):
            break
        first_word.append(t)
    chosen = best[first_word] if first_word else best[:1]
    where = first_word or [0]

    def saliency_of(model: Any) -> np.ndarray:
        inp = x.detach().clone().requires_grad_(True)
        with torch.backends.cudnn.flags(enabled=False):
            logp = model(inp, lengths)["logits"][0].log_softmax(-1)
        logp[where, chosen].sum().backward()
        return inp.grad[0, : int(lengths[0])].abs().numpy()  # (T, n_mels)

    sal = saliency_of(net)
    fig, ax = new_figure(max(6.0, 0.05 * len(sal) + 2), 3.4)
    seconds = len(sal) * FRAME_SECONDS
    shown = ax.imshow(
        sal.T / (sal.max() + 1e-12), origin="lower", aspect="auto", cmap="hot", vmin=0, vmax=1,
        extent=(0, seconds, 0, sal.shape[1]),
    )  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    heard = {"logp": out["logits"].log_softmax(-1), "lengths": out["lengths"]}
    word = run.task.transcripts(heard)[0]
    ax.set_title(f"what decided the first word of '{word}'", fontsize=9)
    fig.colorbar(shown, ax=ax, fraction=0.03, label="|gradient| (scaled)")
    fig.tight_layout()
    return [
        View(
            "asr-saliency",
            "Which sounds decided the first word",
            "The brightness of each time-frequency cell is how much the first word's score "
            "would change if that cell's loudness changed. A trained recogniser looks at the "
            "stretch where the word is spoken and at the bands of its vowels and consonants, "
            "not at the silence around it.",
            fig,
            {"saliency": sal},
            randomisation_check(saliency_of, run),
        )
    ]
