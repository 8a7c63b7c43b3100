"""A face gallery on disk: `gallery.safetensors` (one unit-length mean embedding per
person) and `gallery.json` (names, picture counts, the run, its threshold): data, never
pickle. Written by `glassnet faces enrol`, read by `identify` and the explain views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from glassnet.data.files import atomic_write_json

GALLERY = "gallery"  # the run's own gallery folder


def write_gallery(
    folder: Path, people: list[str], means: np.ndarray, about: dict[str, Any]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {"embeddings": torch.from_numpy(np.asarray(means, dtype=np.float32))},
        str(folder / "gallery.safetensors"),
    )
    atomic_write_json(folder / "gallery.json", {"people": people, **about})
    return folder


def read_gallery(folder: Path) -> tuple[list[str], np.ndarray] | None:
    """(people, (P, D) embeddings), or None when the folder holds no gallery."""
    if not (folder / "gallery.safetensors").is_file():
        return None
    means = load_file(str(folder / "gallery.safetensors"))["embeddings"].numpy()
    people = json.loads((folder / "gallery.json").read_text(encoding="utf-8"))["people"]
    return list(people), means
