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


def category_colour(k: int, categories: int = 10) -> Any:
    """The colour of category k of `categories` (tab10, tab20 beyond ten): the same class or
    person gets the same colour in every view."""
    import matplotlib

    return matplotlib.colormaps["tab10" if categories <= 10 else "tab20"](k % 20)


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


def weights_figure(w: Any, title: str, max_filters: int = 32) -> Any:
    """A first layer's weights as people read them: conv filters (out, in, k, k) as tiles,
    each stretched to full contrast (colour when they see RGB); a matrix (out, in) as a
    heat map around zero, red positive and blue negative, on one symmetric scale."""
    import numpy as np

    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 4:
        n = min(w.shape[0], max_filters)
        cols = min(8, n)
        rows = -(-n // cols)
        fig, axes = new_figure(1.1 * cols, 1.1 * rows + 0.3, rows, cols)
        for ax in np.atleast_1d(axes).ravel():
            ax.axis("off")
        for i, ax in zip(range(n), np.atleast_1d(axes).ravel(), strict=False):
            f = w[i]
            f = (f - f.min()) / (f.max() - f.min() + 1e-12)
            ax.imshow(
                f.transpose(1, 2, 0) if f.shape[0] == 3 else f[0],
                cmap=None if f.shape[0] == 3 else "gray",
                interpolation="nearest",
            )
    else:
        m = w.reshape(w.shape[0], -1)
        fig, ax = new_figure(min(9.0, 1.5 + 0.12 * m.shape[1]), min(6.0, 1.2 + 0.05 * m.shape[0]))
        scale = float(np.abs(m).max()) or 1.0
        image = ax.imshow(m, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto")
        ax.set_xlabel("input")
        ax.set_ylabel("unit")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=9)
    return fig
