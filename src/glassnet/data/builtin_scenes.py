"""`builtin:scenes`: a seeded generator of small scenes for object detection.

Each scene is a crop of one of scikit-image's bundled photos or textures (tinted, dimmed,
sometimes blurred) with 1-6 objects of four classes drawn on it (circles, squares,
triangles, crosses: filled or outlined, rotated, in colours that stand out from the spot
they sit on), a few distractors (lines, dots, ellipses) and noise. The box of an object is
the tight box of its drawn pixels. Written both as YOLO (data.yaml, images/, labels/) and
as COCO (annotations/instances_<split>.json), so both readers read the same scenes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from glassnet.data.builtin import BuiltinDataset, register_dataset, require_style

CLASSES = ("circle", "square", "triangle", "cross")
SPLITS = {"train": 2000, "val": 300, "test": 300}
# Photos without round, square or cross-like things of their own (coins were, and the net
# rightly called them circles).
BACKGROUNDS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "rocket",
    "retina",
    "clock",
    "horse",
    "page",
    "cell",
)


def _backgrounds() -> list[np.ndarray]:
    import skimage.data

    out = []
    for name in BACKGROUNDS:
        img = np.asarray(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        if img.dtype != np.uint8:  # float, 16-bit or boolean images
            img = img.astype(np.float64)
            img = (255 * (img - img.min()) / max(float(np.ptp(img)), 1e-9)).astype(np.uint8)
        out.append(img)
    return out


def _background(pool: list[np.ndarray], size: int, rng: np.random.Generator) -> Image.Image:
    src = pool[rng.integers(len(pool))]
    h, w = src.shape[:2]
    side = int(rng.integers(min(h, w) // 4, min(h, w) + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(src[top : top + side, left : left + side]).resize((size, size))
    arr = np.asarray(crop, dtype=np.float32)
    tint = rng.uniform(0.6, 1.25, size=3)
    arr = arr * tint * rng.uniform(0.5, 1.1) + rng.uniform(-30, 30)
    image = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    return image


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        pts = [(x * r * 0.75, y * r * 0.75) for x, y in corners]
    elif kind == "triangle":
        pts = [
            (r * math.cos(a), r * math.sin(a))
            for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))
        ]
    else:  # cross: a plus sign of two bars
        t = r * 0.3
        pts = [
            (-t, -r),
            (t, -r),
            (t, -t),
            (r, -t),
            (r, t),
            (t, t),
            (t, r),
            (-t, r),
            (-t, t),
            (-r, t),
            (-r, -t),
            (-t, -t),
        ]
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def _draw_shape(
    kind: str, size: int, cx: float, cy: float, r: float, rng: np.random.Generator
) -> Image.Image:
    """The shape's mask (L, 0/255) on a size x size canvas."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    outline = rng.random() < 0.25
    width = max(2, int(r * 0.25))
    if kind == "circle":
        rx, ry = r, r * rng.uniform(0.85, 1.0)
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        if outline:
            draw.ellipse(box, outline=255, width=width)
        else:
            draw.ellipse(box, fill=255)
    else:
        pts = _polygon(kind, cx, cy, r, float(rng.uniform(0, 2 * math.pi)))
        if outline and kind != "cross":
            draw.polygon(pts, outline=255, width=width)
        else:
            draw.polygon(pts, fill=255)
    return mask


def _standout(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[int, ...]:
    """A colour far from the mean colour under the mask."""
    under = image[mask > 0].mean(axis=0) if mask.any() else np.full(3, 128.0)
    for _ in range(20):
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - under).sum() > 180:
            return tuple(int(v) for v in colour)
    return tuple(int(v) for v in (255 - under).clip(0, 255))


def _distractor(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
    kind = rng.integers(3)
    if kind == 0:
        pts = [tuple(rng.uniform(0, size, 2)) for _ in range(2)]
        draw.line(pts, fill=colour, width=int(rng.integers(1, 3)))
    elif kind == 1:
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(1, 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    else:  # a thin ellipse: round, but not a circle
        x, y = rng.uniform(0, size, 2)
        draw.ellipse((x - rng.uniform(8, 20), y - 2, x + rng.uniform(8, 20), y + 2), fill=colour)


def _smooth_background(size: int, rng: np.random.Generator) -> Image.Image:
    """The flat style's ground: a few colours blended smoothly (no photo), sometimes with
    a band of stripes."""
    cells = int(rng.integers(2, 6))
    grid = rng.uniform(20, 235, size=(cells, cells, 3)).astype(np.uint8)
    image = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
    if rng.random() < 0.4:
        draw = ImageDraw.Draw(image)
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        step = int(rng.integers(6, 16))
        for x in range(-size, size, step):
            draw.line([(x, 0), (x + size, size)], fill=colour, width=1)
    return image


def _flat_distractor(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    """Bars and specks: long thin things, never one of the four classes."""
    colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
    x, y = rng.uniform(0, size, 2)
    if rng.random() < 0.5:
        length, angle = rng.uniform(15, 40), rng.uniform(0, math.pi)
        end = (x + length * math.cos(angle), y + length * math.sin(angle))
        draw.line([(x, y), end], fill=colour, width=int(rng.integers(2, 4)))
    else:
        draw.rectangle((x, y, x + rng.uniform(1, 3), y + rng.uniform(1, 3)), fill=colour)


def _fill(
    arr: np.ndarray, mask: np.ndarray, colour: tuple[int, ...], rng: np.random.Generator
) -> None:
    """The flat style's paint: stripes of two shades or a gradient, where a mask is set."""
    size = arr.shape[0]
    c = np.array(colour, dtype=np.float32)
    other = (c * rng.uniform(0.45, 0.75)).clip(0, 255)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    along = xx * math.cos(angle) + yy * math.sin(angle)
    if rng.random() < 0.5:  # stripes
        share = ((along // rng.uniform(2, 5)) % 2)[..., None]
    else:  # a gradient across the object
        lo, hi = along[mask].min(), along[mask].max()
        share = ((along - lo) / max(hi - lo, 1.0))[..., None]
    paint = c * (1 - share) + other * share
    arr[mask] = paint[mask].clip(0, 255).astype(np.uint8)


def draw_scene(
    size: int, rng: np.random.Generator, pool: list[np.ndarray], style: str = "photo"
) -> tuple[Image.Image, list[tuple[int, tuple[int, int, int, int]]]]:
    """One scene and its objects as (class index, (x0, y0, x1, y1)) with x1/y1 exclusive.
    `style="flat"` draws the same four classes another way (smooth colour grounds instead
    of photos, objects painted in stripes or gradients, bars for distractors): scenes
    unlike the training ones, to test that a detector holds up."""
    flat = style == "flat"
    image = _smooth_background(size, rng) if flat else _background(pool, size, rng)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 4))):
        (_flat_distractor if flat else _distractor)(draw, size, rng)
    objects: list[tuple[int, tuple[int, int, int, int]]] = []
    masks: list[np.ndarray] = []
    for _ in range(int(rng.integers(1, 7))):
        cls = int(rng.integers(len(CLASSES)))
        r = float(rng.uniform(0.05, 0.18) * size)
        cx, cy = rng.uniform(r * 0.6, size - r * 0.6, 2)
        mask = np.asarray(_draw_shape(CLASSES[cls], size, cx, cy, r, rng)) > 0
        # Objects may touch and overlap a little, never hide most of each other.
        if not mask.any() or any((mask & m).sum() > 0.2 * min(mask.sum(), m.sum()) for m in masks):
            continue
        arr = np.asarray(image).copy()
        if flat:
            _fill(arr, mask, _standout(arr, mask, rng), rng)
        else:
            arr[mask] = _standout(arr, mask, rng)
        image = Image.fromarray(arr)
        draw = ImageDraw.Draw(image)
        masks.append(mask)
        ys, xs = np.nonzero(mask)
        objects.append((cls, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
    arr = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(0, 10), (size, size, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8)), objects


STYLES = ("photo", "flat")


def make_scenes(
    directory: Path, n: int | None = None, size: int = 128, seed: int = 0, style: str = "photo"
) -> Path:
    """Write the scenes (n in all, split 2000:300:300 by default) in both layouts."""
    require_style(style, STYLES, "scenes")
    rng = np.random.default_rng(seed)
    pool = [] if style == "flat" else _backgrounds()
    counts = dict(SPLITS)
    if n is not None:
        total = sum(SPLITS.values())
        counts = {k: max(1, round(n * v / total)) for k, v in SPLITS.items()}
    (directory / "annotations").mkdir(parents=True, exist_ok=True)
    for split, count in counts.items():
        images_dir, labels_dir = directory / "images" / split, directory / "labels" / split
        images_dir.mkdir(parents=True, exist_ok=True)
        labels_dir.mkdir(parents=True, exist_ok=True)
        coco: dict = {
            "images": [],
            "annotations": [],
            "categories": [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)],
        }
        for i in range(count):
            image, objects = draw_scene(size, rng, pool, style)
            name = f"{split}_{i:05d}.png"
            image.save(images_dir / name)
            lines = []
            coco["images"].append({"id": i + 1, "file_name": name, "width": size, "height": size})
            for cls, (x0, y0, x1, y1) in objects:
                w, h = x1 - x0, y1 - y0
                lines.append(
                    f"{cls} {(x0 + w / 2) / size:.6f} {(y0 + h / 2) / size:.6f} "
                    f"{w / size:.6f} {h / size:.6f}"
                )
                coco["annotations"].append(
                    {
                        "id": len(coco["annotations"]) + 1,
                        "image_id": i + 1,
                        "category_id": cls + 1,
                        "bbox": [x0, y0, w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
            (labels_dir / f"{split}_{i:05d}.txt").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
        (directory / "annotations" / f"instances_{split}.json").write_text(
            json.dumps(coco), encoding="utf-8"
        )
    names = "\n".join(f"  {i}: {c}" for i, c in enumerate(CLASSES))
    (directory / "data.yaml").write_text(
        "# YOLO layout (the COCO annotations of the same images are in annotations/)\n"
        f"path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n{names}\n",
        encoding="utf-8",
    )
    return directory


register_dataset(
    BuiltinDataset(
        "scenes",
        "detection",
        "2 600 generated 128 px scenes: circles, squares, triangles, crosses on photo crops "
        "(YOLO and COCO files)",
        make_scenes,
    )
)
