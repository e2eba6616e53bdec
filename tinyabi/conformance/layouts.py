"""Per-operator layouts of random conformance cases: operand shapes, constant operands and the
attributes that shape them.

A layout fixes what depends on the operator's geometry (a convolution's filter shape and
padding, a MEAN's axes, a TRANSPOSE's permutation, ...). Everything that follows from the
signature alone (element types, quantization, random data of weights and inputs, remaining
enum attributes) is filled in generically by :mod:`tinyabi.conformance.cases`. Layouts need
not be valid in every detail: candidates the reference backend declines are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyabi.quantization.activations import INT16_SIGMOID_OUTPUT, LOGISTIC_OUTPUT, TANH_OUTPUT
from tinyabi.quantization.softmax import INT16_SOFTMAX_OUTPUT, SOFTMAX_OUTPUT
from tinyabi.spec import Signature

__all__ = [
    "LAYOUTS",
    "Layout",
    "LayoutFn",
    "Shape",
    "Slot",
    "binary",
    "concatenation",
    "conv2d",
    "depthwise_conv2d",
    "fully_connected",
    "layout_for",
    "leaky_relu",
    "logistic",
    "mean",
    "pad",
    "pool2d",
    "reshape",
    "softmax",
    "squeeze",
    "strided_slice",
    "tanh",
    "transpose",
    "unary",
]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Slot:
    """One input of the node: a spec operand name with a tensor shape.

    ``data`` is given for constant shape-like operands (axes, permutations, paddings...);
    ``constant`` without ``data`` asks for random constant data of the signature's type
    (weights and biases).
    """

    operand: str
    shape: Shape
    data: np.ndarray | None = None
    constant: bool = False


@dataclass
class Layout:
    """The inputs (``None`` for an omitted optional operand), attributes and fixed output
    quantizations of one candidate case."""

    inputs: list[Slot | None]
    attrs: dict[str, Any] = field(default_factory=dict)
    #: operand name -> (scale, zero point) the signature's semantics require.
    fixed_quant: dict[str, tuple[float, int]] = field(default_factory=dict)


LayoutFn = Callable[[np.random.Generator, Signature], Layout]


def _ints(values: list[int] | np.ndarray, shape: Shape | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.int32)
    return array.reshape(shape) if shape is not None else array


def _shape(rng: np.random.Generator, low_rank: int, high_rank: int, high_dim: int = 5) -> Shape:
    rank = int(rng.integers(low_rank, high_rank + 1))
    return tuple(int(d) for d in rng.integers(1, high_dim + 1, size=rank))


def _flag(rng: np.random.Generator, p: float = 0.5) -> bool:
    return bool(rng.random() < p)


# --- elementwise ---------------------------------------------------------------------------


def unary(rng: np.random.Generator, sig: Signature) -> Layout:
    """One input of random rank 0 to 4."""
    return Layout([Slot("input", _shape(rng, 0, 4, 6))])


def _fixed_output(
    sig: Signature, int8: tuple[float, int], int16: tuple[float, int]
) -> dict[str, tuple[float, int]]:
    """The output quantization a signature fixes: ``int8``'s or ``int16``'s, else none."""
    fixed = {"int8": int8, "int16": int16}.get(sig.operands["output"].dtype)
    return {"output": fixed} if fixed is not None else {}


def softmax(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 4, a random beta; int8 output fixed at (1/256, -128), int16 at (2^-15, 0)."""
    fixed = _fixed_output(sig, SOFTMAX_OUTPUT, INT16_SOFTMAX_OUTPUT)
    beta = float(rng.choice([1.0, float(rng.uniform(0.1, 2.0))]))
    return Layout([Slot("input", _shape(rng, 1, 4, 8))], {"beta": beta}, fixed)


def logistic(rng: np.random.Generator, sig: Signature) -> Layout:
    """Like :func:`unary`; int8 output fixed at (1/256, -128), int16 at (2^-15, 0)."""
    fixed = _fixed_output(sig, LOGISTIC_OUTPUT, INT16_SIGMOID_OUTPUT)
    return Layout([Slot("input", _shape(rng, 0, 4, 6))], {}, fixed)


def tanh(rng: np.random.Generator, sig: Signature) -> Layout:
    """Like :func:`unary`; int8 output fixed at (1/128, 0), int16 at (2^-15, 0)."""
    fixed = _fixed_output(sig, TANH_OUTPUT, INT16_SIGMOID_OUTPUT)
    return Layout([Slot("input", _shape(rng, 0, 4, 6))], {}, fixed)


def leaky_relu(rng: np.random.Generator, sig: Signature) -> Layout:
    """Like :func:`unary`, with a random alpha (sometimes negative or above 1)."""
    alpha = float(rng.choice([0.2, float(rng.uniform(-1.5, 1.5))]))
    return Layout([Slot("input", _shape(rng, 0, 4, 6))], {"alpha": alpha})


def binary(rng: np.random.Generator, sig: Signature) -> Layout:
    """Two inputs whose shapes broadcast: some extents 1, sometimes fewer leading axes."""
    base = _shape(rng, 0, 4, 5)
    other = tuple(1 if _flag(rng, 0.3) else d for d in base)
    other = other[int(rng.integers(0, len(other) + 1)) :] if _flag(rng, 0.3) else other
    first, second = (base, other) if _flag(rng) else (other, base)
    return Layout([Slot("input1", first), Slot("input2", second)])


# --- convolution and pooling ----------------------------------------------------------------


def _window(rng: np.random.Generator, size: int, kernel: int, dilation: int) -> str:
    fits = (kernel - 1) * dilation + 1 <= size
    return "VALID" if fits and _flag(rng) else "SAME"


def _window_attrs(
    rng: np.random.Generator, h: int, w: int, kh: int, kw: int, dil: int
) -> dict[str, Any]:
    padding = "VALID" if _window(rng, min(h, w), max(kh, kw), dil) == "VALID" else "SAME"
    return {
        "padding": padding,
        "stride_h": int(rng.integers(1, 3)),
        "stride_w": int(rng.integers(1, 3)),
    }


def conv2d(rng: np.random.Generator, sig: Signature) -> Layout:
    """NHWC input, OHWI filter (sometimes grouped), optional bias, strides, dilation."""
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
    groups = int(rng.choice([1, 1, 1, 2]))
    cf = int(rng.integers(1, 5))
    c = cf * groups
    co = groups * int(rng.integers(1, 5))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dil = int(rng.choice([1, 1, 2]))
    attrs = _window_attrs(rng, h, w, kh, kw, dil)
    attrs.update(dilation_h=dil, dilation_w=dil)
    bias = Slot("bias", (co,), constant=True) if _flag(rng, 0.8) else None
    return Layout(
        [Slot("input", (n, h, w, c)), Slot("filter", (co, kh, kw, cf), constant=True), bias], attrs
    )


def depthwise_conv2d(rng: np.random.Generator, sig: Signature) -> Layout:
    """NHWC input, 1HWO filter with a depth multiplier, optional bias."""
    h, w, c = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
    mult = int(rng.choice([1, 1, 2, 3]))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dil = int(rng.choice([1, 1, 2]))
    attrs = _window_attrs(rng, h, w, kh, kw, dil)
    attrs.update(dilation_h=dil, dilation_w=dil, depth_multiplier=mult)
    bias = Slot("bias", (c * mult,), constant=True) if _flag(rng, 0.8) else None
    filt = Slot("filter", (1, kh, kw, c * mult), constant=True)
    return Layout([Slot("input", (1, h, w, c)), filt, bias], attrs)


def fully_connected(rng: np.random.Generator, sig: Signature) -> Layout:
    """Input [..., D] of rank 1 to 4, filter [U, D], optional bias, keep_num_dims."""
    d, u = int(rng.integers(1, 17)), int(rng.integers(1, 9))
    lead = _shape(rng, 0, 3, 3)
    bias = Slot("bias", (u,), constant=True) if _flag(rng, 0.8) else None
    attrs: dict[str, Any] = {
        "keep_num_dims": _flag(rng, 0.3),
        "asymmetric_quantize_inputs": sig.name == "hybrid" and _flag(rng),
    }
    filt = Slot("filter", (u, d), constant=True)
    return Layout([Slot("input", (*lead, d)), filt, bias], attrs)


def transpose_conv(rng: np.random.Generator, sig: Signature) -> Layout:
    """Constant output shape that maps back onto the NHWC input, OHWI filter, optional bias."""
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 7)), int(rng.integers(1, 7))
    c, o = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    padding = "SAME" if _flag(rng) else "VALID"
    extent = (1, 1) if padding == "SAME" else (kh, kw)
    oh = (h - 1) * sh + extent[0] + int(rng.integers(0, sh))
    ow = (w - 1) * sw + extent[1] + int(rng.integers(0, sw))
    bias = Slot("bias", (o,), constant=True) if _flag(rng, 0.8) else None
    slots = [
        Slot("output_shape", (4,), data=_ints([n, oh, ow, o])),
        Slot("filter", (o, kh, kw, c), constant=True),
        Slot("input", (n, h, w, c)),
        bias,
    ]
    return Layout(slots, {"padding": padding, "stride_h": sh, "stride_w": sw})


def pool2d(rng: np.random.Generator, sig: Signature) -> Layout:
    """NHWC input with a window of 1 to 3 (sometimes larger than the input), strides 1 to 3."""
    h, w, c = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
    fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = "VALID" if fh <= h and fw <= w and _flag(rng) else "SAME"
    attrs = {
        "padding": padding,
        "filter_h": fh,
        "filter_w": fw,
        "stride_h": int(rng.integers(1, 4)),
        "stride_w": int(rng.integers(1, 4)),
    }
    return Layout([Slot("input", (int(rng.integers(1, 3)), h, w, c))], attrs)


# --- tensor manipulation --------------------------------------------------------------------


def mean(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 4, a random non-empty set of axes (sometimes negative), keep_dims."""
    shape = _shape(rng, 1, 4, 5)
    rank = len(shape)
    axes = rng.choice(rank, size=int(rng.integers(1, rank + 1)), replace=False)
    values = [int(a) - rank if _flag(rng, 0.3) else int(a) for a in axes]
    axis = Slot("axis", (len(values),), _ints(values))
    return Layout([Slot("input", shape), axis], {"keep_dims": _flag(rng)})


def pad(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 4, paddings 0 to 2 on either side of every axis."""
    shape = _shape(rng, 1, 4, 4)
    amounts = rng.integers(0, 3, size=(len(shape), 2))
    return Layout([Slot("input", shape), Slot("paddings", amounts.shape, _ints(amounts))])


def transpose(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 5, a random permutation."""
    shape = _shape(rng, 1, 5, 4)
    perm = rng.permutation(len(shape))
    return Layout([Slot("input", shape), Slot("perm", (len(shape),), _ints(perm))])


def strided_slice(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 4 with random begin/end/strides (negative indices and strides) and masks."""
    shape = _shape(rng, 1, 4, 6)
    begin, end, strides = [], [], []
    masks = {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}
    for i, n in enumerate(shape):
        s = int(rng.choice([1, 1, 2, -1]))
        b = int(rng.integers(0, n))
        e = int(rng.integers(b + 1, n + 1)) if s > 0 else int(rng.integers(-1, b))
        if e < 0:
            masks["end_mask"] |= 1 << i
            e = 0
        b, e = (b - n if _flag(rng, 0.3) else b), (e - n if _flag(rng, 0.2) and e > 0 else e)
        for mask, p in (("begin_mask", 0.15), ("end_mask", 0.15)):
            if _flag(rng, p):
                masks[mask] |= 1 << i
        if s > 0 and _flag(rng, 0.15):
            masks["shrink_axis_mask"] |= 1 << i
        begin.append(b)
        end.append(e)
        strides.append(s)
    r = (len(shape),)
    slots = [
        Slot("input", shape),
        Slot("begin", r, _ints(begin)),
        Slot("end", r, _ints(end)),
        Slot("strides", r, _ints(strides)),
    ]
    return Layout(list(slots), dict(masks))


def concatenation(rng: np.random.Generator, sig: Signature) -> Layout:
    """One to three inputs of rank 1 to 4 differing only along a random (maybe negative) axis."""
    base = list(_shape(rng, 1, 4, 4))
    rank = len(base)
    axis = int(rng.integers(-rank, rank))
    slots: list[Slot | None] = []
    for _ in range(int(rng.integers(1, 4))):
        shape = list(base)
        shape[axis] = int(rng.integers(1, 4))
        slots.append(Slot("input", tuple(shape)))
    return Layout(slots, {"axis": axis})


def _factor(rng: np.random.Generator, count: int, rank: int) -> list[int]:
    dims = []
    for _ in range(rank - 1):
        divisors = [d for d in range(1, count + 1) if count % d == 0]
        d = int(rng.choice(divisors))
        dims.append(d)
        count //= d
    return [*dims, count]


def reshape(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 4 to a random factorization of the element count, sometimes with a -1, from
    the shape operand or the ``new_shape`` attribute."""
    shape = _shape(rng, 1, 4, 4)
    target = _factor(rng, int(np.prod(shape)), int(rng.integers(1, 5)))
    if _flag(rng, 0.3):
        target[int(rng.integers(0, len(target)))] = -1
    if _flag(rng, 0.6):
        operand = Slot("shape", (len(target),), _ints(target))
        return Layout([Slot("input", shape), operand])
    return Layout([Slot("input", shape), None], {"new_shape": target})


def squeeze(rng: np.random.Generator, sig: Signature) -> Layout:
    """Rank 1 to 5 with some extents 1; squeeze some of them (maybe negative) or all."""
    shape = tuple(1 if _flag(rng, 0.4) else d for d in _shape(rng, 1, 5, 4))
    ones = [i for i, d in enumerate(shape) if d == 1]
    attrs: dict[str, Any] = {}
    if ones and _flag(rng, 0.7):
        chosen = [i for i in ones if _flag(rng, 0.6)] or ones[:1]
        attrs["squeeze_dims"] = [i - len(shape) if _flag(rng, 0.3) else i for i in chosen]
    return Layout([Slot("input", shape)], attrs)


LAYOUTS: dict[str, LayoutFn] = {
    "ADD": binary,
    "SUB": binary,
    "MUL": binary,
    "AVERAGE_POOL_2D": pool2d,
    "MAX_POOL_2D": pool2d,
    "CONV_2D": conv2d,
    "DEPTHWISE_CONV_2D": depthwise_conv2d,
    "FULLY_CONNECTED": fully_connected,
    "TRANSPOSE_CONV": transpose_conv,
    "CONCATENATION": concatenation,
    "MEAN": mean,
    "PAD": pad,
    "TRANSPOSE": transpose,
    "STRIDED_SLICE": strided_slice,
    "RESHAPE": reshape,
    "SQUEEZE": squeeze,
    "SOFTMAX": softmax,
    "LOGISTIC": logistic,
    "TANH": tanh,
    "LEAKY_RELU": leaky_relu,
}


def layout_for(op: str) -> LayoutFn:
    """The layout function of ``op``; single-input operators without one use :func:`unary`."""
    return LAYOUTS.get(op, unary)
