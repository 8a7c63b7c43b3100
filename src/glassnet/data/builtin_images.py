"""Built-in image sets: generated cartoon cats and dogs, scikit-learn's digits, and
scikit-image's bundled face / non-face patches. Written as one folder per class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from glassnet.data.builtin import BuiltinDataset, register_dataset

Point = tuple[float, float]


def _save_classes(directory: Path, images: dict[str, list[np.ndarray]]) -> Path:
    for label, arrays in images.items():
        folder = directory / label
        folder.mkdir(parents=True, exist_ok=True)
        for i, arr in enumerate(arrays):
            Image.fromarray(arr).save(folder / f"{label}-{i:05d}.png")
    return directory


# ---- cartoon pets -------------------------------------------------------------------------
class _Canvas:
    """Draws in head-local coordinates (unit = head radius) with rotation and offset."""

    def __init__(
        self, draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float
    ) -> None:
        self.draw, self.cx, self.cy, self.r = draw, cx, cy, r
        self.cos, self.sin = math.cos(angle), math.sin(angle)

    def at(self, x: float, y: float) -> Point:
        return (
            self.cx + self.r * (x * self.cos - y * self.sin),
            self.cy + self.r * (x * self.sin + y * self.cos),
        )

    def ellipse(
        self,
        x: float,
        y: float,
        rx: float,
        ry: float,
        fill: tuple,
        tilt: float = 0.0,
        outline: tuple | None = None,
    ) -> None:
        pts = []
        for k in range(32):
            t = 2 * math.pi * k / 32
            ex, ey = rx * math.cos(t), ry * math.sin(t)
            pts.append(
                self.at(
                    x + ex * math.cos(tilt) - ey * math.sin(tilt),
                    y + ex * math.sin(tilt) + ey * math.cos(tilt),
                )
            )
        self.draw.polygon(pts, fill=fill, outline=outline)

    def polygon(self, points: list[Point], fill: tuple, outline: tuple | None = None) -> None:
        self.draw.polygon([self.at(*p) for p in points], fill=fill, outline=outline)

    def line(self, a: Point, b: Point, fill: tuple, width: int) -> None:
        self.draw.line([self.at(*a), self.at(*b)], fill=fill, width=width)


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))  # type: ignore[return-value]


def _darker(c: tuple[int, int, int], f: float = 0.55) -> tuple[int, int, int]:
    return tuple(int(v * f) for v in c)  # type: ignore[return-value]


def draw_pet(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One cartoon cat or dog face: the shapes a CNN should discover, with random size,
    position, rotation, colours, background clutter and noise."""
    s = size * 2  # drawn at twice the size, then downsampled: smooth edges
    bg = _colour(rng, 40, 230)
    im = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(2, 7))):  # clutter: boxes, bars and small discs
        x, y = rng.uniform(0, s, 2)
        w, h = rng.uniform(0.05, 0.25, 2) * s
        c = _colour(rng)
        shape = rng.integers(3)
        if shape == 0:
            d.rectangle([x, y, x + w, y + h], fill=c)
        elif shape == 1:
            d.line(
                [x, y, x + w, y + h * rng.choice([-1, 1])], fill=c, width=int(rng.integers(1, 5))
            )
        else:
            d.ellipse([x, y, x + w / 2, y + w / 2], fill=c)
    r = rng.uniform(0.15, 0.27) * s
    cx, cy = rng.uniform(0.3, 0.7, 2) * s
    canvas = _Canvas(d, cx, cy, r, rng.uniform(-0.6, 0.6))
    fur = _colour(rng)
    dark = _darker(fur)
    if kind == "cat":  # pointy triangular ears, upright
        for side in (-1, 1):
            canvas.polygon(
                [(side * 0.95, -0.25), (side * 0.2, -0.85), (side * rng.uniform(0.7, 0.95), -1.55)],
                fill=fur,
                outline=dark,
            )
            canvas.polygon(
                [(side * 0.78, -0.45), (side * 0.38, -0.8), (side * 0.72, -1.25)],
                fill=(236, 150, 170),
            )
    else:  # floppy rounded ears hanging down the sides
        for side in (-1, 1):
            canvas.ellipse(side * 1.0, 0.25, 0.32, 0.72, fill=dark, tilt=side * -0.35)
    canvas.ellipse(0, 0, 1.0, rng.uniform(0.88, 1.0), fill=fur, outline=dark)
    eye_y, eye_x = -0.18, rng.uniform(0.32, 0.42)
    eye_white = (245, 245, 235)
    for side in (-1, 1):
        canvas.ellipse(side * eye_x, eye_y, 0.17, 0.19, fill=eye_white)
        if kind == "cat":  # slit pupils
            canvas.ellipse(side * eye_x, eye_y, 0.05, 0.16, fill=(20, 20, 20))
        else:  # round pupils
            canvas.ellipse(side * eye_x, eye_y, 0.1, 0.1, fill=(20, 20, 20))
    if kind == "cat":  # small pink triangle nose and whiskers
        if rng.random() < 0.3:  # some cats have a light muzzle too
            canvas.ellipse(0, 0.45, 0.38, 0.26, fill=(230, 215, 190))
        canvas.polygon([(-0.1, 0.22), (0.1, 0.22), (0.0, 0.34)], fill=(230, 120, 140))
        for side in (-1, 1) if rng.random() < 0.75 else ():
            for dy in (-0.06, 0.06, 0.18):
                canvas.line(
                    (side * 0.18, 0.32 + dy / 2),
                    (side * 1.25, 0.22 + dy * 2),
                    fill=(30, 30, 30) if sum(fur) > 300 else (235, 235, 235),
                    width=2,
                )
    else:  # a light snout with a big dark nose and a tongue
        canvas.ellipse(0, 0.48, 0.45, 0.34, fill=(230, 215, 190))
        canvas.ellipse(0, 0.34, 0.18, 0.12, fill=(25, 20, 20))
        if rng.random() < 0.6:
            canvas.ellipse(0, 0.72, 0.12, 0.14, fill=(220, 90, 100))
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2.0))).resize(
        (size, size), Image.Resampling.LANCZOS
    )
    arr = np.asarray(im, dtype=np.float64) + rng.normal(0, rng.uniform(4, 24), (size, size, 3))
    return arr.clip(0, 255).astype(np.uint8)


def make_cartoon_pets(directory: Path, n: int = 2000, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    per_class = n // 2
    return _save_classes(
        directory, {k: [draw_pet(k, size, rng) for _ in range(per_class)] for k in ("cat", "dog")}
    )


def make_digits(directory: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images: dict[str, list[np.ndarray]] = {}
    for img, target in zip(digits.images, digits.target, strict=True):
        images.setdefault(str(target), []).append((img / 16 * 255).astype(np.uint8))
    return _save_classes(directory, images)


def make_faces_vs_background(directory: Path) -> Path:
    from skimage.data import lfw_subset

    patches = (lfw_subset() * 255).clip(0, 255).astype(np.uint8)  # (200, 25, 25): faces first
    return _save_classes(
        directory, {"face": list(patches[:100]), "background": list(patches[100:])}
    )


register_dataset(
    BuiltinDataset(
        "cartoon-pets",
        "images",
        "cartoon cat and dog faces drawn from shapes (ears, eyes, whiskers, snouts); "
        "--n images, --size px",
        make_cartoon_pets,
    )
)
register_dataset(
    BuiltinDataset(
        "digits", "images", "1 797 handwritten digits, 8x8 gray (scikit-learn)", make_digits
    )
)
register_dataset(
    BuiltinDataset(
        "faces-vs-background",
        "images",
        "100 faces and 100 non-face patches, 25x25 gray (scikit-image's lfw_subset)",
        make_faces_vs_background,
    )
)
