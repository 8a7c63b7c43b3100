"""Detectors (CNN family `det.*`): a readable CenterNet on the `cnn.small` stages.

CenterNet ("Objects as Points", Zhou et al. 2019) predicts, for every cell of a map at a
quarter of the input's resolution, a heat value per class (is there an object's centre
here?), the object's width and height, and the centre's offset inside the cell. Decoding
keeps the peaks of the heat map (a 3x3 max-pool instead of box NMS) and reads the box at
each peak. Input (B, C, H, W) float, normalised; H and W multiples of 16.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn
from torch.nn import functional as F

from glassnet.nets._registry import register_net
from glassnet.nets.cnn import ConvNet, Norm

DATA_ARGS = ("in_channels", "num_classes")
STRIDE = 4  # the output map is a quarter of the input's size
PRIOR = 0.01  # initial heat: rare objects (the focal-loss prior of RetinaNet)


def _head(width: int, out: int, bias: float = 0.0) -> nn.Sequential:
    last = nn.Conv2d(width, out, 1)
    nn.init.constant_(last.bias, bias)
    return nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), last)


class CenterNet(nn.Module):
    """A strided stem, then cnn.small stages (outputs at strides 4, 8, 16, 32), a top-down
    path that adds the deeper maps back at stride 4 (a small FPN), and three heads on that
    map. The stem halves the picture first: the full-resolution convolutions were 3/4 of
    the cost on a CPU, for features a stride-4 output never sees."""

    prefers_channels_last = True

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        stem: int = 16,
        head: int = 48,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("det.centernet needs at least one stage width, e.g. widths=32,64")
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        self.stages = ConvNet(
            in_channels=stem, num_outputs=1, widths=tuple(widths), norm=norm
        ).stages  # stage k ends at stride 2^(k+2)
        self.lateral = nn.ModuleList(nn.Conv2d(w, head, 1) for w in widths)
        self.smooth = nn.Sequential(
            nn.Conv2d(head, head, 3, padding=1, bias=False), nn.BatchNorm2d(head), nn.ReLU(True)
        )
        prior = -float(torch.log(torch.tensor((1 - PRIOR) / PRIOR)))
        self.heatmap = _head(head, num_classes, bias=prior)
        self.size = _head(head, 2)  # log(width / STRIDE), log(height / STRIDE)
        self.offset = _head(head, 2)  # the centre inside its cell, 0..1

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output, shallow (stride 4) to deep."""
        x = self.stem(x)
        levels = []
        for stage in self.stages:
            x = stage(x)
            levels.append(x)
        return levels

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """The shared map at stride 4 (B, head, H/4, W/4): deep maps upsampled and added."""
        levels = self.forward_levels(x)
        top = self.lateral[-1](levels[-1])
        for lateral, level in zip(
            reversed(list(self.lateral)[:-1]), reversed(levels[:-1]), strict=True
        ):
            top = lateral(level) + F.interpolate(top, size=level.shape[-2:], mode="nearest")
        return self.smooth(top)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.forward_map(x)
        return {
            "heatmap": self.heatmap(f),  # (B, K, H/4, W/4) logits
            "size": self.size(f),  # (B, 2, H/4, W/4)
            "offset": self.offset(f).sigmoid(),  # (B, 2, H/4, W/4)
        }


def decode_centernet(
    out: dict[str, torch.Tensor], top_k: int = 100
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The `top_k` strongest peaks of each image: boxes (B, k, 4) as x0, y0, x1, y1 in input
    pixels, scores (B, k) and classes (B, k). No data-dependent shapes (exportable)."""
    heat = out["heatmap"].float().sigmoid()
    b, k_cls, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)  # local maxima only
    peaks = peaks.flatten(1)
    # On a flat (under-trained) heat map equal scores would let torch and onnxruntime pick
    # different, equally good cells; an offset of one float32 step per cell index makes
    # the order total, so both pick the same (scores within ~1e-4 count as equal anyway).
    rank = torch.arange(peaks.shape[1], device=peaks.device, dtype=peaks.dtype) * 2.0**-24
    flat = (peaks - rank).topk(min(top_k, k_cls * h * w), dim=1).indices  # (B, k)
    scores = peaks.gather(1, flat)
    classes = flat // (h * w)
    cell = flat % (h * w)
    ys, xs = (cell // w).float(), (cell % w).float()
    offset = out["offset"].float().flatten(2).gather(2, cell[:, None].expand(-1, 2, -1))
    size = out["size"].float().flatten(2).gather(2, cell[:, None].expand(-1, 2, -1))
    cx, cy = (xs + offset[:, 0]) * STRIDE, (ys + offset[:, 1]) * STRIDE
    bw, bh = size[:, 0].clamp(max=8).exp() * STRIDE, size[:, 1].clamp(max=8).exp() * STRIDE
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
    # Fewer peaks than k: the rest are zeros in any order; blank them so they are all alike.
    real = scores > 0
    return boxes * real[..., None], scores, classes * real


@register_net("det.centernet", data_args=DATA_ARGS)
def det_centernet(
    *,
    in_channels: int,
    num_classes: int,
    widths: Annotated[tuple[int, ...], "channels of each backbone stage, e.g. 32,64,128,256"] = (
        32,
        64,
        128,
        256,
    ),
    stem: Annotated[int, "channels of the strided first convolution"] = 16,
    head: Annotated[int, "channels of the shared map and the heads"] = 48,
    norm: Annotated[Norm, "normalisation after each backbone convolution"] = "batch",
) -> CenterNet:
    """CenterNet: a heat map of object centres per class, with box sizes and offsets."""
    return CenterNet(
        in_channels=in_channels,
        num_classes=num_classes,
        widths=tuple(widths),
        stem=stem,
        head=head,
        norm=norm,
    )
