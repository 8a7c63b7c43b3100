"""Pictures with boxes: what a detector found (predict) and where it went wrong (evaluate).

Predicted boxes are drawn in orange with class and confidence; in the evaluation report the
true boxes are green, so misses (green alone) and false alarms (orange alone) stand out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from glassnet.explain.figures import new_figure, save_png
from glassnet.explain.prediction_figures import register_prediction_figure

PREDICTED, TRUE = "#ff7f0e", "#2ca02c"
SHOWN = 12  # pictures per figure


def draw_boxes(
    ax: Any, boxes: np.ndarray, names: list[str], colour: str, scores: np.ndarray | None = None
) -> None:
    from matplotlib.patches import Rectangle

    for k, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.4, color=colour))
        text = names[k] + (f" {scores[k]:.2f}" if scores is not None else "")
        ax.text(
            x0,
            y0 - 1,
            text,
            fontsize=6,
            color="white",
            va="bottom",
            bbox={"facecolor": colour, "alpha": 0.8, "pad": 0.5, "lw": 0},
        )


def _grid(n: int) -> tuple[Any, np.ndarray]:
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = new_figure(3.0 * cols, 3.0 * rows, rows, cols)
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    return fig, axes


@register_prediction_figure("boxes")
def predicted_boxes_png(run: Any, predictions: pd.DataFrame, path: Path) -> Path:
    """Up to 12 of the predicted pictures, at their own size, with the boxes found."""
    sources = list(dict.fromkeys(run.last_encoded.names or []))[:SHOWN]
    fig, axes = _grid(max(len(sources), 1))
    for ax, source in zip(axes, sources, strict=False):
        with Image.open(source) as im:
            ax.imshow(np.asarray(im.convert("RGB")))
        mine = predictions[predictions["source"] == source]
        draw_boxes(
            ax,
            mine[["x0", "y0", "x1", "y1"]].to_numpy(),
            list(mine["label"]),
            PREDICTED,
            mine["score"].to_numpy(),
        )
        ax.set_title(f"{Path(source).name}: {len(mine)} found", fontsize=8)
    fig.suptitle("detections (orange: class and confidence)", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def worst_detections_png(
    task: Any,
    outputs: dict[str, list[torch.Tensor]],
    batch: dict[str, Any],
    encoded: Any,
    path: Path,
) -> Path | None:
    """The pictures with the most misses plus false alarms at the decode threshold."""
    from torchvision.ops import box_iou

    classes = task.class_labels() or []
    threshold = task.decoding.score_threshold
    errors = []
    for pb, ps, pl, tb, tl in zip(
        outputs["boxes"],
        outputs["scores"],
        outputs["labels"],
        batch["boxes"],
        batch["labels"],
        strict=True,
    ):
        keep = ps >= threshold
        pb, pl = pb[keep], pl[keep]
        hit = torch.zeros(len(pb), dtype=torch.bool)
        found = torch.zeros(len(tb), dtype=torch.bool)
        if len(pb) and len(tb):
            iou = box_iou(pb, tb.float())
            same = (pl[:, None] == tl[None, :]) & (iou >= 0.5)
            hit, found = same.any(1), same.any(0)
        errors.append(int((~hit).sum() + (~found).sum()))
    worst = [i for i in np.argsort(errors)[::-1][:SHOWN] if errors[i] > 0]
    if not worst:
        return None
    pictures = task.pictures(encoded.data.take(worst))
    fig, axes = _grid(len(worst))
    for ax, i, pic in zip(axes, worst, pictures, strict=False):
        img = pic.cpu().numpy().transpose(1, 2, 0)
        ax.imshow(
            img.squeeze(-1) if img.shape[-1] == 1 else img,
            cmap="gray" if img.shape[-1] == 1 else None,
        )
        keep = outputs["scores"][i] >= threshold
        draw_boxes(
            ax, batch["boxes"][i].numpy(), [classes[int(c)] for c in batch["labels"][i]], TRUE
        )
        draw_boxes(
            ax,
            outputs["boxes"][i][keep].numpy(),
            [classes[int(c)] for c in outputs["labels"][i][keep]],
            PREDICTED,
            outputs["scores"][i][keep].numpy(),
        )
        name = Path(encoded.names[i]).name if encoded.names else str(i)
        ax.set_title(f"{name}: {errors[i]} error(s)", fontsize=8)
    fig.suptitle(
        f"most errors at score >= {threshold:g}: green = true, orange = predicted", fontsize=9
    )
    fig.tight_layout()
    return save_png(fig, path)
