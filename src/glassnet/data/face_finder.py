"""Finding and aligning a face before it is embedded: OpenCV's Haar cascades (frontal face,
then the eyes inside its upper half), the picture turned so the eyes are level, the face
cropped with a margin. A picture must hold exactly one face; how many were found is said.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from glassnet.data.images import ImageFiles, _to_mode, open_image

MARGIN = 0.15  # of the face box on every side: chin, hairline and ears stay in the crop


@dataclass(frozen=True)
class FoundFace:
    x: float  # the face box in the picture's pixels
    y: float
    w: float
    h: float
    angle: float  # degrees the picture turns about the box centre to level the eyes


@cache
def _cascades() -> tuple[Any, Any]:
    import cv2  # opencv-python-headless < 5 (5.x ships no cascades)

    root = Path(cv2.data.haarcascades)
    face = cv2.CascadeClassifier(str(root / "haarcascade_frontalface_default.xml"))
    eye = cv2.CascadeClassifier(str(root / "haarcascade_eye.xml"))
    return face, eye


def find_faces(im: Image.Image) -> list[FoundFace]:
    """Every frontal face in the picture, largest first, with the angle of its eyes."""
    face_cascade, _ = _cascades()
    gray = np.asarray(_to_mode(im, "L"), dtype=np.uint8)
    smallest = max(20, min(gray.shape) // 8)
    boxes = face_cascade.detectMultiScale(gray, 1.1, 5, minSize=(smallest, smallest))
    return _levelled(gray, [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in boxes])


def levelled(im: Image.Image, boxes: Sequence[Sequence[float]]) -> list[FoundFace]:
    """Faces found by another finder (x0, y0, x1, y1 boxes: a detection run's), largest
    first, each with the angle of its eyes."""
    return _levelled(np.asarray(_to_mode(im, "L"), dtype=np.uint8), boxes)


def _levelled(gray: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[FoundFace]:
    _, eye_cascade = _cascades()
    found = []
    for x0, y0, x1, y1 in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        x, y, w, h = int(x0), int(y0), int(x1 - x0), int(y1 - y0)
        upper = gray[max(0, y) : max(0, y + h * 5 // 8), max(0, x) : max(0, x + w)]
        angle = _eye_angle(eye_cascade, upper) if upper.size else 0.0
        found.append(FoundFace(float(x0), float(y0), float(x1 - x0), float(y1 - y0), angle))
    return found


def _eye_angle(eye_cascade: Any, upper_face: np.ndarray) -> float:
    """The tilt of the line through the two largest eyes, one on each half; 0 without."""
    eyes = eye_cascade.detectMultiScale(upper_face, 1.1, 5)
    half = upper_face.shape[1] / 2
    left = [e for e in eyes if e[0] + e[2] / 2 < half]
    right = [e for e in eyes if e[0] + e[2] / 2 >= half]
    if not left or not right:
        return 0.0
    (lx, ly, lw, lh), (rx, ry, rw, rh) = (max(side, key=lambda e: e[2]) for side in (left, right))
    dy = (ry + rh / 2) - (ly + lh / 2)
    dx = (rx + rw / 2) - (lx + lw / 2)
    angle = math.degrees(math.atan2(dy, dx))
    return angle if abs(angle) <= 30 else 0.0  # a steeper line is a false eye


def crop_face(im: Image.Image, face: FoundFace, size: int, mode: str) -> np.ndarray:
    """(C, size, size) uint8: the picture turned about the face so the eyes are level, the
    face box with its margin cut out and resized."""
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    im = _to_mode(im, mode)
    if face.angle:
        im = im.rotate(face.angle, resample=Image.Resampling.BILINEAR, center=(cx, cy))
    half = max(face.w, face.h) * (0.5 + MARGIN)
    box = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    arr = np.asarray(im.crop(box).resize((size, size), Image.Resampling.BILINEAR), np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


class FaceFiles(ImageFiles):
    """Pictures read as the face found in each (the boxes are found once, when the data is
    checked): the face crop instead of the whole picture."""

    def __init__(
        self,
        paths: Sequence[Path],
        size: int,
        mode: str,
        targets: list[int] | None = None,
        faces: dict[str, FoundFace] | None = None,
    ) -> None:
        super().__init__(list(paths), size, mode, targets)
        self.faces = dict(faces or {})

    def pixels(self, i: int) -> np.ndarray:
        with open_image(self.paths[i]) as im:
            return crop_face(im, self.faces[str(self.paths[i])], self.size, self.mode)

    def subset(self, idx: np.ndarray) -> FaceFiles:
        paths = [self.paths[i] for i in idx]
        targets = None if self.targets is None else [self.targets[i] for i in idx]
        return FaceFiles(paths, self.size, self.mode, targets, self.faces)
