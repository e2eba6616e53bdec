"""One colour per backend, the same in the legend, the graph and the memory picture."""

from __future__ import annotations

import colorsys
from collections.abc import Iterable

__all__ = ["NEUTRAL", "PALETTE", "backend_colours", "tint"]

#: Tableau 10: distinct, print-friendly, readable with dark text on their tints.
PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
#: The colour of anything no backend produced (graph inputs) or that has no known backend.
NEUTRAL = "#9aa0a6"


def _extra_colour(k: int) -> str:
    """The ``k``-th colour beyond the palette: hues spread by the golden angle."""
    r, g, b = colorsys.hls_to_rgb((k * 0.618034) % 1.0, 0.5, 0.55)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def backend_colours(backends: Iterable[str]) -> dict[str, str]:
    """A colour for each backend, in the order given (duplicates keep their first colour)."""
    colours: dict[str, str] = {}
    for name in backends:
        if name not in colours:
            k = len(colours)
            colours[name] = PALETTE[k] if k < len(PALETTE) else _extra_colour(k)
    return colours


def tint(colour: str, amount: float) -> str:
    """``colour`` (``#rrggbb``) mixed with white; ``amount`` 0 keeps it, 1 gives white."""
    channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * amount) for c in channels]
    return "#" + "".join(f"{c:02x}" for c in mixed)
