"""Reference kernels of the conv operator family: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED.

Three signatures:

* ``int8``: int8 activations, symmetric int8 weights (per tensor or per output channel), an
  optional int32 bias; bit-exact with TensorFlow Lite Micro. The accumulator is
  ``sum((x - zp_in) * w) + bias`` in int32, requantized with TFLite's fixed-point multiplier.
* ``float32``: everything float, accumulated in float64; within the spec tolerance of LiteRT.
* ``hybrid`` (CONV_2D and FULLY_CONNECTED): float32 activations, constant symmetric int8
  weights, float bias, float32 output. LiteRT's default CPU path (XNNPACK) runs these by
  quantizing the activations to int8 on the fly, asymmetrically, with one scale and zero point
  per row (per batch image for a convolution, per pixel for a pointwise one, per row for a fully
  connected layer), and rescaling the exact integer accumulator in float. The kernels reproduce
  that quantization step exactly (:func:`dynamic_quantize_rows`).

How they are fast:

* Convolutions are one matrix product over an im2col matrix taken from a single strided view of
  the padded input (a pointwise convolution uses the input as it is). Depthwise convolutions sum
  per-channel products over the kernel taps, on views whose rows are contiguous.
* Integer products go through BLAS in floating point. Every product and every partial sum is an
  integer, so the result is exact as long as the largest possible sum of absolute products stays
  below 2**24 (float32) or 2**53 (float64); ``prepare`` picks float32 when the actual weights
  allow it. The input zero point is not subtracted per element: ``sum((x - zp) * w)`` is computed
  as ``sum(x * w) - zp * sum(w)``, with the padding filled with ``zp`` and the second term folded
  into a per-channel constant together with the bias.
* Requantization (:class:`Requantizer`) is TFLite's double-rounding fixed-point multiply folded
  into an int64 multiply-add and shifts. Where the activation clamps negative results anyway
  (RELU, RELU6) and the magnitudes allow it, the multiplier is folded into float64 weights
  instead, so that only "add a constant, floor, clamp" is left per output (still exact).
* BLAS products are split into blocks small enough for OpenBLAS to run them on one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes.conv import conv_output_size, same_padding
from tinyabi.kernels.quant import (
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multipliers,
    wrap_int32,
)
from tinyabi.kernels.registry import Eval, kernel

Array = np.ndarray
FloatType = type[np.floating[Any]]

#: Every integer of magnitude below this is exact in float32 / float64.
_FLOAT32_EXACT = 2**24
_FLOAT64_EXACT = 2**53
_INT32_LIMIT = 2**31

_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")

#: Products are split into row blocks of at most this many multiply-adds. OpenBLAS hands
#: larger products to several threads, which for matrices this small costs more than it gains
#: and stalls badly when the cores are busy; other BLAS libraries are unaffected.
_GEMM_BLOCK = 1 << 18


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` for 2-D operands, computed in row blocks that BLAS runs on one thread."""
    m, k = a.shape
    n = b.shape[1]
    step = max(1, _GEMM_BLOCK // max(1, k * n))
    if m <= step:
        return a @ b
    out = np.empty((m, n), dtype=np.result_type(a, b))
    for start in range(0, m, step):
        np.matmul(a[start : start + step], b, out=out[start : start + step])
    return out


# --------------------------------------------------------------------------------------------
# Requantization
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequantPlan:
    """How one node turns its accumulators into int8 outputs.

    When ``scale`` is set, the caller multiplies its weights by it (per output channel) and
    accumulates in float64: the products then arrive already multiplied by the fixed-point
    multiplier and divided by the final power of two, exactly, and :attr:`finish` only adds a
    constant and takes the floor. Otherwise the caller accumulates plain integer products (in the
    float type :func:`_exact_dtype` picks) and :attr:`finish` does the integer arithmetic.
    """

    finish: Callable[[Array], Array]
    scale: Array | None = None

    def weights(self, weights: Array, dtype: FloatType, channels: tuple[int, ...] = (-1,)) -> Array:
        """``weights`` as the accumulation wants them; ``channels`` is the shape that lays the
        per-channel scale out along the weights' output-channel axes (broadcasting)."""
        if self.scale is None:
            return weights.astype(dtype)
        return weights.astype(np.float64) * self.scale.reshape(channels)

    def dtype(self, exact: FloatType) -> FloatType:
        """The accumulation type: float64 for a scaled plan, else the exact integer type."""
        return exact if self.scale is None else np.float64


class Requantizer:
    """TFLite's requantization of int32 accumulators to int8, exact and vectorized.

    For a real multiplier ``M`` encoded as ``(m, e)`` (Q31 ``m``, ``left = max(e, 0)``,
    ``right = max(-e, 0)``) TFLite computes, for an int32 accumulator ``v``::

        a = v * 2**left                      (wrapped to int32)
        h = (a * m + nudge) / 2**31          (rounding doubling high multiply)
        q = round_half_away(h / 2**right)    (rounding divide by a power of two)
        out = clamp(q + zp_out, lo, hi)

    With ``m >= 0`` the high multiply is ``floor((a * m + 2**30) / 2**31)`` for both signs of
    ``a``, and the rounding divide is ``floor((h + half - [h < 0]) / 2**right)`` with
    ``half = 2**(right - 1)`` (no correction when ``right == 0``); adding the output zero point
    before the last floor changes nothing. So, with ``M' = m << left`` and the per-channel
    ``offset`` (bias and zero-point correction) folded into constants::

        h = (acc * M' + offset * M' + 2**30) >> 31
        out = (h + (h >> 63) + half + zp_out * 2**right) >> right

    The sign correction ``h >> 63`` (-1 for negative ``h``) only ever lowers a non-positive
    ``q``; when the activation clamps everything below the output zero point anyway (RELU,
    RELU6) it cannot change an output, and the two shifts merge into one::

        out = (acc * M' + B) >> (31 + right)
        B = offset * M' + 2**30 + (half + zp * 2**right) * 2**31

    If moreover every ``|acc * M' + B|`` stays below 2**53, that is exact in float64: the
    weights are pre-multiplied by ``M' / 2**(31 + right)`` (a power-of-two rescaling, exact), the
    products accumulate exactly, and only ``floor(y + B / 2**(31 + right))`` remains.

    Everything fits in int64 as long as ``|v| * 2**left < 2**31`` (TFLite's int32 arithmetic
    does not wrap); :meth:`plan` checks that from a bound on the accumulator and falls back to
    the literal algorithm (:func:`multiply_by_quantized_multiplier`) otherwise.
    """

    def __init__(self, real_multipliers: Array, zero_point: int, lo: int, hi: int) -> None:
        mult, shift = quantize_multipliers(real_multipliers)
        self.mult, self.shift = mult, shift
        self.zero_point, self.lo, self.hi = int(zero_point), int(lo), int(hi)
        self.left = np.maximum(shift, 0)
        self.right = np.maximum(-shift, 0)
        self.scaled_mult = mult << self.left
        half = np.where(self.right > 0, np.left_shift(1, np.maximum(self.right - 1, 0)), 0)
        self.rounding = half + self.zero_point * (np.int64(1) << self.right)
        self.uniform = bool(np.all(mult == mult[0]) and np.all(shift == shift[0]))
        # The sign correction only matters when outputs below the zero point survive.
        self.signed = self.lo < self.zero_point and bool(np.any(self.right))

    def plan(self, raw_bound: Array, offset: Array, allow_scaled: bool = True) -> RequantPlan:
        """The plan for raw accumulators ``acc`` (exact integers, channels along the last axis)
        whose int8 outputs are those of ``acc + offset``.

        ``raw_bound[c]`` bounds ``|acc[..., c]|``; ``offset`` (int64, per channel) is added in
        int32 arithmetic like TFLite's bias. ``allow_scaled`` permits a scaled plan (see
        :class:`RequantPlan`), for callers that can pre-multiply their weights.
        """
        offset = np.asarray(offset, dtype=np.int64)
        raw_bound = np.asarray(raw_bound, dtype=np.float64)
        bound = (raw_bound + np.abs(offset)) * (2.0 ** self.left.astype(np.float64))
        if not bool(np.all(bound < _INT32_LIMIT)):
            return RequantPlan(self._literal(offset))
        if self.signed or int(self.right.max()) > 22:
            return RequantPlan(self._two_shifts(offset))
        # One shift: the rounding term joins the multiply-add (it stays below 2**30).
        base = offset * self.scaled_mult + (1 << 30) + (self.rounding << 31)
        total = self.right + 31
        reach = raw_bound * self.scaled_mult.astype(np.float64) + np.abs(base.astype(np.float64))
        if allow_scaled and bool(np.all(reach < _FLOAT64_EXACT / 2)):
            return self._scaled(base, total)
        return RequantPlan(self._one_shift(base, total))

    def _scaled(self, base: Array, total: Array) -> RequantPlan:
        lo, hi = self.lo, self.hi
        unit = np.ldexp(1.0, -total)
        shift = base.astype(np.float64) * unit

        def floor(acc: Array) -> Array:
            acc += shift
            np.floor(acc, out=acc)
            np.maximum(acc, lo, out=acc)
            np.minimum(acc, hi, out=acc)
            return acc.astype(np.int8)

        return RequantPlan(floor, self.scaled_mult.astype(np.float64) * unit)

    def _one_shift(self, base: Array, total: Array) -> Callable[[Array], Array]:
        lo, hi = self.lo, self.hi
        mult: Any = int(self.scaled_mult[0]) if self.uniform else self.scaled_mult
        shift: Any = int(total[0]) if self.uniform else total

        def one_shift(acc: Array) -> Array:
            t = acc.astype(np.int64)
            t *= mult
            t += base
            t >>= shift
            np.maximum(t, lo, out=t)
            np.minimum(t, hi, out=t)
            return t.astype(np.int8)

        return one_shift

    def _two_shifts(self, offset: Array) -> Callable[[Array], Array]:
        lo, hi = self.lo, self.hi
        uniform, signed = self.uniform, self.signed
        mult: Any = int(self.scaled_mult[0]) if uniform else self.scaled_mult
        right: Any = int(self.right[0]) if uniform else self.right
        rounding: Any = int(self.rounding[0]) if uniform else self.rounding
        base = offset * self.scaled_mult + (1 << 30)
        # Channels without a rounding divide (right == 0) take no sign correction.
        mask: Any = None if np.all(self.right) else np.where(self.right > 0, -1, 0)

        def two_shifts(acc: Array) -> Array:
            t = acc.astype(np.int64)
            t *= mult
            t += base
            t >>= 31
            if signed:
                sign = t >> 63
                if mask is not None:
                    sign &= mask
                t += sign
            t += rounding
            t >>= right
            np.maximum(t, lo, out=t)
            np.minimum(t, hi, out=t)
            return t.astype(np.int8)

        return two_shifts

    def _literal(self, offset: Array) -> Callable[[Array], Array]:
        lo, hi = self.lo, self.hi
        mult, shift, zero_point = self.mult, self.shift, self.zero_point

        def literal(acc: Array) -> Array:
            v = wrap_int32(acc.astype(np.int64) + offset)
            q = multiply_by_quantized_multiplier(v, mult, shift) + zero_point
            return np.minimum(np.maximum(q, lo), hi).astype(np.int8)

        return literal


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """Geometry of a 2-D windowed operator on an NHWC input."""

    n: int
    h: int
    w: int
    c: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    oh: int
    ow: int
    top: int
    bottom: int
    left: int
    right: int

    @property
    def padded(self) -> bool:
        return bool(self.top or self.bottom or self.left or self.right)

    @property
    def pointwise(self) -> bool:
        """A 1x1 kernel with stride 1 (hence no padding): the input is the im2col matrix."""
        return self.kh == 1 and self.kw == 1 and self.sh == 1 and self.sw == 1

    @property
    def padded_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.h + self.top + self.bottom, self.w + self.left + self.right, self.c)

    def pad(self, x: Array, dtype: FloatType, fill: float) -> Array:
        """``x`` in ``dtype``, surrounded by the padding (``fill``)."""
        if not self.padded:
            return x.astype(dtype)
        out = np.full(self.padded_shape, fill, dtype=dtype)
        out[:, self.top : self.top + self.h, self.left : self.left + self.w, :] = x
        return out

    def windows(self, xp: Array) -> Array:
        """A read-only view ``[N, OH, OW, KH, KW, C]`` of the padded input's windows."""
        s_n, s_h, s_w, s_c = xp.strides
        return as_strided(
            xp,
            shape=(self.n, self.oh, self.ow, self.kh, self.kw, self.c),
            strides=(s_n, s_h * self.sh, s_w * self.sw, s_h * self.dh, s_w * self.dw, s_c),
            writeable=False,
        )


def _window(node: Node, x: Tensor, kh: int, kw: int) -> _Window:
    attrs = node.attrs
    padding = attrs.get("padding")
    sh, sw = int(attrs.get("stride_h", 1)), int(attrs.get("stride_w", 1))
    dh, dw = int(attrs.get("dilation_h", 1)), int(attrs.get("dilation_w", 1))
    if padding not in ("SAME", "VALID") or min(sh, sw, dh, dw) < 1:
        raise GraphError(
            f"{node.describe()}: needs padding SAME/VALID and strides, dilations >= 1, got "
            f"padding={padding!r} stride=({sh}, {sw}) dilation=({dh}, {dw})"
        )
    if len(x.shape) != 4:
        raise GraphError(f"{node.describe()}: input must be NHWC (rank 4), got {list(x.shape)}")
    n, h, w, c = x.shape
    oh = conv_output_size(h, kh, sh, dh, padding)
    ow = conv_output_size(w, kw, sw, dw, padding)
    if oh < 1 or ow < 1:
        raise GraphError(f"{node.describe()}: the kernel does not fit the {h}x{w} input")
    top, bottom = same_padding(h, kh, sh, dh, oh)
    left, right = same_padding(w, kw, sw, dw, ow)
    return _Window(n, h, w, c, kh, kw, sh, sw, dh, dw, oh, ow, top, bottom, left, right)


# --------------------------------------------------------------------------------------------
# Operands and signatures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operands:
    """The tensors of a conv-family node, with the signature they form."""

    signature: str  # "int8", "float32" or "hybrid"
    x: Tensor
    w: Tensor
    bias: Tensor | None
    y: Tensor


def _operands(node: Node, graph: Graph, weights_axis: int, constant_weights: bool) -> _Operands:
    """Bind and check the node's tensors; ``constant_weights`` demands a constant filter and
    bias (convolutions). Raises :class:`GraphError` for anything no signature covers."""
    if not 2 <= len(node.inputs) <= 3 or len(node.outputs) != 1:
        raise GraphError(
            f"{node.describe()}: takes input, filter and an optional bias, and has one output"
        )
    tensors = graph.node_inputs(node)
    x, w = tensors[0], tensors[1]
    bias = tensors[2] if len(tensors) > 2 else None
    y = graph.tensor(node.outputs[0])
    if x is None or w is None:
        raise GraphError(f"{node.describe()}: input and filter are required")
    activation = node.attrs.get("fused_activation", "NONE")
    if activation not in _ACTIVATIONS:
        raise GraphError(
            f"{node.describe()}: fused activation {activation!r} is not supported "
            f"(supported: {', '.join(_ACTIVATIONS)})"
        )
    kinds = (x.dtype, w.dtype, None if bias is None else bias.dtype, y.dtype)
    if kinds in (("int8", "int8", "int32", "int8"), ("int8", "int8", None, "int8")):
        signature = "int8"
    elif kinds in (("float32",) * 4, ("float32", "float32", None, "float32")):
        signature = "float32"
    elif kinds in (("float32", "int8", "float32", "float32"), ("float32", "int8", None, "float32")):
        signature = "hybrid"
    else:
        raise GraphError(
            f"{node.describe()}: no signature takes input {kinds[0]}, filter {kinds[1]}, "
            f"bias {kinds[2]}, output {kinds[3]} (supported: int8 x int8 [+ int32] -> int8, "
            "float32 x float32 [+ float32] -> float32, hybrid float32 x int8 [+ float32] -> "
            "float32)"
        )
    if (constant_weights or signature == "hybrid") and not w.is_constant:
        raise GraphError(f"{node.describe()}: the filter must be a constant tensor")
    if constant_weights and bias is not None and not bias.is_constant:
        raise GraphError(f"{node.describe()}: the bias must be a constant tensor")
    if signature != "float32":
        _check_weight_quant(node, w, weights_axis)
    if signature == "int8":
        for role, t in (("input", x), ("output", y)):
            if t.quant is None or t.quant.per_axis:
                raise GraphError(
                    f"{node.describe()}: the int8 {role} needs per-tensor quantization"
                )
            if not -128 <= int(t.quant.zero_point[0]) <= 127:
                raise GraphError(f"{node.describe()}: the {role} zero point is outside int8")
    return _Operands(signature, x, w, bias, y)


def _check_weight_quant(node: Node, w: Tensor, axis: int) -> None:
    q = w.quant
    if q is None:
        raise GraphError(f"{node.describe()}: int8 filter {w.name!r} has no quantization")
    if np.any(q.zero_point != 0):
        raise GraphError(
            f"{node.describe()}: int8 filter {w.name!r} must be symmetric (zero points 0)"
        )
    if q.per_axis and (q.axis != axis or q.scale.size != w.shape[axis]):
        raise GraphError(
            f"{node.describe()}: per-channel filter scales must run along axis {axis} "
            f"({w.shape[axis]} scales), got {q.scale.size} along axis {q.axis}"
        )
    if not np.all(np.isfinite(q.scale)) or np.any(q.scale <= 0):
        raise GraphError(f"{node.describe()}: filter scales must be finite and positive")


def _check_output(node: Node, y: Tensor, expected: tuple[int, ...]) -> None:
    if y.shape != expected:
        raise GraphError(
            f"{node.describe()}: output shape {list(y.shape)} should be {list(expected)}"
        )


def _check_bias(node: Node, bias: Tensor | None, channels: int) -> None:
    if bias is not None and bias.shape != (channels,):
        raise GraphError(f"{node.describe()}: bias shape {list(bias.shape)} should be [{channels}]")


def _filter_scales(w: Tensor, channels: int) -> Array:
    """The filter scale of every output channel (float32 values widened to float64)."""
    assert w.quant is not None
    return np.broadcast_to(w.quant.scale.astype(np.float64), (channels,)).copy()


def _int8_requantizer(node: Node, ops: _Operands, multipliers: Array) -> Requantizer:
    assert ops.y.quant is not None
    zero_point = int(ops.y.quant.zero_point[0])
    lo, hi = activation_range(
        node.attrs.get("fused_activation", "NONE"), "int8", float(ops.y.quant.scale[0]), zero_point
    )
    return Requantizer(multipliers, zero_point, int(lo), int(hi))


def _exact_dtype(abs_column_sums: Array, max_input: float) -> FloatType:
    """float32 when every ``max_input * sum(|w|)`` of an output channel is below 2**24 (every
    partial sum of the products is then an exactly representable integer), else float64."""
    bound = float(np.max(abs_column_sums, initial=0.0)) * max_input
    if bound < _FLOAT32_EXACT:
        return np.float32
    if bound >= _FLOAT64_EXACT:  # pragma: no cover - would need > 2**37 products
        raise GraphError("accumulation too deep to compute exactly")
    return np.float64


def _abs_sums(weights: Array, axis: int | tuple[int, ...]) -> Array:
    return np.abs(weights.astype(np.int64)).sum(axis=axis)


def _activation_clamp(node: Node) -> tuple[float, float] | None:
    lo, hi = activation_range(node.attrs.get("fused_activation", "NONE"), "float32")
    return None if (lo, hi) == (-np.inf, np.inf) else (lo, hi)


def _float_finish(node: Node) -> Callable[[Array, Array | None], Array]:
    """float64 accumulators + optional bias -> float32 outputs with the fused activation."""
    clamp = _activation_clamp(node)

    def finish(acc: Array, bias: Array | None) -> Array:
        if bias is not None:
            acc += bias
        out = acc.astype(np.float32)
        if clamp is not None:
            np.maximum(out, clamp[0], out=out)
            np.minimum(out, clamp[1], out=out)
        return out

    return finish


# --------------------------------------------------------------------------------------------
# Hybrid: dynamic input quantization as LiteRT's default CPU path (XNNPACK) does it
# --------------------------------------------------------------------------------------------


def dynamic_quantize_rows(rows: Array) -> tuple[Array, Array]:
    """Quantize each row of a float32 ``[R, K]`` matrix to int8, asymmetrically.

    Returns ``(d, scale)``: ``d`` holds ``quantized - zero_point`` (integers, as float32, so
    padding with 0 means the real value 0) and ``scale`` the float32 dequantization scale of
    each row. In float32 arithmetic, per row: the range ``[lo, hi] = [min(0, min), max(0, max)]``
    is mapped onto [-128, 127] with ``k = 255 / (hi - lo)`` (1 for an all-zero row); the zero
    point is ``-128 - lo * k`` if ``(-128 + lo * k) + (127 + hi * k) > 0`` else ``127 - hi * k``,
    clamped to [-128, 127] and rounded to an integer (ties to even); values are multiplied by
    ``k``, clamped to the int8 range around the zero point and rounded to nearest, ties to even;
    the dequantization scale is ``1 / k``.
    """
    f32 = np.float32
    rows = np.asarray(rows, dtype=f32)
    lo = np.minimum(rows.min(axis=1, initial=np.inf), f32(0)).astype(f32)
    hi = np.maximum(rows.max(axis=1, initial=-np.inf), f32(0)).astype(f32)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        k = np.where(lo == hi, f32(1), f32(255) / (hi - lo)).astype(f32)
    descaled_lo = (lo * k).astype(f32)
    descaled_hi = (hi * k).astype(f32)
    low_side = (f32(-128) + descaled_lo) + (f32(127) + descaled_hi) > 0
    zero_point = np.where(low_side, f32(-128) - descaled_lo, f32(127) - descaled_hi).astype(f32)
    zero_point = np.rint(np.clip(zero_point, f32(-128), f32(127)))
    scale = (f32(1) / k).astype(f32)
    scaled = rows * k[:, None]
    np.clip(scaled, (f32(-128) - zero_point)[:, None], (f32(127) - zero_point)[:, None], out=scaled)
    return np.rint(scaled, out=scaled), scale


def _hybrid_finish(node: Node, w_scales: Array) -> Callable[[Array, Array, Array | None], Array]:
    clamp = _activation_clamp(node)
    w_scales32 = w_scales.astype(np.float32)

    def finish(acc: Array, row_scale: Array, bias: Array | None) -> Array:
        """``acc``: exact integer sums ``[rows, ..., O]``; ``row_scale`` broadcasts to it."""
        out = acc.astype(np.float32)
        out *= row_scale
        out *= w_scales32
        if bias is not None:
            out += bias
        if clamp is not None:
            np.maximum(out, clamp[0], out=out)
            np.minimum(out, clamp[1], out=out)
        return out

    return finish


#: Depthwise outputs up to this many pixels gather their taps for one einsum (see
#: :func:`_depthwise_accumulator`); larger ones loop over the taps.
_DEPTHWISE_GATHER_PIXELS = 256

#: After the zero point is removed, dynamically quantized inputs lie in [-255, 255].
_HYBRID_MAX_INPUT = 255


# --------------------------------------------------------------------------------------------
# CONV_2D
# --------------------------------------------------------------------------------------------


@kernel("CONV_2D")
def prepare_conv2d(node: Node, graph: Graph) -> Eval:
    """CONV_2D in the int8, float32 and hybrid signatures, grouped convolution included."""
    ops = _operands(node, graph, weights_axis=0, constant_weights=True)
    w_data = ops.w.data
    assert w_data is not None
    if len(ops.w.shape) != 4:
        raise GraphError(
            f"{node.describe()}: filter must be OHWI (rank 4), got {list(ops.w.shape)}"
        )
    o, kh, kw, ci = ops.w.shape
    win = _window(node, ops.x, kh, kw)
    if ci < 1 or win.c % ci != 0 or o % (win.c // ci) != 0:
        raise GraphError(
            f"{node.describe()}: filter input depth {ci} must divide the input depth {win.c} "
            f"into groups that also divide the {o} output channels"
        )
    _check_bias(node, ops.bias, o)
    expected = (win.n, win.oh, win.ow, o)
    _check_output(node, ops.y, expected)
    groups = win.c // ci
    og = o // groups
    k = kh * kw * ci
    rows = win.n * win.oh * win.ow
    # Weights as [groups, K, O / groups], rows ordered (ky, kx, i) like the im2col columns.
    w_int = w_data.reshape(groups, og, k).transpose(0, 2, 1)
    pointwise = win.pointwise

    def product(xp: Array, weights: Array) -> Array:
        """``[rows, O]`` accumulators from the padded input and the grouped weights."""
        if pointwise:
            cols = xp.reshape(rows, win.c)
        else:
            cols = win.windows(xp).reshape(rows, kh * kw * win.c)
        if groups == 1:
            return _matmul(cols, weights[0])
        grouped = cols.reshape(rows, kh * kw, groups, ci)
        out = np.empty((rows, groups, og), dtype=weights.dtype)
        for g in range(groups):
            out[:, g, :] = _matmul(grouped[:, :, g, :].reshape(rows, k), weights[g])
        return out.reshape(rows, o)

    if ops.signature == "int8":
        assert ops.x.quant is not None and ops.y.quant is not None
        zp_in = int(ops.x.quant.zero_point[0])
        abs_sums = _abs_sums(w_int, 1).reshape(o)
        s_in, s_out = float(ops.x.quant.scale[0]), float(ops.y.quant.scale[0])
        requant = _int8_requantizer(node, ops, s_in * _filter_scales(ops.w, o) / s_out)
        offset = -zp_in * w_int.astype(np.int64).sum(axis=1).reshape(o)
        if ops.bias is not None:
            assert ops.bias.data is not None
            offset = offset + ops.bias.data.astype(np.int64)
        plan = requant.plan(abs_sums * 128.0, offset)
        dtype = plan.dtype(_exact_dtype(abs_sums, 128))
        weights = plan.weights(w_int, dtype, (groups, 1, og))
        finish = plan.finish

        def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish(product(win.pad(x, dtype, zp_in), weights)).reshape(expected)]

        return run_int8

    if ops.signature == "float32":
        weights64 = w_int.astype(np.float64)
        finish_f = _float_finish(node)

        def run_float(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            acc = product(win.pad(x, np.float64, 0.0), weights64)
            bias = inputs[2] if len(inputs) > 2 else None
            return [finish_f(acc, bias).reshape(expected)]

        return run_float

    # hybrid: one dynamic quantization per batch image. XNNPACK runs an ungrouped pointwise
    # convolution (unless it has a single input and output channel) as a matrix product, and
    # then quantizes each pixel on its own.
    per_pixel = pointwise and groups == 1 and (win.c > 1 or o > 1)
    qrows = rows if per_pixel else win.n
    dtype_h = _exact_dtype(_abs_sums(w_int, 1), _HYBRID_MAX_INPUT)
    weights_h = w_int.astype(dtype_h)
    finish_h = _hybrid_finish(node, _filter_scales(ops.w, o))

    def run_hybrid(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        d, row_scale = dynamic_quantize_rows(x.reshape(qrows, -1))
        acc = product(win.pad(d.reshape(x.shape), dtype_h, 0.0), weights_h)
        bias = inputs[2] if len(inputs) > 2 else None
        out = finish_h(acc.reshape(qrows, -1, o), row_scale[:, None, None], bias)
        return [out.reshape(expected)]

    return run_hybrid


# --------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D
# --------------------------------------------------------------------------------------------


def _depthwise_accumulator(
    win: _Window, multiplier: int, weights: Array, dtype: FloatType
) -> Callable[[Array], Array]:
    """``f(xp) -> [N, OH, OW, O]``: the sum over kernel taps of the shifted padded input times
    the per-channel weights ``[KH, KW, O]``.

    Small outputs (up to ``_DEPTHWISE_GATHER_PIXELS`` pixels) gather the taps into one
    ``[taps, pixels, O]`` array and contract it with one ``einsum``. Larger ones loop over the
    taps: each tap is a view of the (channel-repeated) padded input whose rows ``OW * O`` are
    contiguous, multiplied by the tap's weights tiled along the row, so every numpy loop runs
    over whole rows; with a horizontal stride the padded input is first split into its
    ``stride_w`` column phases.
    """
    o = weights.shape[-1]
    if win.oh * win.ow <= _DEPTHWISE_GATHER_PIXELS:
        flat = weights.reshape(win.kh * win.kw, o).astype(dtype)
        gathered = (win.kh, win.kw, win.n, win.oh, win.ow, o)

        def gather(xp: Array) -> Array:
            if multiplier > 1:
                xp = np.repeat(xp, multiplier, axis=3)
            s_n, s_h, s_w, s_c = xp.strides
            view = as_strided(
                xp,
                shape=gathered,
                strides=(s_h * win.dh, s_w * win.dw, s_n, s_h * win.sh, s_w * win.sw, s_c),
                writeable=False,
            )
            cols = view.reshape(win.kh * win.kw, -1, o)
            return np.einsum("tpc,tc->pc", cols, flat).reshape(win.n, win.oh, win.ow, o)

        return gather
    width = win.ow * o
    tiled = [
        [np.tile(weights[ky, kx].astype(dtype), win.ow) for kx in range(win.kw)]
        for ky in range(win.kh)
    ]
    phases = sorted({(kx * win.dw) % win.sw for kx in range(win.kw)})
    shape = (win.n, win.oh, width)

    def accumulate(xp: Array) -> Array:
        if multiplier > 1:
            xp = np.repeat(xp, multiplier, axis=3)
        by_phase = {}
        for p in phases:
            part = xp[:, :, p :: win.sw, :] if win.sw > 1 else xp
            part = np.ascontiguousarray(part)
            by_phase[p] = part.reshape(win.n, part.shape[1], part.shape[2] * o)
        acc = np.empty(shape, dtype=dtype)
        scratch = np.empty(shape, dtype=dtype)
        first = True
        for ky in range(win.kh):
            y0 = ky * win.dh
            rows = slice(y0, y0 + (win.oh - 1) * win.sh + 1, win.sh)
            for kx in range(win.kw):
                col = kx * win.dw
                start = (col // win.sw) * o
                view = by_phase[col % win.sw][:, rows, start : start + width]
                if first:
                    np.multiply(view, tiled[ky][kx], out=acc)
                    first = False
                else:
                    np.multiply(view, tiled[ky][kx], out=scratch)
                    acc += scratch
        return acc.reshape(win.n, win.oh, win.ow, o)

    return accumulate


@kernel("DEPTHWISE_CONV_2D")
def prepare_depthwise_conv2d(node: Node, graph: Graph) -> Eval:
    """DEPTHWISE_CONV_2D in the int8 and float32 signatures, with any depth multiplier."""
    ops = _operands(node, graph, weights_axis=3, constant_weights=True)
    if ops.signature == "hybrid":
        raise GraphError(
            f"{node.describe()}: DEPTHWISE_CONV_2D has no hybrid signature (float32 input "
            "with an int8 filter)"
        )
    w_data = ops.w.data
    assert w_data is not None
    if len(ops.w.shape) != 4 or ops.w.shape[0] != 1:
        raise GraphError(
            f"{node.describe()}: filter must be [1, KH, KW, C * M], got {list(ops.w.shape)}"
        )
    _, kh, kw, o = ops.w.shape
    win = _window(node, ops.x, kh, kw)
    multiplier = int(node.attrs.get("depth_multiplier", 1))
    if multiplier < 1 or o != win.c * multiplier:
        raise GraphError(
            f"{node.describe()}: filter has {o} channels, but input depth {win.c} x "
            f"depth_multiplier {multiplier} = {win.c * multiplier}"
        )
    _check_bias(node, ops.bias, o)
    expected = (win.n, win.oh, win.ow, o)
    _check_output(node, ops.y, expected)
    taps = w_data[0]

    if ops.signature == "int8":
        assert ops.x.quant is not None and ops.y.quant is not None
        zp_in = int(ops.x.quant.zero_point[0])
        abs_sums = _abs_sums(taps, (0, 1))
        s_in, s_out = float(ops.x.quant.scale[0]), float(ops.y.quant.scale[0])
        requant = _int8_requantizer(node, ops, s_in * _filter_scales(ops.w, o) / s_out)
        offset = -zp_in * taps.astype(np.int64).sum(axis=(0, 1))
        if ops.bias is not None:
            assert ops.bias.data is not None
            offset = offset + ops.bias.data.astype(np.int64)
        plan = requant.plan(abs_sums * 128.0, offset)
        dtype = plan.dtype(_exact_dtype(abs_sums, 128))
        accumulate = _depthwise_accumulator(win, multiplier, plan.weights(taps, dtype), dtype)
        finish = plan.finish

        def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish(accumulate(win.pad(x, dtype, zp_in)))]

        return run_int8

    accumulate_f = _depthwise_accumulator(win, multiplier, taps, np.float64)
    finish_f = _float_finish(node)

    def run_float(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        acc = accumulate_f(win.pad(x, np.float64, 0.0))
        return [finish_f(acc, inputs[2] if len(inputs) > 2 else None)]

    return run_float


# --------------------------------------------------------------------------------------------
# FULLY_CONNECTED
# --------------------------------------------------------------------------------------------


@kernel("FULLY_CONNECTED")
def prepare_fully_connected(node: Node, graph: Graph) -> Eval:
    """FULLY_CONNECTED in the int8, float32 and hybrid signatures.

    The input is read as ``[-1, depth]`` rows; the filter is ``[units, depth]``. In the int8 and
    float32 signatures the filter and the bias may be computed at run time.
    """
    ops = _operands(node, graph, weights_axis=0, constant_weights=False)
    if len(ops.w.shape) != 2:
        raise GraphError(
            f"{node.describe()}: filter must be [units, depth], got {list(ops.w.shape)}"
        )
    units, depth = ops.w.shape
    if depth < 1 or ops.x.size % depth != 0:
        raise GraphError(
            f"{node.describe()}: input {list(ops.x.shape)} cannot be read as rows of the "
            f"filter depth {depth}"
        )
    batch = ops.x.size // depth
    if node.attrs.get("keep_num_dims", False):
        if ops.x.shape[-1] != depth:
            raise GraphError(
                f"{node.describe()}: with keep_num_dims the input's last dimension must be "
                f"the filter depth {depth}"
            )
        expected: tuple[int, ...] = (*ops.x.shape[:-1], units)
    else:
        expected = (batch, units)
    _check_output(node, ops.y, expected)
    _check_bias(node, ops.bias, units)
    if ops.signature == "int8":
        return _fully_connected_int8(node, ops, batch, depth, units, expected)
    if ops.signature == "float32":
        return _fully_connected_float(node, ops, batch, depth, expected)
    return _fully_connected_hybrid(node, ops, batch, depth, units, expected)


def _fully_connected_int8(
    node: Node, ops: _Operands, batch: int, depth: int, units: int, expected: tuple[int, ...]
) -> Eval:
    assert ops.x.quant is not None and ops.y.quant is not None and ops.w.quant is not None
    zp_in = int(ops.x.quant.zero_point[0])
    s_in, s_out = float(ops.x.quant.scale[0]), float(ops.y.quant.scale[0])
    if not ops.w.quant.per_axis:
        _check_fc_bias_scale(node, ops)
    requant = _int8_requantizer(node, ops, s_in * _filter_scales(ops.w, units) / s_out)
    in_shape = (batch, depth)
    w_const = ops.w.data
    bias_const = None if ops.bias is None else ops.bias.data
    if w_const is not None and (ops.bias is None or bias_const is not None):
        abs_sums = _abs_sums(w_const, 1)
        offset = -zp_in * w_const.astype(np.int64).sum(axis=1)
        if bias_const is not None:
            offset = offset + bias_const.astype(np.int64)
        plan = requant.plan(abs_sums * 128.0, offset)
        dtype = plan.dtype(_exact_dtype(abs_sums, 128))
        weights_t = np.ascontiguousarray(plan.weights(w_const.T, dtype))
        finish = plan.finish

        def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish(_matmul(x.reshape(in_shape).astype(dtype), weights_t)).reshape(expected)]

        return run_int8

    def run_int8_dynamic(inputs: Sequence[Array | None]) -> list[Array]:
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        abs_sums = _abs_sums(w, 1)
        dtype = _exact_dtype(abs_sums, 128)
        offset = -zp_in * w.astype(np.int64).sum(axis=1)
        if bias is not None:
            offset = offset + bias.astype(np.int64)
        acc = _matmul(x.reshape(in_shape).astype(dtype), w.T.astype(dtype))
        finish = requant.plan(abs_sums * 128.0, offset, allow_scaled=False).finish
        return [finish(acc).reshape(expected)]

    return run_int8_dynamic


def _fully_connected_float(
    node: Node, ops: _Operands, batch: int, depth: int, expected: tuple[int, ...]
) -> Eval:
    weights64 = None if ops.w.data is None else np.ascontiguousarray(ops.w.data.T, np.float64)
    finish = _float_finish(node)
    in_shape = (batch, depth)

    def run_float(inputs: Sequence[Array | None]) -> list[Array]:
        x, w = inputs[0], inputs[1]
        assert x is not None and w is not None
        wt = weights64 if weights64 is not None else w.T.astype(np.float64)
        acc = _matmul(x.reshape(in_shape).astype(np.float64), wt)
        return [finish(acc, inputs[2] if len(inputs) > 2 else None).reshape(expected)]

    return run_float


def _fully_connected_hybrid(
    node: Node, ops: _Operands, batch: int, depth: int, units: int, expected: tuple[int, ...]
) -> Eval:
    w_const = ops.w.data
    assert w_const is not None
    dtype = _exact_dtype(_abs_sums(w_const, 1), _HYBRID_MAX_INPUT)
    weights_t = np.ascontiguousarray(w_const.T.astype(dtype))
    finish = _hybrid_finish(node, _filter_scales(ops.w, units))
    in_shape = (batch, depth)

    def run_hybrid(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        d, row_scale = dynamic_quantize_rows(x.reshape(in_shape))
        acc = _matmul(d.astype(dtype, copy=False), weights_t)
        bias = inputs[2] if len(inputs) > 2 else None
        return [finish(acc, row_scale[:, None], bias).reshape(expected)]

    return run_hybrid


def _check_fc_bias_scale(node: Node, ops: _Operands) -> None:
    """TFLite refuses a per-tensor int8 FULLY_CONNECTED whose bias scale strays from
    ``input_scale * filter_scale`` by more than 2% of the output scale."""
    if ops.bias is None:
        return
    assert ops.x.quant is not None and ops.w.quant is not None and ops.y.quant is not None
    product = float(ops.x.quant.scale[0]) * float(ops.w.quant.scale[0])
    bias_scale = 0.0 if ops.bias.quant is None else float(ops.bias.quant.scale[0])
    if abs(product - bias_scale) / float(ops.y.quant.scale[0]) > 0.02:
        raise GraphError(
            f"{node.describe()}: bias scale {bias_scale:g} differs from input scale x filter "
            f"scale {product:g} by more than 2% of the output scale (TFLite refuses that)"
        )
