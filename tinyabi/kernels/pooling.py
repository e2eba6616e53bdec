"""Reference kernels of the pooling operator family: AVERAGE_POOL_2D, MAX_POOL_2D and MEAN.

Integer kernels are bit-exact with TensorFlow Lite Micro:

* **2-D pooling** needs the output quantized like the input. Windows only see real input
  positions (padding never takes part). MAX_POOL_2D takes the largest value; AVERAGE_POOL_2D
  sums the raw quantized values in int32 and divides by the number of real positions in the
  window, rounding half away from zero. The fused activation clamps in the output's units.
* **MEAN** sums the raw values over the reduced axes (``n`` elements), subtracts
  ``n * zp_in``, and rescales by ``s_in / (s_out * n)``: the quantized multiplier of
  ``s_in / s_out`` has ``1 / n`` folded into it (multiplier ``M * 2**k // n`` with exponent
  lowered by ``k = min(floor(log2 n), 32, 31 + shift)``), applied with TFLite's double-rounding
  ``MultiplyByQuantizedMultiplier``; then ``zp_out`` is added and the result saturated.

Windows are reduced separably, first down the rows and then along the columns, as a handful of
strided whole-tensor operations (one per filter row and per filter column), over an input padded
with the dtype's lowest value (max) or zeros (average, where a precomputed count map gives each
window's number of real positions). Measured faster than reducing ``sliding_window_view``
windows, whose window axes are strided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor, numpy_dtype
from tinyabi.ir.shapes.pooling import (
    PoolGeometry,
    mean_axes,
    mean_shape,
    pool2d_shape,
    pool_geometry,
)
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.quantization import pooling as pooling_quant
from tinyabi.quantization.fixed_point import (
    activation_range,
    multiply_by_quantized_multiplier,
    wrap_int32,
)

__all__ = [
    "FLOAT_DIVIDE_COUNT_LIMIT",
    "prepare_average_pool_2d",
    "prepare_max_pool_2d",
    "prepare_mean",
]

#: Element types of the integer (quantized) signatures.
_INTEGER_TYPES = ("int8", "int16")
_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")
#: Window counts below this divide in float64 (exactly, see AVERAGE_POOL_2D); larger in int.
FLOAT_DIVIDE_COUNT_LIMIT = 2**21


# --------------------------------------------------------------------------------------------
# Shared checks
# --------------------------------------------------------------------------------------------


def _check_types(node: Node, x: Tensor, y: Tensor, allowed: Sequence[str]) -> None:
    if x.dtype not in allowed:
        raise GraphError(
            f"{node.describe()}: input type {x.dtype} is not supported (supported: {list(allowed)})"
        )
    if y.dtype != x.dtype:
        raise GraphError(
            f"{node.describe()}: output type {y.dtype} differs from input type {x.dtype}"
        )


def _check_shape(node: Node, y: Tensor, shape: tuple[int, ...]) -> None:
    if y.shape != shape:
        raise GraphError(
            f"{node.describe()}: output {y.name!r} has shape {list(y.shape)}, but the shape rule "
            f"of {node.op} gives {list(shape)}"
        )


def _activation(node: Node) -> str:
    act = node.attrs.get("fused_activation", "NONE")
    if act not in _ACTIVATIONS:
        raise GraphError(
            f"{node.describe()}: fused_activation {act!r} is not supported (supported: "
            f"{list(_ACTIVATIONS)})"
        )
    return str(act)


# --------------------------------------------------------------------------------------------
# 2-D pooling
# --------------------------------------------------------------------------------------------


def _pad_to_windows(x: np.ndarray, g: PoolGeometry, fill: Any) -> np.ndarray:
    """``x`` cut or padded (with ``fill``) to exactly the [span_h, span_w] rows/columns the
    windows cover; a view of ``x`` when no padding is needed."""
    rows = min(g.in_h, g.span_h - g.pad_top)
    cols = min(g.in_w, g.span_w - g.pad_left)
    if g.pad_top == 0 and g.pad_left == 0 and rows == g.span_h and cols == g.span_w:
        return x[:, :rows, :cols]
    padded = np.full((x.shape[0], g.span_h, g.span_w, x.shape[3]), fill, dtype=x.dtype)
    padded[:, g.pad_top : g.pad_top + rows, g.pad_left : g.pad_left + cols] = x[:, :rows, :cols]
    return padded


def _window_reduce(
    xp: np.ndarray, g: PoolGeometry, combine: np.ufunc, dtype: np.dtype[Any]
) -> np.ndarray:
    """Reduce every window of the padded input ``xp`` with the binary ufunc ``combine``.

    Separable: each output row first combines its ``filter_h`` input rows, then each output
    column combines ``filter_w`` of those columns, each step a handful of strided whole-tensor
    operations (a single reduction when there is one output row or column, as in global
    pooling). Returns [N, OH, OW, C] in ``dtype``.
    """
    if g.out_h == 1:
        rows = combine.reduce(xp, axis=1, dtype=dtype, keepdims=True)
    else:
        end = (g.out_h - 1) * g.stride_h + 1
        rows = xp[:, 0 : end : g.stride_h].astype(dtype)
        for ky in range(1, g.filter_h):
            combine(rows, xp[:, ky : ky + end : g.stride_h], out=rows)
    if g.out_w == 1:
        return np.asarray(combine.reduce(rows, axis=2, dtype=dtype, keepdims=True))
    end = (g.out_w - 1) * g.stride_w + 1
    out = rows[:, :, 0 : end : g.stride_w].copy()
    for kx in range(1, g.filter_w):
        combine(out, rows[:, :, kx : kx + end : g.stride_w], out=out)
    return out


def _valid_counts(g: PoolGeometry) -> np.ndarray:
    """Number of real (non-padding) input positions in each window, shape [1, OH, OW, 1]."""

    def along(out: int, stride: int, pad: int, window: int, size: int) -> np.ndarray:
        start = np.arange(out) * stride - pad
        return np.minimum(start + window, size) - np.maximum(start, 0)

    rows = along(g.out_h, g.stride_h, g.pad_top, g.filter_h, g.in_h)
    cols = along(g.out_w, g.stride_w, g.pad_left, g.filter_w, g.in_w)
    return (rows[:, None] * cols[None, :]).astype(np.int32)[None, :, :, None]


def _prepare_pool(node: Node, graph: Graph) -> tuple[Tensor, Tensor, PoolGeometry, float, float]:
    """Checks shared by both 2-D poolings; returns input, output, geometry, clamp range."""
    (shape,) = pool2d_shape(node, graph)  # checks the operands and attributes
    g = pool_geometry(node, graph)
    x = graph.node_inputs(node)[0]
    assert x is not None
    y = graph.node_outputs(node)[0]
    _check_types(node, x, y, (*_INTEGER_TYPES, "float32"))
    _check_shape(node, y, shape)
    act = _activation(node)
    if x.dtype == "float32":
        lo, hi = activation_range(act, "float32")
        return x, y, g, lo, hi
    p = pooling_quant.pool_params(node, graph)
    return x, y, g, float(p.act_min), float(p.act_max)


@kernel("MAX_POOL_2D")
def prepare_max_pool_2d(node: Node, graph: Graph) -> Eval:
    """MAX_POOL_2D: the largest real value in each window, then the fused activation."""
    x, _, g, lo, hi = _prepare_pool(node, graph)
    dtype = numpy_dtype(x.dtype)
    if x.dtype == "float32":
        fill: Any = -np.inf
        low, high = np.float32(lo), np.float32(hi)
    else:
        fill = np.iinfo(dtype).min
        low, high = dtype.type(lo), dtype.type(hi)

    def evaluate(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        assert inputs[0] is not None
        out = _window_reduce(_pad_to_windows(inputs[0], g, fill), g, np.maximum, dtype)
        return [np.clip(out, low, high, out=out)]

    return evaluate


@kernel("AVERAGE_POOL_2D")
def prepare_average_pool_2d(node: Node, graph: Graph) -> Eval:
    """AVERAGE_POOL_2D: the mean over each window's real positions, then the fused activation.

    Integer types: int32 sum of the raw quantized values, divided by the count rounding half
    away from zero (``(|sum| + count // 2) // count`` with the sum's sign).
    """
    x, y, g, lo, hi = _prepare_pool(node, graph)
    counts = _valid_counts(g)
    if x.dtype == "float32":
        low, high = np.float32(lo), np.float32(hi)

        def evaluate_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            assert inputs[0] is not None
            sums = _window_reduce(_pad_to_windows(inputs[0], g, 0), g, np.add, np.dtype(np.float64))
            out = (sums / counts).astype(np.float32)
            return [np.clip(out, low, high, out=out)]

        return evaluate_float

    out_dtype = numpy_dtype(y.dtype)
    halves = counts // 2
    # numpy divides integers by an array slowly. For |sum| + half < 2**31 and count < 2**21 the
    # float64 quotient is exact when integral and otherwise at least 1 / count > half an ulp
    # away from the next integer, so truncating it gives the integer quotient.
    float_divide = int(counts.max()) < FLOAT_DIVIDE_COUNT_LIMIT
    fcounts = counts.astype(np.float64)

    def evaluate_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        assert inputs[0] is not None
        sums = _window_reduce(_pad_to_windows(inputs[0], g, 0), g, np.add, np.dtype(np.int32))
        # Round half away from zero: (sum + sign(sum) * (count // 2)) / count, truncated.
        nudged = np.sign(sums)
        nudged *= halves
        nudged += sums
        if float_divide:
            quotient = nudged / fcounts
            np.clip(quotient, lo, hi, out=quotient)
            return [quotient.astype(out_dtype)]  # truncates toward zero
        magnitude = np.abs(nudged) // counts
        return [np.clip(np.sign(nudged) * magnitude, lo, hi).astype(out_dtype)]

    return evaluate_int


# --------------------------------------------------------------------------------------------
# MEAN
# --------------------------------------------------------------------------------------------


@kernel("MEAN")
def prepare_mean(node: Node, graph: Graph) -> Eval:
    """MEAN over the constant ``axis`` operand's axes, with or without ``keep_dims``."""
    axes = mean_axes(node, graph)
    (shape,) = mean_shape(node, graph)
    x = graph.node_inputs(node)[0]
    assert x is not None
    y = graph.node_outputs(node)[0]
    _check_types(node, x, y, (*_INTEGER_TYPES, "float32"))
    _check_shape(node, y, shape)
    count = math.prod(x.shape[a] for a in axes)

    if x.dtype == "float32":

        def evaluate_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            assert inputs[0] is not None
            sums = np.add.reduce(inputs[0], axis=axes, dtype=np.float64)
            return [np.asarray(sums / count, dtype=np.float32).reshape(shape)]

        return evaluate_float

    p = pooling_quant.mean_params(node, graph)
    multiplier, shift, zp_out = p.multiplier, p.shift, p.output_zero_point
    offset = p.input_zero_point * p.count
    info = np.iinfo(numpy_dtype(y.dtype))
    out_dtype = numpy_dtype(y.dtype)

    def evaluate_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        assert inputs[0] is not None
        sums = np.add.reduce(inputs[0], axis=axes, dtype=np.int64)
        scaled = multiply_by_quantized_multiplier(wrap_int32(sums - offset), multiplier, shift)
        out = np.clip(scaled + zp_out, info.min, info.max)
        return [np.asarray(out, dtype=out_dtype).reshape(shape)]

    return evaluate_int
