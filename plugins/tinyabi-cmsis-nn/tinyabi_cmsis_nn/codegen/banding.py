"""Row bands: running a convolution a few output rows at a time so its output may overlap its
input.

A DEPTHWISE_CONV_2D or CONV_2D reads for output row ``y`` only the input rows
``y * stride - pad_top`` to ``y * stride - pad_top + kernel_h - 1``. Called once per band of
output rows (a CMSIS-NN call on the input rows the band reads, with the top padding the band
sees; the bottom padding follows from the band's input height), a band's output may
overwrite input rows that no later band reads. A 1x1 CONV_2D on the fast path is banded the
same way over pixels (its input seen as ``H*W`` rows of one pixel: the same products). So
the output can start :func:`overlap` bytes below the input, and the pair needs that many bytes
more than the input rather than input plus output; run from the last band up, the output can
start :func:`overlap_above` bytes above the input instead. The arena planner (:mod:`.arena`)
picks one when the input dies at the layer. Every output row is computed once, by one band,
with the arithmetic of one call per layer: no extra MACs, and results stay bit-exact.

Bands trade RAM for instructions: the larger a band, the larger the overlap, but every call
repeats the kernel's set-up (per output channel in CMSIS-NN's matrix kernels, and a slow tail
when a band is not a multiple of the two to four pixels they work on at a time). By default
row-banded layers take at most :data:`MAX_ROW_CALLS` calls and 1x1 layers
:func:`pixels_per_call` pixels per call (at most :data:`MAX_CALLS` calls of at least
:data:`MIN_PIXELS` pixels). Which bands a layer may take is the backend's ``optimise``
option (:data:`Optimise`): ``"performance"`` (the default) offers those coarse bands only;
``"size"`` has :func:`band_options` add finer ones, which the planner takes where they make
the arena smaller, whatever they cost (on kws, 1 output row and 10 pixels per call take the
arena from 11,392 to 8,640 bytes for 6 to 13% more instructions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tinyabi_cmsis_nn.codegen.params import ConvParams

__all__ = [
    "OPTIMISE",
    "Bands",
    "Optimise",
    "band_options",
    "band_shapes",
    "bands_of",
    "overlap",
    "overlap_above",
    "pixels_per_call",
]

#: What the planner optimises for: ``"performance"`` takes only the coarse bands (few calls),
#: ``"size"`` also the finer ones where they make the arena smaller.
Optimise = Literal["performance", "size"]
#: The values of :data:`Optimise`, the default first.
OPTIMISE: tuple[Optimise, ...] = ("performance", "size")
#: Offsets in the arena are multiples of this.
ALIGNMENT = 16
#: Pixels per call of a banded 1x1 convolution: at least this many ...
MIN_PIXELS = 32
#: ... and enough that a layer takes at most this many calls.
MAX_CALLS = 16
#: Calls of a banded depthwise convolution at most (rows per call: as few as that allows).
MAX_ROW_CALLS = 8
#: Pixels per call of a 1x1 convolution's finer bands (when the planner needs the bytes),
#: besides one and two output rows of pixels.
FINE_PIXELS = (16, 8)
#: Output rows per call of a convolution's finer bands.
FINE_ROWS = (2, 1)


@dataclass(frozen=True)
class Bands:
    """The geometry of the generated loop: ``rows_per_call`` output rows per call. With
    ``pixels``, a 1x1 convolution seen as ``H*W`` rows of one pixel."""

    output_rows: int
    input_rows: int
    stride: int
    pad_top: int
    kernel_h: int
    input_row_bytes: int
    output_row_bytes: int
    rows_per_call: int = 1
    pixels: bool = False

    def starts(self) -> range:
        """The first output row of every band, in order."""
        return range(0, self.output_rows, self.rows_per_call)

    def stop(self, y: int) -> int:
        """One past the last output row of the band starting at ``y``."""
        return min(self.output_rows, y + self.rows_per_call)

    def first_row(self, y: int) -> int:
        """The first input row output row ``y`` reads (clipped at 0)."""
        return max(0, y * self.stride - self.pad_top)

    def end_row(self, y: int) -> int:
        """One past the last input row output row ``y`` reads (clipped at the input's end)."""
        return min(self.input_rows, y * self.stride - self.pad_top + self.kernel_h)


def pixels_per_call(pixels: int) -> int:
    """Pixels per call of a banded 1x1 convolution of ``pixels`` output pixels."""
    need = -(-pixels // MAX_CALLS)
    return max(MIN_PIXELS, -(-need // MIN_PIXELS) * MIN_PIXELS)


def bands_of(p: ConvParams, one_by_one: bool = False, per_call: int | None = None) -> Bands | None:
    """The bands of a convolution (depthwise or not: output rows), or, with ``one_by_one``, of
    a 1x1 convolution on the fast path (pixels), ``per_call`` rows or pixels per call (default:
    the coarse bands of the module docstring), or ``None`` when it cannot be banded (a batch,
    dilation, one band)."""
    i, o, f = p.input_dims, p.output_dims, p.filter_dims
    if i.n != 1 or p.dilation.h != 1 or p.dilation.w != 1:
        return None
    if one_by_one:
        pixels = o.h * o.w
        per_call = per_call or pixels_per_call(pixels)
        if pixels <= per_call:
            return None
        return Bands(pixels, pixels, 1, 0, 1, i.c, o.c, per_call, pixels=True)
    per_call = per_call or -(-o.h // MAX_ROW_CALLS)
    if o.h <= per_call:
        return None
    return Bands(o.h, i.h, p.stride.h, p.padding.h, f.h, i.w * i.c, o.w * o.c, per_call)


def band_options(
    p: ConvParams, one_by_one: bool = False, optimise: Optimise = "performance"
) -> list[Bands]:
    """The bands the planner may choose for a layer, coarse (fewest calls) first: the default
    bands, then, when ``optimise`` is ``"size"``, finer ones whose overlap is smaller
    (:data:`FINE_ROWS` output rows per call, or :data:`FINE_PIXELS` pixels and one or two
    output rows of pixels); empty when the layer cannot be banded."""
    width = p.output_dims.w
    finer = {*FINE_PIXELS, width, 2 * width} if one_by_one else set(FINE_ROWS)
    if optimise == "performance":
        finer = set()
    options: list[Bands] = []
    for per_call in [None, *sorted(finer, reverse=True)]:
        b = bands_of(p, one_by_one, per_call)
        if b is not None and all(b.rows_per_call < o.rows_per_call for o in options):
            options.append(b)
    return options


def band_shapes(b: Bands) -> list[tuple[int, int, int]]:
    """The distinct (input rows, output rows, top padding) of the calls of ``b`` (what each
    call passes as ``input_dims.h``, ``output_dims.h`` and ``padding.h``)."""
    shapes = {
        (b.end_row(b.stop(y) - 1) - b.first_row(y), b.stop(y) - y, b.first_row(y) - first)
        for y in b.starts()
        for first in [y * b.stride - b.pad_top]
    }
    return sorted(shapes)


def overlap(b: Bands) -> int:
    """How far below its input the output may start (bytes, aligned): the band starting at
    ``y`` writes up to its last row's end and must stay below the first input row it or any
    later band reads."""
    need = max(
        b.stop(y) * b.output_row_bytes - b.first_row(y) * b.input_row_bytes for y in b.starts()
    )
    return _aligned(need)


def overlap_above(b: Bands) -> int:
    """How far above its input's start the output may start when the bands run from the last
    up (bytes, aligned): the band starting at ``y`` writes from row ``y`` on and must stay
    above the last input row it or any earlier band reads."""
    need = max(
        b.end_row(b.stop(y) - 1) * b.input_row_bytes - y * b.output_row_bytes for y in b.starts()
    )
    return _aligned(need)


def _aligned(need: int) -> int:
    return (max(need, 0) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
