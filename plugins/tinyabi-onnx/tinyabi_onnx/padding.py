"""ONNX's explicit padding in terms of the spec's SAME and VALID."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tinyabi_onnx.attributes import ints, text
from tinyabi_onnx.values import NotMapped


@dataclass(frozen=True)
class Padding:
    """A window's padding: the spec's ``mode`` when it says exactly the same, and ``pads``,
    the ONNX pads ``[top, left, bottom, right]`` actually applied. ``explicit`` means no spec
    mode matches: the pads must be applied by a PAD node before a VALID window."""

    mode: str
    pads: tuple[int, int, int, int]
    explicit: bool

    @property
    def any(self) -> bool:
        """Whether any padding is applied at all."""
        return any(self.pads)

    def paddings_nhwc(self) -> list[list[int]]:
        """The PAD node's paddings for an NHWC tensor."""
        top, left, bottom, right = self.pads
        return [[0, 0], [top, bottom], [left, right], [0, 0]]


def window_padding(
    size: Sequence[int], extent: Sequence[int], strides: Sequence[int], attrs: dict[str, Any]
) -> Padding:
    """Padding of a 2-D window of effective ``extent`` over an input of spatial ``size``."""
    same = []
    for h, k, s in zip(size, extent, strides):
        out = math.ceil(h / s)
        total = max((out - 1) * s + k - h, 0)
        same.append((total // 2, total - total // 2))
    same_pads = (same[0][0], same[1][0], same[0][1], same[1][1])
    auto = text(attrs, "auto_pad", "NOTSET")
    if auto == "VALID":
        return Padding("VALID", (0, 0, 0, 0), False)
    if auto == "SAME_UPPER":
        return Padding("SAME", same_pads, False)
    if auto == "SAME_LOWER":
        lower = (same[0][1], same[1][1], same[0][0], same[1][0])
        return (
            Padding("SAME", lower, False) if lower == same_pads else Padding("VALID", lower, True)
        )
    if auto != "NOTSET":
        raise NotMapped(f"auto_pad {auto!r} is not known")
    pads = tuple(ints(attrs, "pads", [0, 0, 0, 0]))
    if len(pads) != 4 or any(p < 0 for p in pads):
        raise NotMapped(f"pads {list(pads)} are not four non-negative numbers")
    top, left, bottom, right = pads
    if not any(pads):
        return Padding("VALID", (0, 0, 0, 0), False)
    if pads == same_pads:
        return Padding("SAME", same_pads, False)
    return Padding("VALID", (top, left, bottom, right), True)


def pair(attrs: dict[str, Any], name: str) -> tuple[int, int]:
    """A 2-D attribute such as strides or dilations (default 1, 1), positive."""
    values = ints(attrs, name, [1, 1])
    if len(values) != 2 or any(v < 1 for v in values):
        raise NotMapped(f"{name} {values} are not two positive numbers")
    return values[0], values[1]
