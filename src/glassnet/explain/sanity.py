"""Faithfulness: the sanity checks of Adebayo et al., "Sanity Checks for Saliency Maps" (2018).

A map explains the net only if (1) the net learned something (a map of a net at chance shows
no learned evidence, however it looks), (2) the map changes when the net's weights are
replaced by random ones, cascading from the top layer down, over several seeds: a map that
survives that is explaining the input, not the model, and (3) the map changes for a copy of
the net trained on the same inputs with shuffled answers (data randomisation): a map that
survives that shows the inputs, not what the answers taught.

Similarity of two maps: the larger of the (Pearson) correlation of their absolute values
and, for pictures, SSIM: both weigh entries by how bright they are drawn, as the eye does.
Maps drawn in red and blue (attributions whose sign says "towards" or "against") are
compared with their signs: input x gradient maps share the |input| factor with any net, so
their magnitudes stay alike (0.5-0.7) for nets that learned nothing.
(Rank correlation weighs the hundreds of near-zero entries of a sharp map as much as its
few bright ones: a forecaster whose attribution is one clean diagonal, one season back,
scored 0.6 against random nets that light the whole window.)

A constant or all-zero map carries no information: as the map being checked it is
"uninformative" (a failure); as a random net's map it is unlike any real map (similarity 0),
never "identical" (the correlation of two constants is undefined, and counting it as 1.0
flagged every trained map of a class whose random Grad-CAM clipped to 0).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

SIMILAR_ABOVE = 0.5  # a map this similar to the random nets' maps is not about the model
SEEDS = (1, 2, 3)
SKILL_MARGIN = 0.05  # accuracy above the majority class / R² above 0 by at least this


def randomised_copy(net: nn.Module, seed: int = 0, top: int | None = None) -> nn.Module:
    """A copy of `net` with its last `top` parametrised layers re-initialised (all of them
    when None): the cascade starts from the output and moves towards the input."""
    twin = copy.deepcopy(net)
    layers = _layers(twin)
    chosen = layers if top is None else layers[len(layers) - top :]
    torch.manual_seed(seed)
    for module in chosen:
        module.reset_parameters()
    return twin.eval()


def similarity(a: np.ndarray, b: np.ndarray, signed: bool = False) -> float | None:
    """How alike two attribution maps are (0..1, see the module note); None when `a` itself
    is constant (nothing to compare). `signed` compares the values as drawn in red and blue
    (a feature that pushes towards the class in one map and against it in the other is not
    alike); otherwise their magnitudes."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not signed:
        a, b = np.abs(a), np.abs(b)
    if not np.isfinite(a).all() or np.ptp(a) == 0:
        return None
    if not np.isfinite(b).all() or np.ptp(b) == 0:
        return 0.0
    fa, fb = a.ravel(), b.ravel()
    informative = (fa != 0) | (fb != 0)  # zero in both (IG at the baseline): says nothing
    rho = float(np.corrcoef(fa[informative], fb[informative])[0, 1])
    score = max(rho, 0.0) if np.isfinite(rho) else 0.0
    if a.ndim == 2 and min(a.shape) >= 7:
        from skimage.metrics import structural_similarity

        span = 2.0 if signed else 1.0  # maps scaled to [-1, 1] or [0, 1]
        na, nb = a / np.abs(a).max(), b / np.abs(b).max()
        score = max(score, float(structural_similarity(na, nb, data_range=span)))
    return round(score, 3)


def attention_agreement(a: np.ndarray, b: np.ndarray, signed: bool = False) -> float | None:
    """How much of map `b`'s attention lands where map `a` looked most, row by row (a row =
    one generated token, summing to 1), above chance (1 / source length): 0 = no more than
    a uniform copy, 1 = the same token in every row. That is how an attention map is read
    ("for this word it looked at that one"); a correlation of two small, sparse matrices
    is high by chance (one shared hot cell in 16). None when `a` is uniform."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.isfinite(a).all() or np.ptp(a) == 0:
        return None
    if not np.isfinite(b).all():
        return 0.0
    chance = 1.0 / a.shape[1]
    mass = b[np.arange(len(a)), a.argmax(1)] / np.maximum(b.sum(1), 1e-12)
    return round(float(max((mass.mean() - chance) / (1 - chance), 0.0)), 3)


def model_skill(metrics: dict[str, Any] | None) -> tuple[bool | None, str]:
    """Did the net learn anything, from its own validation (else test) metrics: accuracy
    above the majority class's, BLEU above one answer for all, R² above 0, or a forecast
    clearly better than a naive one. (None, '') when the run records nothing to tell."""
    for split in ("val", "test"):
        m = (metrics or {}).get(split) or {}
        if "accuracy" in m and "majority_accuracy" in m:
            acc, base = m["accuracy"], m["majority_accuracy"]
            text = f"{split} accuracy {acc:.3f}, always answering the most common class {base:.3f}"
            auc = m.get("roc_auc")
            if auc is not None:  # it may rank well before its threshold settles
                text += f", ROC AUC {auc:.3f}"
            return acc > base + SKILL_MARGIN or (auc or 0.0) >= 0.5 + 2 * SKILL_MARGIN, text
        if "bleu" in m and "constant_bleu" in m:
            bleu, base = m["bleu"], m["constant_bleu"]
            text = f"{split} BLEU {bleu:.1f}, one answer for every input {base:.1f}"
            return bleu > base + 100 * SKILL_MARGIN, text
        if "r2" in m:
            return m["r2"] > SKILL_MARGIN, f"{split} R² {m['r2']:.3f} (0 = predicting the mean)"
        if "skill_vs_seasonal_naive" in m:
            # against the better of the two baselines: a net still sitting on its seasonal-
            # naive start has skill 0 there, whatever it gains over the last value
            skill = min(m["skill_vs_seasonal_naive"], m.get("skill_vs_naive", np.inf))
            # a forecaster trained on shuffled answers still reaches ~0.06 (it learns the
            # answers' average shape), so the bar is 10 % better, not merely better
            return skill > 2 * SKILL_MARGIN, (
                f"{split} skill over the better naive forecast {skill:.3f} (learned: > "
                f"{2 * SKILL_MARGIN:.2f})"
            )
    return None, ""


def randomisation_check(
    attribute: Callable[[nn.Module], np.ndarray],
    run: Any,
    signed: bool = False,
    compare: Callable[..., float | None] = similarity,
) -> dict[str, Any]:
    """The verdict on one map: `attribute(model)` computes the map for any copy of the net;
    `signed` when the view draws the map's sign (attributions in red and blue); `compare`
    says how alike two maps are (default `similarity`).

    Returns the verdict ("passes" or why not), `trustworthy`, the similarity to nets with
    their top layer, top half and all layers randomised (mean over seeds), the similarity to
    the run's shuffled-label twin where one was trained (`run.shuffled_twin`, see
    `shuffled_twin.py`), and the model's skill where its metrics tell."""
    net = run.net.eval()
    original = np.asarray(attribute(net), dtype=float)
    learned, skill = model_skill(run.metrics)
    result: dict[str, Any] = {}
    if skill:
        result["model_skill"] = skill
    if compare(original, original) is None:
        return {
            **result,
            "verdict": "uninformative: the map is flat (the same everywhere)",
            "trustworthy": False,
        }
    stages = _stages(net)
    cascade: dict[str, float] = {}
    for name, top in stages:
        seeds = SEEDS if top is None else SEEDS[:1]
        scores = [
            compare(
                original, np.asarray(attribute(randomised_copy(net, s, top)), dtype=float), signed
            )
            for s in seeds
        ]
        cascade[name] = round(float(np.mean([s or 0.0 for s in scores])), 3)
    result["similarity_to_random_nets"] = cascade
    twin, twin_about = getattr(run, "shuffled_twin", None) or (None, "")
    shuffled = None
    if twin is not None:
        shuffled = compare(original, np.asarray(attribute(twin), dtype=float), signed) or 0.0
        result["similarity_to_shuffled_label_net"] = shuffled
    if twin_about:
        result["shuffled_label_net"] = twin_about
    final = cascade["all layers"]
    if learned is False:
        verdict = "fails: the net has not learned (" + skill + "), so no map shows what it learned"
    elif final > SIMILAR_ABOVE:
        verdict = (
            f"fails: the map hardly changes when every weight is random (similarity {final:.2f}):"
            " it shows the input more than what the net learned"
        )
    elif shuffled is not None and shuffled > SIMILAR_ABOVE:
        verdict = (
            f"fails: a net trained on shuffled answers gives a similar map (similarity "
            f"{shuffled:.2f}): it shows the inputs more than what the answers taught"
        )
    else:
        verdict = f"passes: random weights give a different map (similarity {final:.2f})"
        if shuffled is not None:
            verdict += f", and so do shuffled answers ({shuffled:.2f})"
    result["verdict"] = verdict
    result["trustworthy"] = verdict.startswith("passes")
    return result


def _stages(net: nn.Module) -> list[tuple[str, int | None]]:
    """The cascade: the top layer, the top half, all layers."""
    layers = len(_layers(net))
    stages: list[tuple[str, int | None]] = [("top layer", 1)]
    if layers >= 4:
        stages.append(("top half", layers // 2))
    stages.append(("all layers", None))
    return stages


def _layers(net: nn.Module) -> list[nn.Module]:
    """The modules that own parameters and can re-initialise them, input side first."""
    return [
        m
        for m in net.modules()
        if m is not net
        and hasattr(m, "reset_parameters")
        and any(True for _ in m.parameters(recurse=False))
    ]
