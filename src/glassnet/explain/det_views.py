"""Views inside a detector: the heat map of object centres per class, where the net looked
for its strongest detection (saliency and a CAM gathered over every stage: plain Grad-CAM
of the last layer alone is coarse for detectors), and what each backbone stage sees."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from glassnet.explain.box_figures import PREDICTED, draw_boxes
from glassnet.explain.figures import new_figure
from glassnet.explain.views import View, register_view


def _first(run: Any, encoded: Any) -> tuple[torch.Tensor, np.ndarray]:
    """The first input as the net sees it (1, C, S, S) and as a picture (S, S[, C])."""
    first = {k: v[:1] for k, v in encoded.batch.items()}
    x = run.task.net_inputs(run.net, first)[0].contiguous()
    picture = first["x"][0].numpy().transpose(1, 2, 0)
    return x, picture[..., 0] if picture.shape[-1] == 1 else picture


def _show(ax: Any, picture: np.ndarray) -> None:
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
    ax.set_xticks([])
    ax.set_yticks([])


def _overlay(ax: Any, values: np.ndarray, cmap: str) -> Any:
    """Values in 0..1 over the picture: colour by value, and as opaque as the value is
    strong (a plain alpha would darken the whole picture)."""
    import matplotlib

    rgba = matplotlib.colormaps[cmap](values)
    rgba[..., 3] = np.clip(values * 3, 0, 0.85)
    ax.imshow(rgba)
    return matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)


@register_view("det", "input")
def heatmaps(run: Any, encoded: Any) -> list[View]:
    net = run.net.eval()
    x, picture = _first(run, encoded)
    classes = run.task.class_labels()
    with torch.no_grad():
        heat = net.score_map(net(x)).float().sigmoid()[0]  # (K, h, w)
        found = run.task.forward(net, {k: v[:1] for k, v in encoded.batch.items()})
    threshold = run.task.decoding.score_threshold
    keep = found["scores"][0] >= threshold
    size = picture.shape[0]
    fig, axes = new_figure(2.6 * (len(classes) + 1), 2.9, 1, len(classes) + 1)
    axes = np.atleast_1d(axes).ravel()
    _show(axes[0], picture)
    draw_boxes(
        axes[0],
        found["boxes"][0][keep].numpy(),
        [classes[int(c)] for c in found["labels"][0][keep]],
        PREDICTED,
        found["scores"][0][keep].numpy(),
    )
    axes[0].set_title(f"found {int(keep.sum())} (score >= {threshold:g})", fontsize=8)
    up = F.interpolate(heat[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    for k, name in enumerate(classes):
        _show(axes[k + 1], picture)
        shown = _overlay(axes[k + 1], up[k].clamp(0, 1).numpy(), "autumn")
        axes[k + 1].set_title(f"'{name}' (peak {float(heat[k].max()):.2f})", fontsize=8)
    fig.colorbar(shown, ax=list(axes[1:]), fraction=0.02, label="heat (0..1)")
    return [
        View(
            "det-heatmaps",
            "Where the detector thinks objects are, class by class",
            net.score_read,
            fig,
            {"heat": heat.numpy()},
        )
    ]


@register_view("det", "input")
def where_it_looked(run: Any, encoded: Any) -> list[View]:
    """Saliency and a multi-stage CAM for the strongest peak's heat logit."""
    from glassnet.explain.sanity import randomisation_check

    net = run.net.eval()
    x, picture = _first(run, encoded)
    classes = run.task.class_labels()
    with torch.no_grad():
        heat = net.score_map(net(x))[0]
    k, cy, cx = np.unravel_index(int(heat.argmax()), tuple(heat.shape))

    def logit(model: Any, inp: torch.Tensor) -> torch.Tensor:
        return model.score_map(model(inp))[:, k, cy, cx]  # (B,)

    def cam_of(model: Any) -> np.ndarray:
        """A class activation map at every stage, each upsampled and scaled to 0..1, then
        averaged."""
        maps: list[torch.Tensor] = []

        def keep(module: Any, inputs: Any, output: torch.Tensor) -> None:
            output.retain_grad()
            maps.append(output)

        hooks = [s.register_forward_hook(keep) for s in model.stages]
        try:
            inp = x.detach().clone().requires_grad_(True)
            logit(model, inp).sum().backward()
        finally:
            for h in hooks:
                h.remove()
        total = torch.zeros(x.shape[-2:])
        for a in maps:
            # HiResCAM: gradient x activation at each position, not Grad-CAM's channel
            # averages, which smear a one-cell output over wherever the channels fire.
            cam = (a.grad * a).sum(1, keepdim=True).clamp(min=0)
            cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
            total += (cam / (cam.max() + 1e-12))[0, 0].detach()
        return (total / len(maps)).numpy()

    cam = cam_of(net)
    inp = x.detach().clone().requires_grad_(True)
    logit(net, inp).sum().backward()
    saliency = inp.grad[0].abs().amax(0).numpy()
    fig, axes = new_figure(7.8, 2.9, 1, 3)
    axes = np.atleast_1d(axes).ravel()
    scale = picture.shape[0] / heat.shape[-1]
    _show(axes[0], picture)
    axes[0].plot([(cx + 0.5) * scale], [(cy + 0.5) * scale], "+", color=PREDICTED, ms=12, mew=2)
    axes[0].set_title(f"strongest peak: '{classes[k]}'", fontsize=8)
    _show(axes[1], picture)
    shown = _overlay(axes[1], np.clip(cam, 0, 1), "jet")
    axes[1].set_title("CAM over all stages", fontsize=8)
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    shown = axes[2].imshow(saliency / (saliency.max() + 1e-12), cmap="hot", vmin=0, vmax=1)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    axes[2].set_title("saliency (|gradient|)", fontsize=8)
    fig.colorbar(shown, ax=axes[2], fraction=0.046)
    fig.tight_layout()
    return [
        View(
            "det-where-it-looked",
            f"What made the detector see a '{classes[k]}' there",
            "The cross marks the strongest centre the net found. The CAM multiplies each "
            "stage's feature maps by how much each position raised that centre's score "
            "(HiResCAM) and adds the stages up (early stages outline the shape, late ones the "
            "surroundings); saliency shows the "
            "pixels whose change would move the score most. Heat on the object itself, not "
            "on the background, means the net learned the shape.",
            fig,
            {"cam": cam, "saliency": saliency},
            randomisation_check(cam_of, run),
        )
    ]


@register_view("det", "input")
def stage_maps(run: Any, encoded: Any) -> list[View]:
    net = run.net.eval()
    x, picture = _first(run, encoded)
    with torch.no_grad():
        levels = net.forward_levels(x)
    per = 5
    fig, axes = new_figure(1.4 * (per + 1), 1.45 * len(levels) + 0.3, len(levels), per + 1)
    axes = np.atleast_2d(axes)
    for r, level in enumerate(levels):
        _show(axes[r, 0], picture)
        axes[r, 0].set_ylabel(f"stage {r + 1}\n1/{2 ** (r + 2)}", fontsize=7)
        strongest = level[0].flatten(1).mean(1).argsort(descending=True)[:per]
        top = float(level[0, strongest].max()) or 1.0  # one scale per stage: tiles compare
        for c, ch in enumerate(strongest.tolist()):
            tile = axes[r, c + 1].imshow(
                level[0, ch].float().numpy(), cmap="magma", vmin=0, vmax=top
            )
            axes[r, c + 1].set_title(f"ch {ch}", fontsize=6)
            axes[r, c + 1].set_xticks([])
            axes[r, c + 1].set_yticks([])
        fig.colorbar(tile, ax=axes[r, -1], fraction=0.046, pad=0.02)
    fig.tight_layout()
    return [
        View(
            "det-stage-maps",
            "What each backbone stage sees in this picture",
            "Each row is one backbone stage, at 1/4, 1/8, 1/16 and 1/32 of the picture's "
            "size; the tiles are its most active channels (bright = strong). The detector "
            "adds the deeper, coarser maps back onto the 1/4 map before it paints its heat "
            "maps, so small objects get context and large ones get sharp edges.",
            fig,
            {f"stage{i + 1}": lv[0].float().numpy() for i, lv in enumerate(levels)},
        )
    ]
