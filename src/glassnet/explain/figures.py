"""Matplotlib set-up shared by every view: headless backend, one look, atomic PNG writes."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here or in CI
matplotlib.rcParams["figure.max_open_warning"] = 0  # explain holds a page of figures at once
# Text from users may hold characters no bundled font draws; a box is drawn, say nothing.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
import matplotlib.pyplot as plt  # noqa: E402

from glassnet.data.files import atomic_write_bytes  # noqa: E402


def new_figure(width: float, height: float, rows: int = 1, cols: int = 1) -> tuple[Any, Any]:
    return (
        plt.subplots(rows, cols, figsize=(width, height), dpi=110, squeeze=False)
        if (rows * cols > 1)
        else plt.subplots(figsize=(width, height), dpi=110)
    )


def close_figures(views: list[Any]) -> None:
    """Release the figures of views that will not be saved (pyplot keeps them alive)."""
    for v in views:
        plt.close(v.figure)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps no reference)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def save_png(fig: Any, path: Path) -> Path:
    atomic_write_bytes(path, png_bytes(fig))
    return path
