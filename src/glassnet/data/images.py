"""Image folders in: finding files, reading them safely, and the data check.

A data set is a folder with one sub-folder per class, or a CSV with `path,label` columns
(paths relative to the CSV). Every file is opened with Pillow (its decompression-bomb limit
stays on); unreadable files are listed by name. Images become one uint8 array
(N, C, S, S): resized on the shorter side to S and centre-cropped, in RGB or grayscale.
"""

from __future__ import annotations

import glob
import io
import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from glassnet.data.splits import ItemSplit, materialise
from glassnet.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TINY = 16  # images smaller than this (either side) are reported
FEW_PER_CLASS = 5  # classes with fewer images are reported
IMBALANCE = 10.0  # largest/smallest class ratio that is reported


@dataclass
class ImageList:
    paths: list[Path]
    labels: list[str] | None  # None for unlabelled inputs (predict)
    source: str


@dataclass
class ImageCheck:
    """What the data check found: usable files, bad files with reasons, notes."""

    good: list[int] = field(default_factory=list)
    bad: list[tuple[Path, str]] = field(default_factory=list)
    modes: Counter = field(default_factory=Counter)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_class_folders(root: Path) -> ImageList:
    """A folder with one sub-folder per class -> labelled image paths."""
    if not root.exists():
        raise DataError(f"image folder '{root}' does not exist", fix="Check the path")
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return list_csv(root)
        raise DataError(
            f"'{root}' is a file; expected a folder with one sub-folder per class "
            "(or a CSV of path,label)"
        )
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(
            f"'{root}' has no class sub-folders",
            fix="Put the images of each class in their own sub-folder, e.g. "
            f"{root}/cat/1.jpg and {root}/dog/2.jpg",
        )
    paths, labels = [], []
    for d in classes:
        files = sorted(p for p in d.rglob("*") if p.is_file() and is_image(p))
        if not files:
            raise DataError(
                f"class folder '{d}' has no images",
                fix=f"Add images ({', '.join(sorted(IMAGE_SUFFIXES))}) or remove the folder",
            )
        paths += files
        labels += [d.name] * len(files)
    if len(classes) < 2:
        raise DataError(
            f"'{root}' has a single class ('{classes[0].name}'): a classifier needs at least two",
            fix="Add a sub-folder for each other class",
        )
    return ImageList(paths, labels, f"'{root}'")


def list_csv(path: Path) -> ImageList:
    import pandas as pd

    from glassnet.data.tables import read_table, require_column

    frame = read_table(path)
    require_column(frame, "path", f"'{path}'", "path")
    require_column(frame, "label", f"'{path}'", "label")
    paths = [p if p.is_absolute() else path.parent / p for p in map(Path, frame["path"])]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} file(s) listed in '{path}' do not exist, e.g. "
            f"{', '.join(missing[:3])}",
            fix="Paths are relative to the CSV",
        )
    labels = [str(v) for v in frame["label"].astype(object).where(pd.notna(frame["label"]), "")]
    if len(set(labels)) < 2:
        raise DataError(f"'{path}' has a single label: a classifier needs at least two")
    return ImageList(paths, labels, f"'{path}'")


def expand_inputs(items: list[str | Path]) -> ImageList:
    """Files, folders (searched recursively) and glob patterns -> image paths (predict)."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.is_file() and is_image(q))
        elif p.is_file():
            paths.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True))
            if not matches:
                raise DataError(
                    f"'{item}' is not a file, a folder or a pattern that matches anything",
                    fix="Check the path",
                )
            paths += [m for m in matches if m.is_file() and is_image(m)]
    if not paths:
        raise DataError("no images found in the inputs", fix="Pass image files or folders")
    return ImageList(paths, None, "the inputs")


def _probe(path: Path) -> tuple[str, tuple[int, int]] | str:
    """(mode, size) of a readable image, or why it is not."""
    try:
        with open_image(path) as im:
            im.load()  # decodes fully: truncated and corrupt files fail here
            return im.mode, im.size
    except UnidentifiedImageError:
        return "not an image Pillow can read (wrong extension, or not an image at all)"
    except Image.DecompressionBombError as e:
        return f"refused as a possible decompression bomb ({e})"
    except (OSError, SyntaxError, ValueError) as e:
        return f"corrupt or truncated ({e})"


def check_images(images: ImageList, *, skip_bad: bool) -> ImageCheck:
    """Open every file; stop with the list of bad ones, or skip them with a note."""
    check = ImageCheck()
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        probes = list(pool.map(_probe, images.paths))
    for i, (path, probe) in enumerate(zip(images.paths, probes, strict=True)):
        if isinstance(probe, str):
            check.bad.append((path, probe))
        else:
            check.good.append(i)
            check.modes[probe[0]] += 1
            check.sizes.append(probe[1])
    if check.bad:
        listing = "; ".join(f"{p}: {why}" for p, why in check.bad[:10])
        more = f" (and {len(check.bad) - 10} more)" if len(check.bad) > 10 else ""
        if not skip_bad:
            raise DataError(
                f"{len(check.bad)} file(s) in {images.source} cannot be read: {listing}{more}",
                fix="Fix or remove them, or pass --skip-bad",
            )
        check.notes.append(f"skipped {len(check.bad)} unreadable file(s): {listing}{more}")
    if not check.good:
        raise DataError(f"none of the images in {images.source} can be read")
    if len(check.modes) > 1:
        shown = ", ".join(f"{m} x{n}" for m, n in check.modes.most_common())
        check.notes.append(f"mixed image modes ({shown}) were converted to one")
    if {"RGBA", "LA", "PA"} & set(check.modes):
        check.notes.append("transparent images were put on a white background")
    tiny = sum(1 for w, h in check.sizes if min(w, h) < TINY)
    if tiny:
        check.notes.append(f"{tiny} image(s) are smaller than {TINY} px and were upscaled")
    if images.labels is not None:
        counts = Counter(images.labels[i] for i in check.good)
        few = [f"{c} ({n})" for c, n in sorted(counts.items()) if n < FEW_PER_CLASS]
        if few:
            check.notes.append(
                f"classes with very few images: {', '.join(few)}; expect "
                "unreliable results for them"
            )
        if max(counts.values()) / min(counts.values()) > IMBALANCE:
            check.notes.append(
                "the classes are strongly imbalanced ("
                + ", ".join(f"{c}: {n}" for c, n in counts.most_common())
                + "); the loss weights classes by inverse frequency"
            )
    return check


def color_mode(modes: Counter) -> str:
    """'L' when every image is grayscale (or 1-bit / 16-bit gray), else 'RGB'."""
    gray = {"L", "1", "I", "I;16", "I;16B", "I;16L", "F", "LA"}
    return "L" if set(modes) <= gray else "RGB"


def load_stretched(path: Path, size: int, mode: str) -> tuple[np.ndarray, tuple[int, int]]:
    """(C, size, size) uint8 of the whole picture resized to a square (boxes scale with it),
    and its original (width, height)."""
    with open_image(path) as im:
        return stretch(im, size, mode)


def stretch(im: Image.Image, size: int, mode: str) -> tuple[np.ndarray, tuple[int, int]]:
    """`load_stretched` for a picture already open."""
    original = im.size
    arr = np.asarray(_to_mode(im, mode).resize((size, size), Image.Resampling.BILINEAR), np.uint8)
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)), original


def load_image(path: Path, size: int, mode: str) -> np.ndarray:
    """(C, size, size) uint8: shorter side resized to `size`, centre crop. A JPEG larger
    than needed is scaled down by its decoder (1/2, 1/4 or 1/8, never below `size`): a
    500x375 photo read at 64 px decodes 2.8x faster, within ~1 grey level of a full decode.
    An opaque 8-bit PNG read in RGB is decoded by OpenCV (`_opaque_png`): the same pixels."""
    pixels = _opaque_png(path) if mode == "RGB" else None
    if pixels is not None:
        if pixels.shape[:2] == (size, size):
            return pixels.transpose(2, 0, 1)
        return _fitted(Image.fromarray(pixels), size)
    with open_image(path) as im:
        if im.format == "JPEG":
            im.draft(mode, (size, size))
        if im.mode != mode:
            im = _to_mode(im, mode)
        return _fitted(im, size)


def _fitted(im: Image.Image, size: int) -> np.ndarray:
    """(C, size, size) uint8 of `im`: shorter side resized to `size`, centre crop."""
    w, h = im.size
    if (w, h) != (size, size):  # a folder already at the size skips two copies (~40 us)
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 8-bit gray, RGB and palette PNGs; those with alpha are composited on white by Pillow
_OPAQUE_COLOUR_TYPES = (0, 2, 3)


def _opaque_png(path: Any) -> np.ndarray | None:
    """(H, W, 3) RGB of an 8-bit PNG without transparency, decoded by OpenCV's libpng:
    pixel for pixel what Pillow gives (tested), in ~70 % of the time for a 64 px picture,
    and with the GIL released, so threads decode in parallel. `path` is a file named .png
    or the bytes of an upload (io.BytesIO, told apart by its signature). None for anything
    else (alpha, transparency, 16-bit, other formats, a damaged file, more pixels than
    Pillow's decompression-bomb limit): Pillow then reads it and says what is wrong."""
    if isinstance(path, io.BytesIO):
        data = path.getvalue()
    elif isinstance(path, (str, os.PathLike)) and str(path).lower().endswith(".png"):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
    else:
        return None
    if len(data) < 45 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    if data[-8:-4] != b"IEND":  # cut short: OpenCV would log a warning; Pillow says what
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[24] != 8 or data[25] not in _OPAQUE_COLOUR_TYPES:
        return None
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        return None
    if not _no_transparency_chunk(data):
        return None
    import cv2  # imported here: only this path needs it

    flags = cv2.IMREAD_IGNORE_ORIENTATION | getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if decoded is None or decoded.shape != (height, width, 3):
        return None
    if not hasattr(cv2, "IMREAD_COLOR_RGB"):  # OpenCV before 4.11 gives BGR
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return decoded


def _no_transparency_chunk(data: bytes) -> bool:
    """Whether the PNG's chunks before its pixel data hold no tRNS (transparency)."""
    pos = 8
    while pos + 8 <= len(data):
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            return True
        if kind == b"tRNS":
            return False
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")  # length, type, data, CRC
    return False


def open_image(path: Any) -> Image.Image:
    """`Image.open`, told the format its file name suggests: Pillow otherwise tries its
    format plugins in turn, half of a 64 px PNG's opening time (68 -> 37 us). A file whose
    name lies about its format is still opened by the full search."""
    named = isinstance(path, (str, os.PathLike))
    guess = Image.registered_extensions().get(Path(path).suffix.lower()) if named else None
    if guess is not None:
        try:
            return Image.open(path, formats=[guess])
        except UnidentifiedImageError:
            pass
    return Image.open(path)


class UnreadableImage(ValueError):
    """Bytes that do not decode to an image (the message says why)."""


def decode_image(data: bytes, size: int, mode: str, loader: Any = None) -> Any:
    """`load_image` (or another loader such as `load_stretched`) for bytes received over the
    network. Pillow's pixel limit stays on, and its warning level (MAX_IMAGE_PIXELS) is
    already a refusal here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return (loader or load_image)(io.BytesIO(data), size, mode)
    except UnidentifiedImageError:
        raise UnreadableImage("not an image format Pillow knows") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(
            f"more than {Image.MAX_IMAGE_PIXELS} pixels: refused as a possible decompression bomb"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UnreadableImage(f"corrupt or truncated: {e}") from None


def _to_mode(im: Image.Image, mode: str) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float gray -> 8-bit
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        im = Image.fromarray(((arr - lo) / (hi - lo or 1) * 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return im.convert(mode)


def load_images(paths: list[Path], size: int, mode: str) -> np.ndarray:
    """(N, C, size, size) uint8, decoded in parallel threads (Pillow releases the GIL)."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(lambda p: load_image(p, size, mode), paths))
    return np.stack(arrays)


class ImageFiles(ItemSplit):
    """Image files read one at a time (decoded by loader workers when streamed): sample i
    is {"x": uint8 (C, size, size)} plus {"y": class index} when labelled."""

    def __init__(
        self, paths: list[Path], size: int, mode: str, targets: list[int] | None = None
    ) -> None:
        self.paths, self.size, self.mode, self.targets = list(paths), size, mode, targets

    def __len__(self) -> int:
        return len(self.paths)

    def pixels(self, i: int) -> np.ndarray:
        """Sample i as (C, size, size) uint8 (a subclass may crop it first: faces)."""
        return load_image(self.paths[i], self.size, self.mode)

    def load(self, i: int) -> dict[str, torch.Tensor]:
        pixels = self.pixels(i)
        item = {"x": torch.from_numpy(np.array(pixels))}  # a writable copy
        if self.targets is not None:
            item["y"] = torch.tensor(self.targets[i])
        return item

    def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

    def take(self, idx: Any) -> dict[str, torch.Tensor]:
        """Rows `idx` decoded straight into one (B, C, S, S) array."""
        rows = [int(i) for i in idx]
        x = np.empty((len(rows), 1 if self.mode == "L" else 3, self.size, self.size), np.uint8)
        # One after another, also in the training process (no worker on a small CPU):
        # decoding in threads right after a step measured slower than in one thread, as
        # the training's idle threads still spin for their next kernel.
        for k, i in enumerate(rows):
            x[k] = self.pixels(i)
        batch = {"x": torch.from_numpy(x)}
        if self.targets is not None:
            batch["y"] = torch.tensor([self.targets[i] for i in rows])
        return batch

    def nbytes(self) -> int:
        channels = 1 if self.mode == "L" else 3
        return len(self) * channels * self.size * self.size

    def subset(self, idx: np.ndarray) -> ImageFiles:
        return type(self)(
            [self.paths[i] for i in idx],
            self.size,
            self.mode,
            None if self.targets is None else [self.targets[i] for i in idx],
        )


STATS_SAMPLE = 2000  # training images read to fit the normalisation


def stats_sample(train_idx: np.ndarray, seed: int) -> np.ndarray:
    """The training images the pixel statistics come from: all of them up to STATS_SAMPLE,
    else a seeded spread of that many."""
    if len(train_idx) <= STATS_SAMPLE:
        return train_idx
    return np.sort(np.random.default_rng(seed).choice(train_idx, STATS_SAMPLE, replace=False))


def pixel_stats(files: ItemSplit) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and spread of the pixels, in [0, 1]."""
    x = materialise(files).batch["x"].numpy()
    flat = x.reshape(len(x), x.shape[1], -1)
    return flat.mean(axis=(0, 2)) / 255, flat.std(axis=(0, 2)) / 255
