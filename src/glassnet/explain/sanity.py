"""Faithfulness: the model-randomisation sanity check of Adebayo et al., "Sanity Checks for
Saliency Maps" (2018). An attribution that barely changes when the net's weights are
replaced by random ones is explaining the input, not the model, and is flagged."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

TRUST_BELOW = 0.5  # rank correlation with the randomised net's map above this: not trusted


def randomised_copy(net: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of `net` with every layer re-initialised (weights and biases)."""
    twin = copy.deepcopy(net)
    torch.manual_seed(seed)
    for module in twin.modules():
        if hasattr(module, "reset_parameters") and module is not twin:
            module.reset_parameters()
    return twin.eval()


def randomisation_check(
    attribute: Callable[[nn.Module], np.ndarray], net: nn.Module
) -> dict[str, Any]:
    """Spearman rank correlation of |attribution| from the trained and a randomised net."""
    original = np.abs(np.asarray(attribute(net), dtype=float)).ravel()
    random = np.abs(np.asarray(attribute(randomised_copy(net)), dtype=float)).ravel()
    # Entries that are zero in both maps (e.g. an input equal to its baseline, which IG gives
    # zero whatever the weights) are ties that say nothing about the model: leave them out.
    informative = (original > 0) | (random > 0)
    original, random = original[informative], random[informative]
    if len(original) < 3 or np.ptp(original) == 0 or np.ptp(random) == 0:
        rho = 1.0  # a constant map carries no information about the model either way
    else:
        rho = float(spearmanr(original, random).statistic)
    return {
        "rank_correlation_with_random_net": round(rho, 3),
        "trustworthy": bool(rho < TRUST_BELOW),
    }
