"""Batched image augmentation on tensors: torchvision.transforms.v2's default recipe
(random resized crop, horizontal flip, light colour jitter), drawn per image but applied to
the whole batch in a few tensor ops. Per-image v2 calls cost ~7 ms each on a CPU - more than
the small CNN's own step - so the same transforms are done here with one affine warp.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


class BatchAugment:
    def __init__(
        self,
        *,
        color: bool,
        scale: tuple[float, float] = (0.7, 1.0),
        ratio: tuple[float, float] = (0.9, 1.1),
        flip: float = 0.5,
        jitter: float = 0.2,
        gray: float = 0.0,
        blur: float = 0.0,
        erase: float = 0.0,
    ) -> None:
        self.color, self.scale, self.ratio, self.flip, self.jitter = (
            color,
            scale,
            ratio,
            flip,
            jitter,
        )
        # shares of images turned grey / softened / with a patch blotted out
        self.gray, self.blur, self.erase = gray, blur, erase

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 or float (B, C, H, W) -> float (B, C, H, W) in [0, 1], augmented."""
        b, dev = x.shape[0], x.device
        x = x.float() / 255 if x.dtype == torch.uint8 else x

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return torch.empty(b, device=dev).uniform_(lo, hi)

        # Random resized crop: a crop of area share `area` and aspect `aspect`, anywhere
        # inside the image, warped back to full size; a flip is a negative x scale.
        area = uniform(*self.scale)
        aspect = torch.exp(uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        sx = torch.sqrt(area * aspect).clamp(max=1.0)
        sy = torch.sqrt(area / aspect).clamp(max=1.0)
        tx = (torch.rand(b, device=dev) * 2 - 1) * (1 - sx)
        ty = (torch.rand(b, device=dev) * 2 - 1) * (1 - sy)
        flip = torch.where(torch.rand(b, device=dev) < self.flip, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
        theta[:, 1, 1], theta[:, 1, 2] = sy, ty
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(
            x, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )  # (B, C, H, W)
        x = color_jitter(x, self.jitter if self.color else 0.0)
        if self.gray and x.shape[1] == 3:
            pick = (torch.rand(b, 1, 1, 1, device=dev) < self.gray).to(x.dtype)
            x = x + pick * (x.mean(dim=1, keepdim=True) - x)
        if self.blur:
            pick = (torch.rand(b, 1, 1, 1, device=dev) < self.blur).to(x.dtype)
            x = x + pick * (_soften(x) - x)
        if self.erase:
            x = _erase(x, self.erase)
        return x


def _erase(x: torch.Tensor, share: float) -> torch.Tensor:
    """Random erasing: in `share` of the images a rectangle (a fifth to a half of each
    side, anywhere) is filled with the image's mean colour, so no single part decides."""
    b, _, h, w = x.shape
    dev = x.device
    side_h = torch.empty(b, device=dev).uniform_(0.2, 0.5) * h
    side_w = torch.empty(b, device=dev).uniform_(0.2, 0.5) * w
    top = torch.rand(b, device=dev) * (h - side_h)
    left = torch.rand(b, device=dev) * (w - side_w)
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    inside = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + side_h).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + side_w).view(b, 1, 1))
        & (torch.rand(b, 1, 1, device=dev) < share)
    ).unsqueeze(1)  # (B, 1, H, W)
    return torch.where(inside, x.mean(dim=(2, 3), keepdim=True), x)


def _soften(x: torch.Tensor) -> torch.Tensor:
    """A 3x3 binomial blur per channel (edges mirrored)."""
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    k = (k[:, None] * k[None, :]) / 16
    c = x.shape[1]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return F.conv2d(padded, k.expand(c, 1, 3, 3), groups=c)


def color_jitter(x: torch.Tensor, j: float) -> torch.Tensor:
    """Brightness, contrast and (for RGB) saturation, each scaled by 1 +- j per image."""
    if j > 0:
        b, dev, shape = x.shape[0], x.device, (x.shape[0], 1, 1, 1)

        def uniform() -> torch.Tensor:
            return torch.empty(b, device=dev).uniform_(1 - j, 1 + j).view(shape)

        x = x * uniform()  # brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * uniform() + mean  # contrast
        if x.shape[1] == 3:
            gray = x.mean(dim=1, keepdim=True)
            x = (x - gray) * uniform() + gray  # saturation
    return x.clamp(0, 1)


class BoxAugment:
    """For detection: flip, zoom (in and out) and shift each image of a batch with one
    affine warp, move its boxes alike, drop boxes that mostly left the picture, jitter
    colours. Outside the source picture is black (mirroring would draw unlabelled
    objects)."""

    def __init__(
        self,
        *,
        zoom: tuple[float, float] = (0.7, 1.3),
        shift: float = 0.15,
        flip: float = 0.5,
        jitter: float = 0.25,
        keep: float = 0.4,
    ) -> None:
        self.zoom, self.shift, self.flip, self.jitter, self.keep = zoom, shift, flip, jitter, keep

    def __call__(
        self, x: torch.Tensor, boxes: list[torch.Tensor], labels: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """uint8 (B, C, S, S) + boxes (x0, y0, x1, y1 in pixels) -> float in [0, 1]."""
        b, dev, size = x.shape[0], x.device, x.shape[-1]
        x = x.float() / 255 if x.dtype == torch.uint8 else x
        zoom = torch.empty(b, device=dev).uniform_(*self.zoom)  # >1: objects get bigger
        flip = torch.where(torch.rand(b, device=dev) < self.flip, -1.0, 1.0)
        shift = (torch.rand(b, 2, device=dev) * 2 - 1) * self.shift
        theta = torch.zeros(b, 2, 3, device=dev)  # output (u) -> input: A u + t
        theta[:, 0, 0], theta[:, 1, 1] = flip / zoom, 1 / zoom
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        kept_boxes, kept_labels = [], []
        for i in range(b):
            v = boxes[i].to(dev).float() * 2 / size - 1  # input, normalised
            ux = (v[:, [0, 2]] - shift[i, 0]) * zoom[i] * flip[i]
            uy = (v[:, [1, 3]] - shift[i, 1]) * zoom[i]
            moved = torch.stack(
                [ux.min(1).values, uy.min(1).values, ux.max(1).values, uy.max(1).values], 1
            )
            moved = (moved + 1) * size / 2
            clipped = moved.clamp(0, size)
            area = (moved[:, 2:] - moved[:, :2]).prod(1)
            inside = (clipped[:, 2:] - clipped[:, :2]).clamp(min=0).prod(1)
            wide = ((clipped[:, 2:] - clipped[:, :2]) >= 2).all(1)
            ok = (inside >= self.keep * area) & wide
            kept_boxes.append(clipped[ok])
            kept_labels.append(labels[i].to(dev)[ok])
        return color_jitter(x, self.jitter), kept_boxes, kept_labels
