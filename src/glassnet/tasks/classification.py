"""What every classification task shares: outputs -> labels and probabilities, and scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

from glassnet.errors import DataError


def decode_classes(outputs: torch.Tensor, labels: list[str]) -> list[dict[str, Any]]:
    probs = torch.softmax(outputs.float(), dim=-1).cpu().numpy()
    # tolist: Python floats at once (a numpy scalar per value cost ~9 us a row)
    best = probs.argmax(1).tolist()
    return [
        {"label": labels[b], "probabilities": dict(zip(labels, p, strict=True))}
        for b, p in zip(best, probs.tolist(), strict=True)
    ]


def class_ids(labels: list[str], known: list[str], source: str) -> list[int]:
    """Labels -> the model's class numbers; a label it was not trained on is an error that
    names them (and `source`, where they came from)."""
    unknown = sorted(set(labels) - set(known))
    if unknown:
        raise DataError(
            f"{source} has classes the model does not know: {', '.join(unknown[:5])}",
            fix=f"Known classes: {', '.join(known)}",
        )
    return [known.index(lab) for lab in labels]


def score_classes(outputs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """accuracy, macro F1, ROC-AUC (when every class is present), top-5 (over 5 classes)."""
    probs = torch.softmax(outputs.float().cpu(), dim=-1).numpy()
    true = y.cpu().numpy()
    pred = probs.argmax(1)
    n_classes = probs.shape[1]
    result = {
        "accuracy": float(skm.accuracy_score(true, pred)),
        "f1": float(skm.f1_score(true, pred, average="macro", zero_division=0)),
        # the floor a net must beat: always answering the most common class
        "majority_accuracy": float(np.bincount(true).max() / max(len(true), 1)),
    }
    if n_classes > 5:
        top5 = np.argsort(-probs, axis=1)[:, :5]
        result["top5_accuracy"] = float(
            np.mean([t in row for t, row in zip(true, top5, strict=True)])
        )
    if len(np.unique(true)) == n_classes == 2:
        result["roc_auc"] = float(skm.roc_auc_score(true, probs[:, 1]))
    elif len(np.unique(true)) == n_classes > 2:
        result["roc_auc"] = float(skm.roc_auc_score(true, probs, multi_class="ovr"))
    return result


def per_class_report(
    outputs: torch.Tensor, y: torch.Tensor, labels: list[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class."""
    pred = outputs.float().argmax(-1).cpu().numpy()
    p, r, f, s = skm.precision_recall_fscore_support(
        y.cpu().numpy(), pred, labels=list(range(len(labels))), zero_division=0
    )
    return {
        lab: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, lab in enumerate(labels)
    }


# The tail of an exported classifier's snippet (see Task.export_snippet): logits `out` ->
# the same {"label", "probabilities"} answers as `decode_classes`.
SOFTMAX_SNIPPET = """\
e = np.exp(out - out.max(axis=1, keepdims=True))
probs = e / e.sum(axis=1, keepdims=True)
labels = prep["labels"]
answer = [
    {"label": labels[int(p.argmax())], "probabilities": dict(zip(labels, p.tolist()))}
    for p in probs
]
"""
