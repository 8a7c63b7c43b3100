"""The explanation report: one self-contained HTML page (images embedded as data URLs),
plus the PNG files beside it."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from glassnet.data.files import atomic_write_text
from glassnet.explain.figures import save_png
from glassnet.explain.views import View

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;"
    "line-height:1.45}section{margin:2.2em 0;border-top:1px solid #ddd;padding-top:1em}"
    "img{max-width:100%;border:1px solid #eee}.how{color:#555}"
    ".check{font-family:monospace;font-size:0.9em;color:#2a6}"
    ".warn{color:#b00;font-weight:bold}h1.part{margin-top:2.5em;color:#234}"
)


def save_views(views: list[View], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for v in views:
        if v.png is None:
            stamp_verdict(v)
            v.png = save_png(v.figure, out_dir / f"{v.name}.png")


def stamp_verdict(v: View) -> None:
    """The faithfulness verdict written under the picture itself, so a PNG shared on its own
    still says whether the map can be trusted."""
    import textwrap

    width_in, height_in = v.figure.get_size_inches()
    per_row = max(40, int(width_in * 72 / (7 * 0.55)))  # characters of 7 pt text per line
    row = 7 * 1.35 / (height_in * 72)  # one line's height, as a share of the figure's
    top = -0.01
    for name, checks in v.verdicts():
        lines = textwrap.wrap(f"{name}: {checks['verdict']}", per_row)
        v.figure.text(
            0.01,
            top,
            "\n".join(lines),
            color="#2a7a3a" if checks.get("trustworthy") else "#b00020",
            fontsize=7,
            ha="left",
            va="top",
        )
        top -= row * len(lines) + row * 0.3  # the next verdict below this one's lines


def write_report(views: list[View], out_dir: Path, title: str, subtitle: str) -> Path:
    """One run's views as `out_dir/index.html` (+ PNGs)."""
    return write_sections([("", "", views)], out_dir, title, subtitle)


def write_sections(
    sections: list[tuple[str, str, list[View]]], out_dir: Path, title: str, subtitle: str
) -> Path:
    """Groups of views (heading, introduction, views) on one self-contained page."""
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>",
    ]
    for heading, intro, views in sections:
        save_views(views, out_dir)
        if heading:
            parts.append(f"<h1 class='part'>{html.escape(heading)}</h1><p>{html.escape(intro)}</p>")
        parts += [_section(v) for v in views]
    parts.append("</body></html>")
    path = out_dir / "index.html"
    atomic_write_text(path, "\n".join(parts))
    return path


def _section(v: View) -> str:
    assert v.png is not None
    data = base64.b64encode(v.png.read_bytes()).decode("ascii")
    checks = "".join(
        f"<div class='check'>{html.escape(k)}: {html.escape(_shown(val))}</div>"
        for k, val in v.checks.items()
    )
    if v.checks.get("trustworthy") is False:
        checks += f"<div class='warn'>Not trustworthy: {html.escape(v.checks['verdict'])}</div>"
    return (
        f"<section id='{v.name}'><h2>{html.escape(v.title)}</h2>"
        f"<p class='how'>{html.escape(v.how_to_read)}</p>"
        f"<img alt='{html.escape(v.title)}' src='data:image/png;base64,{data}'>"
        f"{checks}</section>"
    )


def _shown(value: object) -> str:
    """A check's value as a person reads it: 4 significant digits, not 0.00014197826385."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    return str(value)
