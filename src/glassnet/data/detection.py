"""Object-detection data in: COCO JSON or YOLO txt layouts, checked box by box.

Layouts (found automatically, or `fmt="coco"|"yolo"`):
- YOLO: `data.yaml` (`names`, and `train` / `val` / `test` image folders relative to
  `path`), images under `images/...`, one `labels/.../<name>.txt` per image with lines
  `class cx cy w h` as fractions of the image size.
- COCO: `annotations/instances_<split>.json` (images under `images/<split>/` or
  `<split>/`), or `<split>/instances.json` beside `<split>/images/`, or any `*.json` with
  `images`, `annotations` and `categories`.

Boxes become pixels (x0, y0, x1, y1) in the original image. The check names the file (and
line, for YOLO) of boxes outside the image, coordinates that are not normalised, unknown
classes, empty or degenerate boxes and annotations without an image; images without boxes
are kept as negatives and counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from glassnet.data.images import ImageList, check_images, is_image, load_stretched
from glassnet.data.splits import ItemSplit
from glassnet.errors import DataError

OUTSIDE_TOLERANCE = 0.01  # boxes may spill this share of the image side (then clipped)
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Annotated:
    """One image and its boxes: (N, 4) float32 x0, y0, x1, y1 in pixels; (N,) class ids."""

    path: Path
    boxes: np.ndarray
    labels: np.ndarray


@dataclass
class DetectionSet:
    items: list[Annotated]
    classes: list[str]
    source: str
    notes: list[str] = field(default_factory=list)


class _Problems:
    """Bad boxes found while reading: fatal unless skipped, listed by file (and line)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    def settle(self, source: str, skip_bad: bool, notes: list[str]) -> None:
        if not self.found:
            return
        shown = "; ".join(self.found[:10]) + (
            f" (and {len(self.found) - 10} more)" if len(self.found) > 10 else ""
        )
        if not skip_bad:
            raise DataError(
                f"{len(self.found)} bad annotation(s) in {source}: {shown}",
                fix="Fix them, or pass --skip-bad to leave those boxes out",
            )
        notes.append(f"left out {len(self.found)} bad annotation(s): {shown}")


def read_detection(
    root: Path, fmt: str = "auto", skip_bad: bool = False
) -> dict[str, DetectionSet]:
    """The splits the layout defines ("train", "val", "test"; "all" when it has none)."""
    if not root.exists():
        raise DataError(f"'{root}' does not exist", fix="Check the path")
    if fmt == "auto":
        fmt = "yolo" if _yolo_yaml(root) else "coco" if _coco_files(root) else ""
    if fmt == "yolo":
        return read_yolo(root, skip_bad)
    if fmt == "coco":
        return read_coco(root, skip_bad)
    raise DataError(
        f"'{root}' holds neither a YOLO data.yaml nor COCO annotations (*.json)",
        fix="Detection data is a folder with data.yaml + images/ + labels/ (YOLO), or "
        "annotations/instances_train.json + images/ (COCO); see `glassnet data make scenes`",
    )


# ---- YOLO ----------------------------------------------------------------------------------
def _yolo_yaml(root: Path) -> Path | None:
    if root.is_file() and root.suffix in (".yaml", ".yml"):
        return root
    if not root.is_dir():
        return None
    for p in [root / "data.yaml", *sorted(root.glob("*.yaml")), *sorted(root.glob("*.yml"))]:
        if p.is_file():
            try:
                doc = yaml.safe_load(p.read_text(encoding="utf-8"))
            except yaml.YAMLError:
                continue
            if isinstance(doc, dict) and "names" in doc:
                return p
    return None


def _yolo_names(doc: dict[str, Any], where: Path) -> list[str]:
    names = doc.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except ValueError:
            keys = []
        if keys != list(range(len(names))):
            raise DataError(
                f"'names' in {where} must be numbered 0..{len(names) - 1}", fix="Renumber them"
            )
        return [str(names[k]) for k in keys]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise DataError(f"{where} has no class names ('names:')", fix="List the class names")


def _label_path(image: Path) -> Path:
    """YOLO's rule: the last 'images' folder in the path becomes 'labels', suffix .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_yolo(root: Path, skip_bad: bool = False) -> dict[str, DetectionSet]:
    spec = _yolo_yaml(root)
    if spec is None:
        raise DataError(f"'{root}' has no YOLO data.yaml with 'names'", fix="Add data.yaml")
    doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
    classes = _yolo_names(doc, spec)
    base = spec.parent / str(doc.get("path") or ".")
    folders = {k: doc[k] for k in SPLIT_NAMES if doc.get(k)}
    if not folders:
        folders = {"all": "images"}
    out = {}
    for split, rel in folders.items():
        dirs = [base / str(r) for r in (rel if isinstance(rel, list) else [rel])]
        for d in dirs:
            if not d.is_dir():
                raise DataError(f"the {split} image folder '{d}' named in {spec} does not exist")
        images = sorted(p for d in dirs for p in d.rglob("*") if p.is_file() and is_image(p))
        out[split] = _yolo_split(images, dirs, classes, f"'{spec.parent}' ({split})", skip_bad)
    return out


def _yolo_split(
    images: list[Path], dirs: list[Path], classes: list[str], source: str, skip_bad: bool
) -> DetectionSet:
    from PIL import Image

    problems, notes, items, negatives = _Problems(), [], [], 0
    for image in images:
        label = _label_path(image)
        if not label.is_file():
            items.append(Annotated(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
            negatives += 1
            continue
        try:
            with Image.open(image) as im:
                width, height = im.size
        except Exception:  # noqa: BLE001 - the image check names it with its reason
            width, height = 1, 1
        boxes, labels = [], []
        for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{label}:{n}"
            fields = line.split()
            if len(fields) != 5:
                problems.add(where, f"expected 'class cx cy w h', got {len(fields)} values")
                continue
            try:
                cls = int(fields[0])
                cx, cy, w, h = (float(v) for v in fields[1:])
            except ValueError:
                problems.add(where, f"not numbers: {line.strip()!r}")
                continue
            if not 0 <= cls < len(classes):
                problems.add(where, f"class {cls} is not in names (0..{len(classes) - 1})")
                continue
            if max(cx, cy, w, h) > 1 + OUTSIDE_TOLERANCE:
                problems.add(
                    where,
                    f"coordinates {cx:g} {cy:g} {w:g} {h:g} are not normalised (YOLO wants "
                    "fractions 0..1 of the image size, not pixels)",
                )
                continue
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * [
                width,
                height,
                width,
                height,
            ]
            checked = _check_box(box, width, height, where, problems)
            if checked is not None:
                boxes.append(checked)
                labels.append(cls)
        items.append(_annotated(image, boxes, labels))
        negatives += not boxes
    listed = {_label_path(i) for i in images}
    orphans = (
        sorted(p for d in dirs for p in _label_dir(d).rglob("*.txt") if p not in listed)
        if dirs
        else []
    )
    if orphans:
        notes.append(
            f"{len(orphans)} label file(s) have no image and were ignored, e.g. "
            + ", ".join(map(str, orphans[:3]))
        )
    problems.settle(source, skip_bad, notes)
    if negatives:
        notes.append(f"{negatives} image(s) without boxes are kept as negatives (background)")
    return DetectionSet(items, classes, source, notes)


def _label_dir(images_dir: Path) -> Path:
    return _label_path(images_dir / "x.png").parent


# ---- COCO ----------------------------------------------------------------------------------
def _coco_files(root: Path) -> dict[str, Path]:
    """{split: json} for the COCO layouts this reader knows."""
    if root.is_file() and root.suffix == ".json":
        return {"all": root}
    if not root.is_dir():
        return {}
    found: dict[str, Path] = {}
    for split in SPLIT_NAMES:
        for p in (
            root / "annotations" / f"instances_{split}.json",
            root / split / "instances.json",
        ):
            if p.is_file():
                found[split] = p
                break
    if not found:
        for p in sorted(root.rglob("*.json")):
            try:
                doc = json.loads(p.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(doc, dict) and {"images", "annotations", "categories"} <= set(doc):
                found["all"] = p
                break
    return found


def _find_image(name: str, json_path: Path, root: Path, split: str) -> Path | None:
    for folder in (
        json_path.parent,
        json_path.parent / "images",
        root / "images" / split,
        root / split / "images",
        root / split,
        root / "images",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def read_coco(root: Path, skip_bad: bool = False) -> dict[str, DetectionSet]:
    files = _coco_files(root)
    if not files:
        raise DataError(f"'{root}' has no COCO annotations (*.json)", fix="Add them")
    out: dict[str, DetectionSet] = {}
    classes: list[str] | None = None
    for split, path in files.items():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"'{path}' is not valid JSON ({e})", fix="Fix the file") from None
        missing = {"images", "annotations", "categories"} - set(doc)
        if missing:
            raise DataError(f"'{path}' has no {', '.join(sorted(missing))}", fix="Add them")
        cats = sorted(doc["categories"], key=lambda c: c["id"])
        names = [str(c["name"]) for c in cats]
        if classes is None:
            classes = names
        elif names != classes:
            raise DataError(
                f"the categories of '{path}' differ from the other splits'",
                fix="Use the same categories in every split",
            )
        out[split] = _coco_split(doc, path, root, split, classes, skip_bad)
    return out


def _coco_split(
    doc: dict[str, Any], path: Path, root: Path, split: str, classes: list[str], skip_bad: bool
) -> DetectionSet:
    index = {c["id"]: i for i, c in enumerate(sorted(doc["categories"], key=lambda c: c["id"]))}
    problems, notes = _Problems(), []
    images: dict[Any, dict[str, Any]] = {}
    missing_files = []
    for im in doc["images"]:
        found = _find_image(str(im["file_name"]), path, root, split)
        if found is None:
            missing_files.append(str(im["file_name"]))
            continue
        images[im["id"]] = {
            "path": found,
            "w": im.get("width"),
            "h": im.get("height"),
            "b": [],
            "l": [],
        }
    if missing_files:
        problems.add(
            str(path),
            f"{len(missing_files)} image(s) listed but not found, e.g. "
            + ", ".join(missing_files[:3]),
        )
    crowd = 0
    for ann in doc["annotations"]:
        where = f"{path} (annotation {ann.get('id', '?')})"
        target = images.get(ann.get("image_id"))
        if target is None:
            problems.add(where, f"image_id {ann.get('image_id')} has no image")
            continue
        if ann.get("iscrowd"):
            crowd += 1
            continue
        if ann.get("category_id") not in index:
            problems.add(where, f"category_id {ann.get('category_id')} is not in categories")
            continue
        if target["w"] is None or target["h"] is None:
            from PIL import Image

            with Image.open(target["path"]) as pic:
                target["w"], target["h"] = pic.size
        x, y, w, h = (float(v) for v in ann["bbox"])
        checked = _check_box(
            np.array([x, y, x + w, y + h]), target["w"], target["h"], where, problems
        )
        if checked is not None:
            target["b"].append(checked)
            target["l"].append(index[ann["category_id"]])
    problems.settle(f"'{path}'", skip_bad, notes)
    items = [_annotated(t["path"], t["b"], t["l"]) for t in images.values()]
    negatives = sum(1 for i in items if len(i.labels) == 0)
    if crowd:
        notes.append(f"{crowd} crowd annotation(s) (iscrowd=1) were left out")
    if negatives:
        notes.append(f"{negatives} image(s) without boxes are kept as negatives (background)")
    return DetectionSet(items, classes, f"'{path}'", notes)


# ---- shared ----------------------------------------------------------------------------------
def _check_box(
    box: np.ndarray, width: float, height: float, where: str, problems: _Problems
) -> np.ndarray | None:
    x0, y0, x1, y1 = box
    if not np.isfinite(box).all() or x1 - x0 <= 0 or y1 - y0 <= 0:
        problems.add(where, f"empty or degenerate box {_fmt(box)}")
        return None
    slack_x, slack_y = OUTSIDE_TOLERANCE * width, OUTSIDE_TOLERANCE * height
    if x0 < -slack_x or y0 < -slack_y or x1 > width + slack_x or y1 > height + slack_y:
        problems.add(where, f"box {_fmt(box)} lies outside the {width}x{height} image")
        return None
    clipped = np.array([max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)], np.float32)
    if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
        problems.add(where, f"box {_fmt(box)} is less than a pixel wide")
        return None
    return clipped


def _fmt(box: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in box) + ")"


def _annotated(path: Path, boxes: list[np.ndarray], labels: list[int]) -> Annotated:
    return Annotated(
        path,
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(labels, np.int64),
    )


def check_detection_images(data: DetectionSet, skip_bad: bool) -> tuple[DetectionSet, Any]:
    """Open every image (the same check as image classification); unreadable ones stop the
    run or, with skip_bad, are left out with their boxes."""
    listing = ImageList([i.path for i in data.items], None, data.source)
    check = check_images(listing, skip_bad=skip_bad)
    kept = [data.items[i] for i in check.good]
    return DetectionSet(kept, data.classes, data.source, data.notes + check.notes), check


class DetectionFiles(ItemSplit):
    """Images stretched to size x size with their boxes scaled alike: sample i is
    {"x": uint8 (C, S, S), "boxes": (N, 4) float, "labels": (N,) long, "scale": (2,)}, where
    scale = (S / width, S / height) maps original pixels to the net's."""

    def __init__(self, items: list[Annotated], size: int, mode: str) -> None:
        self.items, self.size, self.mode = list(items), size, mode

    def __len__(self) -> int:
        return len(self.items)

    def _sample(self, i: int) -> tuple[np.ndarray, dict[str, Any]]:
        item = self.items[i]
        pixels, (width, height) = load_stretched(item.path, self.size, self.mode)
        scale = np.array([self.size / width, self.size / height], np.float32)
        boxes = torch.from_numpy(item.boxes * np.tile(scale, 2))
        return pixels, {"boxes": boxes, "labels": torch.from_numpy(item.labels), "scale": scale}

    def load(self, i: int) -> dict[str, Any]:
        pixels, rest = self._sample(i)
        rest["scale"] = torch.from_numpy(rest["scale"])
        return {"x": torch.from_numpy(np.array(pixels)), **rest}

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "x": torch.stack([it["x"] for it in items]),
            "boxes": [it["boxes"] for it in items],
            "labels": [it["labels"] for it in items],
            "scale": torch.stack([it["scale"] for it in items]),
        }

    def take(self, idx: Any) -> dict[str, Any]:
        rows = [int(i) for i in idx]
        x = np.empty((len(rows), 1 if self.mode == "L" else 3, self.size, self.size), np.uint8)
        boxes, labels, scales = [], [], []
        for k, i in enumerate(rows):
            x[k], rest = self._sample(i)
            boxes.append(rest["boxes"])
            labels.append(rest["labels"])
            scales.append(rest["scale"])
        return {
            "x": torch.from_numpy(x),
            "boxes": boxes,
            "labels": labels,
            "scale": torch.from_numpy(np.stack(scales)),
        }

    def nbytes(self) -> int:
        return len(self) * (1 if self.mode == "L" else 3) * self.size * self.size

    def subset(self, idx: Iterable[int]) -> DetectionFiles:
        return DetectionFiles([self.items[i] for i in idx], self.size, self.mode)
