"""Evaluation plots for classifiers: the confusion matrix and a grid of the worst mistakes
(the wrong answers the net was most sure of), plus per-class precision / recall / F1; a
detector's worst pictures; a forecaster's backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import confusion_matrix

from glassnet.engine.inference import Outputs
from glassnet.explain.figures import new_figure, save_png
from glassnet.tasks import Encoded, Task
from glassnet.tasks.classification import per_class_report


def write_evaluation_report(
    task: Task, out: Outputs, encoded: Encoded, out_dir: Path
) -> dict[str, Any]:
    """PNG files and per-class numbers for a classification task, the worst pictures of a
    detector (`Task.evaluation_figure` "boxes"), a forecaster's backtest ("backtest");
    {} for other tasks."""
    worst = task.worst_samples(out.outputs, out.batch, encoded.names)
    if worst:  # e.g. a recogniser's worst utterances: reference against hypothesis
        out_dir.mkdir(parents=True, exist_ok=True)
        import pandas as pd

        pd.DataFrame(worst).to_csv(out_dir / "worst.csv", index=False)
        return {"worst": worst, "worst_table": str(out_dir / "worst.csv")}
    if task.evaluation_figure == "backtest":
        from glassnet.explain.forecast_plot import backtest_png

        out_dir.mkdir(parents=True, exist_ok=True)
        frame = task.to_frame(task.decode(out.outputs, out.batch), encoded)
        frame.to_csv(out_dir / "backtest.csv", index=False)
        png = backtest_png(
            frame,
            encoded.extra["history"],
            task.state(),
            task.score(out.outputs, out.batch),
            out_dir / "backtest.png",
        )
        return {"backtest": str(png), "backtest_table": str(out_dir / "backtest.csv")}
    if task.evaluation_figure == "boxes":
        from glassnet.explain.box_figures import worst_detections_png

        out_dir.mkdir(parents=True, exist_ok=True)
        png = worst_detections_png(
            task, out.outputs, out.batch, encoded, out_dir / "worst_detections.png"
        )
        return {"worst_detections": str(png)} if png is not None else {}
    if task.evaluation_figure == "roc":
        return embedding_report(task, out, encoded, out_dir)
    labels = task.class_labels()
    outputs, y = out.outputs, out.batch.get("y")
    if (
        not labels
        or y is None
        or not isinstance(outputs, torch.Tensor)
        or outputs.ndim != 2
        or outputs.shape[1] != len(labels)
    ):
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    probs = torch.softmax(outputs.float(), -1).numpy()
    true, pred = y.cpu().numpy(), probs.argmax(1)
    report: dict[str, Any] = {"per_class": per_class_report(outputs, y, labels)}
    report["confusion_matrix"] = str(
        confusion_png(true, pred, labels, out_dir / "confusion_matrix.png")
    )
    worst = worst_mistakes(true, pred, probs)
    if len(worst):
        pictures = task.pictures(encoded.data.take(worst.tolist()))
        if pictures is not None:
            names = [encoded.names[i] for i in worst] if encoded.names else None
            report["worst_mistakes"] = str(
                worst_mistakes_png(
                    pictures,
                    true[worst],
                    pred[worst],
                    probs[worst],
                    labels,
                    names,
                    out_dir / "worst_mistakes.png",
                )
            )
    return report


def worst_mistakes(
    true: np.ndarray, pred: np.ndarray, probs: np.ndarray, limit: int = 16
) -> np.ndarray:
    """Indices of the wrong answers the net was most sure of, worst first."""
    wrong = np.flatnonzero(true != pred)
    return wrong[np.argsort(-probs[wrong, pred[wrong]])][:limit]


def confusion_png(true: np.ndarray, pred: np.ndarray, labels: list[str], path: Path) -> Path:
    cm = confusion_matrix(true, pred, labels=list(range(len(labels))))
    n = len(labels)
    fig, ax = new_figure(1.2 + 0.55 * n, 1.0 + 0.5 * n)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix (accuracy {np.trace(cm) / max(cm.sum(), 1):.3f})")
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                color="white" if cm[i, j] > cm.max() / 2 else "black",
                fontsize=8,
            )
    return save_png(fig, path)


def worst_mistakes_png(
    images: torch.Tensor,
    true: np.ndarray,
    pred: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    names: list[str] | None,
    path: Path,
) -> Path:
    """A grid of the given mistakes (already picked and ordered, worst first)."""
    cols = min(8, len(images))
    rows = -(-len(images) // cols)
    fig, axes = new_figure(1.6 * cols, 2.2 * rows + 0.4, rows, cols)
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for i, ax in zip(range(len(images)), axes, strict=False):
        img = images[i].cpu().numpy().transpose(1, 2, 0)
        ax.imshow(
            img.squeeze(-1) if img.shape[-1] == 1 else img,
            cmap="gray" if img.shape[-1] == 1 else None,
        )
        ax.set_title(
            f"{labels[pred[i]]} {probs[i, pred[i]]:.0%}\n(true: {labels[true[i]]})", fontsize=7
        )
        if names:
            ax.text(
                0.5,
                -0.08,
                Path(names[i]).name,
                transform=ax.transAxes,
                fontsize=5,
                ha="center",
                va="top",
            )
    fig.suptitle("most confident mistakes: predicted (confidence), true class", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def embedding_report(task: Task, out: Outputs, encoded: Encoded, out_dir: Path) -> dict[str, Any]:
    """An embedder's scores beside the same scores of raw pixels (each picture's pixels,
    centred on the mean picture and made unit-length: what the net must beat), and both
    ROC curves of same- against different-person pairs."""
    from sklearn.metrics import roc_curve

    pixels = encoded.batch["x"].float().flatten(1)
    pixels = torch.nn.functional.normalize(pixels - pixels.mean(0), dim=1)
    baseline = task.score(pixels, out.batch)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = new_figure(4.6, 4.2)
    y = out.batch["y"].cpu().numpy()
    i, j = np.triu_indices(len(y), k=1)
    same = y[i] == y[j]
    for name, emb in (("the net", out.outputs.float()), ("raw pixels", pixels)):
        e = emb.cpu().numpy()
        fpr, tpr, _ = roc_curve(same, (e @ e.T)[i, j])
        ax.plot(fpr, tpr, label=name)
    chance = np.logspace(-3, 0, 50)
    ax.plot(chance, chance, ":", color="grey", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_xlabel("false accepts (different people taken as the same)")
    ax.set_ylabel("true accepts (same person recognised)")
    ax.set_title("Same or different person: ROC", fontsize=9)
    ax.legend(fontsize=8)
    png = save_png(fig, out_dir / "roc.png")
    keep = ("verification_accuracy", "tar_at_far_1e-2", "tar_at_far_1e-3", "top1", "top1_enrol5")
    return {
        "raw_pixel_baseline": {k: round(baseline[k], 4) for k in keep if k in baseline},
        "roc": str(png),
    }
