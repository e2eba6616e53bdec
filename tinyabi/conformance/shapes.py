"""Layouts of the ``shapes`` generator: size-1 and prime extents, SAME and VALID windows at every
remainder of the stride and dilation, and broadcasting across ranks; and wide layouts for the
``full-range`` generator.

The ``k``-th case of a signature walks through strides, dilations and remainders in turn, so the
default case count already covers each stride's remainders; extents are drawn from small primes
and 1. Operators without a layout here use their random one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyabi.conformance import layouts
from tinyabi.conformance.cases import _candidate
from tinyabi.conformance.layouts import Layout, Slot, layout_for
from tinyabi.ir.graph import Graph
from tinyabi.spec import OperatorSpec, Signature

__all__ = ["BROADCASTS", "EXTENTS", "UNARY_SHAPES", "WINDOWS", "make", "min_cases", "widened"]

#: Extents a shape case draws from: 1 and primes.
EXTENTS = (1, 2, 3, 5, 7, 11, 13)
#: Pairs of broadcasting shapes, ranks 0 to 5.
BROADCASTS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), (3,)),
    ((1,), (2, 3, 5)),
    ((2, 1, 3), (5, 1)),
    ((1, 1, 1, 1), (7,)),
    ((13,), (11, 1)),
    ((2, 1, 3, 1, 5), (1, 7, 1, 1)),
    ((5, 7), (5, 7)),
    ((1, 1), ()),
)
#: Shapes of one input for elementwise operators.
UNARY_SHAPES: tuple[tuple[int, ...], ...] = (
    (),
    (1,),
    (1, 1, 1, 1),
    (13,),
    (13, 1, 3),
    (2, 3, 5, 7),
    (1, 257),
)

_ELEMENTWISE = (layouts.unary, layouts.logistic, layouts.tanh, layouts.leaky_relu)


def _extent(rng: np.random.Generator, stride: int, remainder: int, low: int = 1) -> int:
    """An extent at least ``low`` whose remainder modulo ``stride`` is ``remainder``: 1 or a
    prime when one fits."""
    fits = [e for e in (*EXTENTS, 17, 19, 23) if e >= low and e % stride == remainder % stride]
    smallest = low + (remainder - low) % stride
    return int(rng.choice(fits)) if fits else smallest + stride * int(rng.integers(0, 2))


#: (padding, stride, extent remainder modulo the stride): every remainder of every stride.
WINDOWS = tuple(
    (padding, stride, remainder)
    for padding in ("SAME", "VALID")
    for stride in (1, 2, 3)
    for remainder in range(stride)
)
_WINDOW_LAYOUTS = (layouts.conv2d, layouts.depthwise_conv2d, layouts.pool2d)


def min_cases(op: OperatorSpec) -> int:
    """The fewest shape cases that cover ``op``'s variants: every entry of :data:`WINDOWS`
    for windowed operators."""
    return len(WINDOWS) if layout_for(op.name) in _WINDOW_LAYOUTS else 0


def _window(k: int) -> tuple[int, int, str, int]:
    """The stride, dilation, padding and extent remainder of the ``k``-th window case."""
    padding, stride, remainder = WINDOWS[k % len(WINDOWS)]
    return stride, 1 + k % 2, padding, remainder


def _conv(rng: np.random.Generator, sig: Signature, k: int, depthwise: bool) -> Layout:
    stride, dil, padding, remainder = _window(k)
    kh, kw = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 2, 3]))
    low = (max(kh, kw) - 1) * dil + 1 if padding == "VALID" else 1
    h = _extent(rng, stride, remainder, low)
    w = _extent(rng, stride, remainder + 1, low)
    c = int(rng.choice([1, 3, 5]))
    attrs = {
        "padding": padding,
        "stride_h": stride,
        "stride_w": stride,
        "dilation_h": dil,
        "dilation_w": dil,
    }
    if depthwise:
        mult = int(rng.choice([1, 2]))
        attrs["depth_multiplier"] = mult
        out = c * mult
        filt = Slot("filter", (1, kh, kw, out), constant=True)
    else:
        out = int(rng.choice([1, 2, 7]))
        filt = Slot("filter", (out, kh, kw, c), constant=True)
    bias = Slot("bias", (out,), constant=True) if k % 4 != 3 else None
    return Layout([Slot("input", (1, h, w, c)), filt, bias], attrs)


def _pool(rng: np.random.Generator, sig: Signature, k: int) -> Layout:
    stride, _, padding, remainder = _window(k)
    fh, fw = int(rng.choice([1, 2, 3, 5])), int(rng.choice([2, 3]))
    low = max(fh, fw) if padding == "VALID" else 1
    h, w = _extent(rng, stride, remainder, low), _extent(rng, stride, remainder + 1, low)
    attrs = {
        "padding": padding,
        "filter_h": fh,
        "filter_w": fw,
        "stride_h": stride,
        "stride_w": stride,
    }
    return Layout([Slot("input", (1, h, w, int(rng.choice([1, 3]))))], attrs)


def _fully_connected(rng: np.random.Generator, sig: Signature, k: int) -> Layout:
    d, u = int(rng.choice([1, 7, 13, 31])), int(rng.choice([1, 5, 11]))
    lead = ((), (1,), (3,), (1, 1), (2, 5))[k % 5]
    bias = Slot("bias", (u,), constant=True) if k % 3 != 2 else None
    attrs = {"keep_num_dims": k % 2 == 1, "asymmetric_quantize_inputs": False}
    return Layout([Slot("input", (*lead, d)), Slot("filter", (u, d), constant=True), bias], attrs)


def make(
    op: OperatorSpec, sig: Signature, rng: np.random.Generator, k: int
) -> tuple[Graph, dict[str, np.ndarray]] | None:
    """The ``k``-th shape case of ``sig``."""
    fn = layout_for(op.name)
    layout: Layout | None = None
    if fn is layouts.conv2d:
        layout = _conv(rng, sig, k, depthwise=False)
    elif fn is layouts.depthwise_conv2d:
        layout = _conv(rng, sig, k, depthwise=True)
    elif fn is layouts.pool2d:
        layout = _pool(rng, sig, k)
    elif fn is layouts.fully_connected:
        layout = _fully_connected(rng, sig, k)
    elif fn is layouts.binary:
        first, second = BROADCASTS[k % len(BROADCASTS)]
        if k // len(BROADCASTS) % 2:
            first, second = second, first
        layout = Layout([Slot("input1", first), Slot("input2", second)])
    elif fn in _ELEMENTWISE or fn is layouts.softmax:
        layout = _reshaped(fn(rng, sig), UNARY_SHAPES[k % len(UNARY_SHAPES)] or (1,))
    return _candidate(op, sig, rng, layout)


def _reshaped(layout: Layout, shape: tuple[int, ...]) -> Layout:
    """``layout`` with its first input given ``shape``."""
    first = layout.inputs[0]
    assert first is not None
    return Layout([Slot(first.operand, shape)], layout.attrs, layout.fixed_quant)


def widened(op: OperatorSpec, sig: Signature, rng: np.random.Generator, size: int) -> Layout | None:
    """For elementwise operators a layout whose inputs have ``size`` elements (every int8
    value fits in one case); ``None`` (the random layout) for the others."""
    fn: Callable[[np.random.Generator, Signature], Layout] = layout_for(op.name)
    rows = 4 if size % 4 == 0 else 1
    if fn in _ELEMENTWISE or fn is layouts.softmax:
        return _reshaped(fn(rng, sig), (rows, size // rows))
    if fn is layouts.binary:
        return Layout([Slot("input1", (16, size // 16)), Slot("input2", (16, size // 16))])
    return None
