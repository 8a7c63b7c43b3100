"""builtin:cartoon-people: generated people for face recognition, one folder per person.

Each person is a fixed set of traits (face shape and skin, hair colour and style, eye
spacing, size and colour, brows, nose, mouth, ears, glasses, beard); each picture of them
varies what a camera varies (position, size, tilt, light, background, blur, noise) and the
expression. Offline and seeded, so a face embedder can be trained, tested on people it never
saw, and its views checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from glassnet.data.builtin import BuiltinDataset, register_dataset, require_style
from glassnet.data.builtin_images import _Canvas, _colour, _darker
from glassnet.data.files import atomic_write_json

SKIN = [
    (255, 224, 196),
    (241, 194, 125),
    (224, 172, 105),
    (198, 134, 66),
    (141, 85, 36),
    (92, 56, 32),
]
HAIR = [(20, 20, 20), (90, 56, 30), (180, 130, 60), (230, 200, 120), (160, 50, 30), (200, 200, 200)]


def person_traits(rng: np.random.Generator) -> dict:
    return {
        "skin": SKIN[int(rng.integers(len(SKIN)))],
        "hair": HAIR[int(rng.integers(len(HAIR)))],
        "hair_style": int(rng.integers(4)),  # bald, short cap, long sides, fringe
        "aspect": float(rng.uniform(0.8, 1.15)),  # face height / width
        "eye_x": float(rng.uniform(0.28, 0.45)),
        "eye_y": float(rng.uniform(-0.3, -0.05)),
        "eye_r": float(rng.uniform(0.08, 0.15)),
        "iris": _colour(rng, 20, 200),
        "brow": float(rng.uniform(-0.25, 0.25)),  # slant
        "nose": float(rng.uniform(0.15, 0.4)),  # length
        "mouth_w": float(rng.uniform(0.2, 0.45)),
        "mouth_y": float(rng.uniform(0.45, 0.65)),
        "ears": float(rng.uniform(0.1, 0.25)),
        "glasses": bool(rng.random() < 0.25),
        "beard": bool(rng.random() < 0.2),
    }


def draw_person(
    t: dict, size: int, rng: np.random.Generator, style: str = "cartoon"
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """One picture of the person with traits `t`, and the face's box (x0, y0, x1, y1 in the
    picture's pixels: the face oval and the ears, as drawn). `style="flat"` draws the same
    traits another way (angular face, flat eyes, spiky hair, gradient background): faces
    drawn differently from the ones an embedder trained on, to test that it holds up."""
    s = size * 2
    im = Image.new("RGB", (s, s), _colour(rng, 30, 225))
    d = ImageDraw.Draw(im)
    if style == "flat":  # a vertical gradient and round clutter
        top, bottom = np.array(_colour(rng, 30, 225)), np.array(_colour(rng, 30, 225))
        for y in range(s):
            d.line([(0, y), (s, y)], fill=tuple(int(v) for v in top + (bottom - top) * y / s))
    for _ in range(int(rng.integers(1, 4))):  # background clutter
        x, y = rng.uniform(0, s, 2)
        w, h = rng.uniform(0.1, 0.4, 2) * s
        if style == "flat":
            d.ellipse([x, y, x + w, y + w], fill=_colour(rng, 30, 225))
        else:
            d.rectangle([x, y, x + w, y + h], fill=_colour(rng, 30, 225))
    r = rng.uniform(0.3, 0.36) * s
    cx, cy = s / 2 + rng.normal(0, 0.03 * s, 2)
    tilt = float(rng.normal(0, 0.12))
    c = _Canvas(d, cx, cy, r, tilt)
    skin, dark = t["skin"], _darker(t["skin"], 0.75)
    # the face box: the oval and the ears drawn alone on a mask, with the same geometry
    mask = Image.new("L", (s, s), 0)
    m = _Canvas(ImageDraw.Draw(mask), cx, cy, r, tilt)
    for side in (-1, 1):
        m.ellipse(side * 0.98, 0.0, t["ears"], 0.22, fill=255)
    m.ellipse(0, 0, 1.0, t["aspect"], fill=255)
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, s, s)
    box = (x0 / 2, y0 / 2, x1 / 2, y1 / 2)
    (_draw_flat if style == "flat" else _draw_cartoon)(c, t, skin, dark, rng)
    im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.6, 1.3)))
    im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.5))))
    im = im.resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(im, dtype=np.float64) + rng.normal(0, rng.uniform(2, 12), (size, size, 3))
    return arr.clip(0, 255).astype(np.uint8), box


def _draw_cartoon(c: _Canvas, t: dict, skin: tuple, dark: tuple, rng: np.random.Generator) -> None:
    for side in (-1, 1):  # ears
        c.ellipse(side * 0.98, 0.0, t["ears"], 0.22, fill=skin, outline=dark)
    if t["hair_style"] == 2:  # long hair behind the face
        c.ellipse(0, 0.1, 1.15, 1.25 * t["aspect"], fill=t["hair"])
    c.ellipse(0, 0, 1.0, t["aspect"], fill=skin, outline=dark)
    if t["hair_style"] in (1, 2):  # a cap of hair
        c.ellipse(0, -0.75 * t["aspect"], 0.98, 0.45, fill=t["hair"])
    elif t["hair_style"] == 3:  # a fringe
        c.polygon([(-0.9, -0.5), (0.9, -0.5), (0.7, -0.95), (-0.7, -0.95)], fill=t["hair"])
    if t["beard"]:
        c.ellipse(0, 0.62 * t["aspect"], 0.7, 0.38, fill=t["hair"])
    smile = float(rng.uniform(-0.06, 0.12))  # expression changes from picture to picture
    blink = rng.random() < 0.1
    for side in (-1, 1):
        ex, ey = side * t["eye_x"], t["eye_y"]
        if blink:
            c.line((ex - t["eye_r"], ey), (ex + t["eye_r"], ey), fill=(30, 30, 30), width=2)
        else:
            c.ellipse(ex, ey, t["eye_r"] * 1.4, t["eye_r"], fill=(245, 245, 240))
            c.ellipse(ex, ey, t["eye_r"] * 0.6, t["eye_r"] * 0.8, fill=t["iris"])
            c.ellipse(ex, ey, t["eye_r"] * 0.25, t["eye_r"] * 0.3, fill=(10, 10, 10))
        by = ey - t["eye_r"] - 0.08
        c.line(
            (ex - 0.14, by + side * t["brow"] * 0.3),
            (ex + 0.14, by - side * t["brow"] * 0.3),
            fill=_darker(t["hair"], 0.8),
            width=3,
        )
        if t["glasses"]:
            c.ellipse(ex, ey, t["eye_r"] * 2.1, t["eye_r"] * 1.8, fill=None, outline=(20, 20, 20))
    c.line((0, t["eye_y"] + 0.05), (0.05, t["eye_y"] + 0.05 + t["nose"]), fill=dark, width=3)
    my, mw = t["mouth_y"] * t["aspect"], t["mouth_w"]
    c.line((-mw, my - smile), (0, my + smile), fill=(150, 40, 50), width=3)
    c.line((0, my + smile), (mw, my - smile), fill=(150, 40, 50), width=3)


def _draw_flat(c: _Canvas, t: dict, skin: tuple, dark: tuple, rng: np.random.Generator) -> None:
    """The same traits, drawn flat and angular with thick outlines."""
    ink = (25, 25, 25)
    for side in (-1, 1):  # square ears
        e = t["ears"]
        c.polygon(
            [
                (side * (0.98 - e), -0.2),
                (side * (0.98 + e), -0.2),
                (side * (0.98 + e), 0.2),
                (side * (0.98 - e), 0.2),
            ],
            fill=skin,
            outline=ink,
        )
    a = t["aspect"]
    octagon = [
        (np.cos(k * np.pi / 4 + np.pi / 8), a * np.sin(k * np.pi / 4 + np.pi / 8)) for k in range(8)
    ]
    c.polygon(octagon, fill=skin, outline=ink)
    if t["hair_style"] in (1, 2):  # spikes
        for k in range(7):
            x = -0.8 + k * 0.27
            c.polygon(
                [(x - 0.16, -0.55 * a), (x + 0.16, -0.55 * a), (x, -1.05 * a)], fill=t["hair"]
            )
    elif t["hair_style"] == 3:  # a block fringe
        c.polygon(
            [(-0.85, -0.45 * a), (0.85, -0.45 * a), (0.85, -0.9 * a), (-0.85, -0.9 * a)],
            fill=t["hair"],
        )
    if t["beard"]:
        c.polygon([(-0.6, 0.5 * a), (0.6, 0.5 * a), (0.0, 1.0 * a)], fill=t["hair"])
    smile = float(rng.uniform(-0.06, 0.12))
    for side in (-1, 1):
        ex, ey = side * t["eye_x"], t["eye_y"]
        c.ellipse(ex, ey, t["eye_r"], t["eye_r"], fill=t["iris"], outline=ink)
        c.ellipse(ex + 0.03, ey - 0.03, t["eye_r"] * 0.3, t["eye_r"] * 0.3, fill=(250, 250, 250))
        by = ey - t["eye_r"] - 0.1
        c.polygon(
            [
                (ex - 0.16, by + side * t["brow"] * 0.3),
                (ex + 0.16, by - side * t["brow"] * 0.3),
                (ex + 0.16, by - side * t["brow"] * 0.3 - 0.06),
                (ex - 0.16, by + side * t["brow"] * 0.3 - 0.06),
            ],
            fill=_darker(t["hair"], 0.7),
        )
        if t["glasses"]:
            r = t["eye_r"] * 1.9
            c.polygon(
                [(ex - r, ey - r), (ex + r, ey - r), (ex + r, ey + r), (ex - r, ey + r)],
                fill=None,
                outline=ink,
            )
    ny = t["eye_y"] + 0.05
    c.polygon([(0, ny), (0.09, ny + t["nose"]), (-0.09, ny + t["nose"])], fill=dark)
    my, mw = t["mouth_y"] * a, t["mouth_w"]
    c.ellipse(0, my, mw, 0.06 + max(smile, 0), fill=(140, 30, 45), outline=ink)


def make_cartoon_people(
    directory: Path,
    people: int = 200,
    per_person: int = 20,
    size: int = 48,
    seed: int = 0,
    style: str = "cartoon",
) -> Path:
    """`people` folders of `per_person` pictures each, and `faces.json`: every face's box in
    COCO's layout (category "face"), so a detector can learn to find them (`glassnet train
    detection --data DIR` reads it). 200 x 20 by default: with 60 x 12 the default net told
    6 test strangers apart at TAR 0.53 (1 % false accepts); with 200 x 20, 30 strangers at
    0.96 (verification 0.98, top-1 0.99; raw pixels 0.06 / 0.65 / 0.20)."""
    require_style(style, ("cartoon", "flat"), "people")
    directory = Path(directory)
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for p in range(people):
        traits = person_traits(rng)
        folder = directory / f"person-{p:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_person):
            pixels, (x0, y0, x1, y1) = draw_person(traits, size, rng, style)
            Image.fromarray(pixels).save(folder / f"{i:02d}.png")
            k = len(images) + 1
            images.append(
                {"id": k, "file_name": f"{folder.name}/{i:02d}.png", "width": size, "height": size}
            )
            box = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
            boxes.append(
                {
                    "id": k,
                    "image_id": k,
                    "category_id": 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    doc = {"images": images, "annotations": boxes, "categories": [{"id": 1, "name": "face"}]}
    atomic_write_json(directory / "faces.json", doc)
    return directory


register_dataset(
    BuiltinDataset(
        "cartoon-people",
        "faces",
        "200 generated cartoon people x 20 pictures (48 px): traits fixed per person, pose, "
        "light and expression per picture",
        make_cartoon_people,
        revision=3,  # 2: 200 x 20 (was 60 x 12); 3: faces.json with the face boxes
    )
)
