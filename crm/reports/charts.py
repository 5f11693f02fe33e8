"""Horizontal bar charts as SVG text, drawn on the server so pages need no script or CDN.

The SVG is shown through <img>, where it cannot run anything, and it uses presentation
attributes (fill=, font-size=) rather than style, so it obeys our Content-Security-Policy
even when opened on its own. Labels come from user data: they are escaped, stripped of the
characters XML 1.0 forbids (which would break the whole image) and shortened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from xml.sax.saxutils import escape

WIDTH: Final = 640
LABEL_WIDTH: Final = 210
VALUE_WIDTH: Final = 90
ROW_HEIGHT: Final = 24
BAR_HEIGHT: Final = 16
TOP: Final = 34
BOTTOM: Final = 8
MAX_LABEL: Final = 30

INK: Final = "#1b1f24"
BAR: Final = "#0b5cad"
GRID: Final = "#c9d0d8"
FONT: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

# Not allowed anywhere in an XML 1.0 document, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str, limit: int | None = None) -> str:
    """Text safe to place in SVG: no forbidden characters, at most ``limit`` characters, escaped."""
    text = _NOT_XML.sub("", str(text))
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return escape(text, {'"': "&quot;"})


def format_value(value: float, unit: str = "") -> str:
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    if unit == "%":
        return text + "%"
    if unit == "business hours":
        return text + " h"
    return text


def bar_chart(title: str, points: Sequence[tuple[str, float]], unit: str = "", empty: str = "Nothing to show") -> str:
    """An SVG document: one bar per (label, value), longest value spanning the plot width."""
    rows = max(len(points), 1)
    height = TOP + rows * ROW_HEIGHT + BOTTOM
    plot_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((value for _label, value in points), default=0) or 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" font-family="{FONT}" font-size="13" fill="{INK}">',
        f"<title>{clean_text(title)}</title>",
        f'<text x="0" y="18" font-size="15" font-weight="600">{clean_text(title, 80)}</text>',
        f'<line x1="{LABEL_WIDTH}" y1="{TOP - 6}" x2="{LABEL_WIDTH}" y2="{height - BOTTOM}" stroke="{GRID}"/>',
    ]
    if not points:
        parts.append(f'<text x="{LABEL_WIDTH + 8}" y="{TOP + 12}">{clean_text(empty)}</text>')
    for index, (label, value) in enumerate(points):
        y = TOP + index * ROW_HEIGHT
        length = 0.0 if largest <= 0 else max(value, 0) / largest * plot_width
        baseline = y + BAR_HEIGHT - 3
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{baseline}" text-anchor="end">{clean_text(label, MAX_LABEL)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{BAR}"/>',
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{baseline}">{clean_text(format_value(value, unit))}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
