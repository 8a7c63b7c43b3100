"""What each conv stage of a CNN computes for one input, as data for an interactive page:
every stage's strongest channels as small images, and each stage's receptive field (how
large a patch of the input one cell of its map sees, and where), so a page can show, under
the pointer, which part of the picture a feature-map cell looked at.

Receptive fields follow the usual recurrence over the main path (Araujo et al., "Computing
Receptive Fields of Convolutional Neural Networks", Distill 2019): for each conv or pooling
layer with kernel k, stride s, padding p and dilation d, in order,
    size  += (k - 1) * d * jump
    start += ((k - 1) * d / 2 - p) * jump
    jump  *= s
where `jump` is the distance in input pixels between neighbouring cells and `start` the
centre of cell 0. Skip connections' 1x1 projections are left out: the main path is the
widest, so the union of paths has its size.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

SKIP_PATHS = ("downsample", "shortcut", "skip")


@dataclass(frozen=True)
class Field:
    size: float  # input pixels one cell sees (square)
    jump: float  # input pixels between neighbouring cells
    start: float  # centre of cell 0, in input pixels


def _pair(v: Any) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def receptive_fields(net: nn.Module, stages: list[nn.Module]) -> list[Field]:
    """The receptive field of each stage's output, walking the layers in order."""
    size, jump, start = 1.0, 1.0, 0.0  # cell k of the input is pixel k (centre, 0-based)
    after: dict[int, Field] = {}
    owner = {id(m): k for k, stage in enumerate(stages) for m in stage.modules()}
    for name, m in net.named_modules():
        if any(part in SKIP_PATHS for part in name.split(".")):
            continue
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pair(m.kernel_size), _pair(m.stride or m.kernel_size)
            p = _pair(m.padding)
            d = _pair(getattr(m, "dilation", 1))
            size += (k - 1) * d * jump
            start += ((k - 1) * d / 2 - p) * jump
            jump *= s
        if id(m) in owner:
            after[owner[id(m)]] = Field(size, jump, start)
    return [after.get(k, Field(size, jump, start)) for k in range(len(stages))]


def _png(array: np.ndarray) -> str:
    """A (H, W) or (H, W, 3) array in [0, 1] as a PNG data URL."""
    from PIL import Image

    img = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _stretch(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def stage_maps(net: nn.Module, x: torch.Tensor, channels: int = 12) -> dict[str, Any]:
    """For one input `x` (1, C, H, W) as the net takes it: the input as seen, and per
    stage its shape, receptive field and strongest channels (PNG data URLs, one shared
    scale per stage so channels compare)."""
    stages = list(getattr(net, "stages", []))
    if not stages or x.ndim != 4:
        raise ValueError("this net has no convolutional stages over an image")
    maps: list[torch.Tensor] = []
    hooks = [s.register_forward_hook(lambda m, i, o: maps.append(o.detach())) for s in stages]
    net.eval()
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    seen = x[0].float().cpu().numpy()
    seen = np.stack([_stretch(c) for c in seen], -1)
    picture = seen[..., 0] if seen.shape[-1] == 1 else seen[..., :3]
    out: dict[str, Any] = {"input": _png(picture), "height": x.shape[-2], "width": x.shape[-1]}
    layers = []
    for k, (fmap, field) in enumerate(zip(maps, receptive_fields(net, stages), strict=True)):
        f = fmap[0].float().cpu().numpy()  # (C, h, w)
        strength = f.reshape(f.shape[0], -1).mean(1)
        top = np.argsort(-strength)[:channels]
        hi = float(f[top].max()) or 1.0
        layers.append(
            {
                "name": f"stage {k + 1}",
                "channels_total": int(f.shape[0]),
                "height": int(f.shape[1]),
                "width": int(f.shape[2]),
                "field": {"size": field.size, "jump": field.jump, "start": field.start},
                "channels": [
                    {
                        "index": int(c),
                        "mean": round(float(strength[c]), 4),
                        "png": _png(np.clip(f[c] / hi, 0, 1)),
                    }
                    for c in top
                ],
            }
        )
    out["layers"] = layers
    return out
