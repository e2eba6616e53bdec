"""CMSIS-NN parameters of each layer, computed when the code is generated.

Everything here is the arithmetic TFLite Micro's CMSIS-NN kernels do in their ``Prepare``:
``input_offset = -zero_point_in``, ``output_offset = zero_point_out``, per-channel Q31
multipliers with signed shifts (TFLite's double-rounding convention,
:func:`tinyabi.kernels.quant.quantize_multiplier`), the fused activation's clamp range
(:func:`tinyabi.kernels.quant.activation_range`), the top/left padding TFLite computes for SAME
and VALID, SOFTMAX's input multiplier and ``diff_min``, and ADD/MUL's parameters (shared with
the reference kernels, :mod:`tinyabi.kernels.elementwise`). The generated C code then holds
only literals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.kernels.elementwise import AddSubParams, MulParams, add_sub_params, mul_params
from tinyabi.kernels.quant import INT32_MAX, activation_range, quantize_multiplier

#: Integer bits of SOFTMAX's scaled input differences (Q5.26), as in TFLite.
SOFTMAX_DIFF_INTEGER_BITS = 5


@dataclass(frozen=True)
class Dims:
    """A ``cmsis_nn_dims``: n, h, w, c."""

    n: int
    h: int
    w: int
    c: int


@dataclass(frozen=True)
class Tile:
    """A ``cmsis_nn_tile`` (height and width)."""

    h: int
    w: int


@dataclass(frozen=True)
class ConvParams:
    """Everything a CONV_2D or DEPTHWISE_CONV_2D call needs besides the data pointers."""

    input_offset: int
    output_offset: int
    stride: Tile
    padding: Tile
    dilation: Tile
    act_min: int
    act_max: int
    multipliers: np.ndarray  # int32, one per output channel
    shifts: np.ndarray  # int32, one per output channel
    input_dims: Dims
    filter_dims: Dims
    bias_dims: Dims
    output_dims: Dims
    ch_mult: int = 1  # depthwise only


@dataclass(frozen=True)
class FullyConnectedParams:
    """An ``arm_fully_connected_s8`` call's parameters (per-tensor requantization)."""

    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: int
    shift: int
    input_dims: Dims
    filter_dims: Dims
    bias_dims: Dims
    output_dims: Dims

    @property
    def depth(self) -> int:
        """The accumulation depth (filter columns)."""
        return self.filter_dims.n

    @property
    def units(self) -> int:
        """The output depth (filter rows)."""
        return self.output_dims.c


@dataclass(frozen=True)
class PoolParams:
    """An ``arm_avgpool_s8`` / ``arm_max_pool_s8`` call's parameters."""

    stride: Tile
    padding: Tile
    act_min: int
    act_max: int
    input_dims: Dims
    filter_dims: Dims
    output_dims: Dims


@dataclass(frozen=True)
class SoftmaxParams:
    """An ``arm_softmax_s8`` call's parameters."""

    num_rows: int
    row_size: int
    multiplier: int
    shift: int
    diff_min: int


def _quant(t: Tensor) -> tuple[float, int]:
    assert t.quant is not None, f"tensor {t.name!r} is not quantized"
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _operands(node: Node, graph: Graph) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    tensors = graph.node_inputs(node)
    x, w = tensors[0], tensors[1]
    bias = tensors[2] if len(tensors) > 2 else None
    assert x is not None and w is not None
    return x, w, bias, graph.tensor(node.outputs[0])


def padding(in_size: int, kernel: int, stride: int, dilation: int, out_size: int) -> int:
    """The top (or left) padding TFLite uses: half the total, rounded down, never negative.

    ``total = (out - 1) * stride + (kernel - 1) * dilation + 1 - in`` for both SAME and VALID
    (VALID's total is never positive).
    """
    total = (out_size - 1) * stride + (kernel - 1) * dilation + 1 - in_size
    return max(total, 0) // 2


def window_padding(node: Node, x: Tensor, kh: int, kw: int, y: Tensor) -> Tile:
    """The padding of a windowed node (convolution or pooling) with input ``x`` (NHWC)."""
    a = node.attrs
    sh, sw = int(a.get("stride_h", 1)), int(a.get("stride_w", 1))
    dh, dw = int(a.get("dilation_h", 1)), int(a.get("dilation_w", 1))
    return Tile(
        padding(x.shape[1], kh, sh, dh, y.shape[1]), padding(x.shape[2], kw, sw, dw, y.shape[2])
    )


def requantization(
    s_in: float, filter_scales: np.ndarray, s_out: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multipliers, shifts)`` for ``s_in * s_w[c] / s_out`` (double precision,
    from the float32 scales, as TFLite Micro); a single filter scale covers every channel."""
    scales = np.broadcast_to(np.asarray(filter_scales, dtype=np.float64), (channels,))
    reals = s_in * scales / s_out
    pairs = [quantize_multiplier(float(r)) for r in reals]
    return (
        np.array([p[0] for p in pairs], dtype=np.int32),
        np.array([p[1] for p in pairs], dtype=np.int32),
    )


def _clamp(node: Node, y: Tensor) -> tuple[int, int]:
    scale, zero_point = _quant(y)
    lo, hi = activation_range(
        str(node.attrs.get("fused_activation", "NONE")), "int8", scale, zero_point
    )
    return int(lo), int(hi)


def conv_params(node: Node, graph: Graph) -> ConvParams:
    """CONV_2D (filter OHWI) or DEPTHWISE_CONV_2D (filter 1HWO) parameters."""
    x, w, _, y = _operands(node, graph)
    s_in, zp_in = _quant(x)
    s_out, zp_out = _quant(y)
    assert w.quant is not None
    channels = y.shape[3]
    multipliers, shifts = requantization(s_in, w.quant.scale, s_out, channels)
    lo, hi = _clamp(node, y)
    a = node.attrs
    kh, kw = w.shape[1], w.shape[2]
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    filter_dims = Dims(1, kh, kw, channels) if depthwise else Dims(channels, kh, kw, w.shape[3])
    return ConvParams(
        input_offset=-zp_in,
        output_offset=zp_out,
        stride=Tile(int(a.get("stride_h", 1)), int(a.get("stride_w", 1))),
        padding=window_padding(node, x, kh, kw, y),
        dilation=Tile(int(a.get("dilation_h", 1)), int(a.get("dilation_w", 1))),
        act_min=lo,
        act_max=hi,
        multipliers=multipliers,
        shifts=shifts,
        input_dims=Dims(*x.shape),
        filter_dims=filter_dims,
        bias_dims=Dims(1, 1, 1, channels),
        output_dims=Dims(*y.shape),
        ch_mult=int(a.get("depth_multiplier", 1)) if depthwise else 1,
    )


def fully_connected_params(node: Node, graph: Graph) -> FullyConnectedParams:
    """FULLY_CONNECTED parameters: the input read as ``[batches, depth]`` rows."""
    x, w, _, y = _operands(node, graph)
    s_in, zp_in = _quant(x)
    s_out, zp_out = _quant(y)
    assert w.quant is not None
    units, depth = w.shape
    batches = x.size // depth
    multipliers, shifts = requantization(s_in, w.quant.scale[:1], s_out, 1)
    lo, hi = _clamp(node, y)
    return FullyConnectedParams(
        input_offset=-zp_in,
        output_offset=zp_out,
        act_min=lo,
        act_max=hi,
        multiplier=int(multipliers[0]),
        shift=int(shifts[0]),
        input_dims=Dims(batches, 1, 1, depth),
        filter_dims=Dims(depth, 1, 1, units),
        bias_dims=Dims(1, 1, 1, units),
        output_dims=Dims(batches, 1, 1, units),
    )


def pool_params(node: Node, graph: Graph) -> PoolParams:
    """AVERAGE_POOL_2D / MAX_POOL_2D parameters."""
    x = graph.tensor(str(node.inputs[0]))
    y = graph.tensor(node.outputs[0])
    a = node.attrs
    kh, kw = int(a["filter_h"]), int(a["filter_w"])
    lo, hi = _clamp(node, y)
    return PoolParams(
        stride=Tile(int(a.get("stride_h", 1)), int(a.get("stride_w", 1))),
        padding=window_padding(node, x, kh, kw, y),
        act_min=lo,
        act_max=hi,
        input_dims=Dims(*x.shape),
        filter_dims=Dims(1, kh, kw, 1),
        output_dims=Dims(*y.shape),
    )


def softmax_params(node: Node, graph: Graph) -> SoftmaxParams:
    """SOFTMAX parameters over the last axis: TFLite's ``beta * s_in * 2**26`` as a Q31
    multiplier with a left shift, and ``diff_min = -floor(31 * 2**26 / 2**shift)``."""
    x = graph.tensor(str(node.inputs[0]))
    s_in, _ = _quant(x)
    beta = float(np.float32(node.attrs.get("beta", 1.0)))
    real = beta * s_in * float(1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
    multiplier, shift = quantize_multiplier(min(real, float(INT32_MAX)))
    limit = ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
    diff_min = -math.floor(limit / 2.0**shift)
    row_size = x.shape[-1]
    return SoftmaxParams(x.size // row_size, row_size, multiplier, shift, diff_min)


def add_params(node: Node, graph: Graph) -> AddSubParams:
    """ADD parameters as TFLite Micro's CMSIS-NN kernel fills them (left shift 20)."""
    a, b = (graph.tensor(str(n)) for n in node.inputs[:2])
    y = graph.tensor(node.outputs[0])
    activation = str(node.attrs.get("fused_activation", "NONE"))
    return add_sub_params(_quant(a), _quant(b), _quant(y), activation)


def elementwise_mul_params(node: Node, graph: Graph) -> MulParams:
    """MUL parameters as TFLite Micro's CMSIS-NN kernel fills them."""
    a, b = (graph.tensor(str(n)) for n in node.inputs[:2])
    y = graph.tensor(node.outputs[0])
    activation = str(node.attrs.get("fused_activation", "NONE"))
    return mul_params(_quant(a), _quant(b), _quant(y), activation)
