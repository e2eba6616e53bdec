"""CMSIS-NN parameters of each layer, computed when the code is generated.

The quantization parameters (``input_offset = -zero_point_in``, ``output_offset =
zero_point_out``, per-channel Q31 multipliers with signed shifts, the fused activation's clamp,
SOFTMAX's input multiplier and ``diff_min``, ADD/MUL's multipliers) come from
:mod:`tinyabi.quantization`, the functions the reference kernels use too; this module only
lays them out as CMSIS-NN's structs want them, together with the geometry (dimensions, strides,
the top/left padding TFLite computes for SAME and VALID). The generated C code then holds only
literals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyabi.ir import Graph, Node, Tensor
from tinyabi.quantization import activations as activations_quant
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization import elementwise as elementwise_quant
from tinyabi.quantization import pooling as pooling_quant
from tinyabi.quantization import softmax as softmax_quant
from tinyabi.quantization.elementwise import AddSubParams, MulParams


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
    accumulator: str = "int32"  # "int64" for 16x8 with an int64 bias or none


@dataclass(frozen=True)
class TransposeConvParams:
    """An ``arm_transpose_conv_s8`` call's parameters: ``padding`` is the top/left padding of
    the convolution being transposed, ``padding_offsets`` the odd element of each total."""

    input_offset: int
    output_offset: int
    stride: Tile
    padding: Tile
    padding_offsets: Tile
    act_min: int
    act_max: int
    multipliers: np.ndarray  # int32, one per output channel
    shifts: np.ndarray  # int32, one per output channel
    input_dims: Dims
    filter_dims: Dims
    bias_dims: Dims
    output_dims: Dims


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


def conv_params(node: Node, graph: Graph) -> ConvParams:
    """CONV_2D (filter OHWI) or DEPTHWISE_CONV_2D (filter 1HWO) parameters."""
    x, w, _, y = _operands(node, graph)
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    if depthwise:
        q = conv_quant.depthwise_conv_params(node, graph)
    else:
        q = conv_quant.conv_params(node, graph)
    channels = y.shape[3]
    a = node.attrs
    kh, kw = w.shape[1], w.shape[2]
    filter_dims = Dims(1, kh, kw, channels) if depthwise else Dims(channels, kh, kw, w.shape[3])
    return ConvParams(
        input_offset=q.input_offset,
        output_offset=q.output_offset,
        stride=Tile(int(a.get("stride_h", 1)), int(a.get("stride_w", 1))),
        padding=window_padding(node, x, kh, kw, y),
        dilation=Tile(int(a.get("dilation_h", 1)), int(a.get("dilation_w", 1))),
        act_min=q.act_min,
        act_max=q.act_max,
        multipliers=q.multipliers.astype(np.int32),
        shifts=q.shifts.astype(np.int32),
        input_dims=Dims(*x.shape),
        filter_dims=filter_dims,
        bias_dims=Dims(1, 1, 1, channels),
        output_dims=Dims(*y.shape),
        ch_mult=int(a.get("depth_multiplier", 1)) if depthwise else 1,
        accumulator=q.accumulator,
    )


def fully_connected_params(node: Node, graph: Graph) -> FullyConnectedParams:
    """FULLY_CONNECTED parameters: the input read as ``[batches, depth]`` rows (a per-tensor
    filter: the first channel's multiplier is every channel's)."""
    x, w, _, _ = _operands(node, graph)
    q = conv_quant.fully_connected_params(node, graph)
    units, depth = w.shape
    batches = x.size // depth
    return FullyConnectedParams(
        input_offset=q.input_offset,
        output_offset=q.output_offset,
        act_min=q.act_min,
        act_max=q.act_max,
        multiplier=int(q.multipliers[0]),
        shift=int(q.shifts[0]),
        input_dims=Dims(batches, 1, 1, depth),
        filter_dims=Dims(depth, 1, 1, units),
        bias_dims=Dims(1, 1, 1, units),
        output_dims=Dims(batches, 1, 1, units),
    )


def fully_connected_as_conv_params(node: Node, graph: Graph) -> ConvParams:
    """A FULLY_CONNECTED as the 1x1 convolution it is: ``[batches, depth]`` rows as a
    ``batches x 1 x 1`` image of ``depth`` channels, the filter ``[units, 1, 1, depth]``, the
    per-channel multipliers of :func:`tinyabi.quantization.conv.fully_connected_params`."""
    x, w, _, _ = _operands(node, graph)
    q = conv_quant.fully_connected_params(node, graph)
    units, depth = w.shape
    batches = x.size // depth
    one = Tile(1, 1)
    return ConvParams(
        input_offset=q.input_offset,
        output_offset=q.output_offset,
        stride=one,
        padding=Tile(0, 0),
        dilation=one,
        act_min=q.act_min,
        act_max=q.act_max,
        multipliers=np.broadcast_to(q.multipliers, (units,)).astype(np.int32),
        shifts=np.broadcast_to(q.shifts, (units,)).astype(np.int32),
        input_dims=Dims(batches, 1, 1, depth),
        filter_dims=Dims(units, 1, 1, depth),
        bias_dims=Dims(1, 1, 1, units),
        output_dims=Dims(batches, 1, 1, units),
        accumulator=q.accumulator,
    )


def pool_params(node: Node, graph: Graph) -> PoolParams:
    """AVERAGE_POOL_2D / MAX_POOL_2D parameters."""
    x = graph.tensor(str(node.inputs[0]))
    y = graph.tensor(node.outputs[0])
    a = node.attrs
    kh, kw = int(a["filter_h"]), int(a["filter_w"])
    q = pooling_quant.pool_params(node, graph)
    return PoolParams(
        stride=Tile(int(a.get("stride_h", 1)), int(a.get("stride_w", 1))),
        padding=window_padding(node, x, kh, kw, y),
        act_min=q.act_min,
        act_max=q.act_max,
        input_dims=Dims(*x.shape),
        filter_dims=Dims(1, kh, kw, 1),
        output_dims=Dims(*y.shape),
    )


def softmax_params(node: Node, graph: Graph) -> SoftmaxParams:
    """SOFTMAX parameters over the last axis (rows and the prepared multiplier, left shift and
    ``diff_min`` of :func:`tinyabi.quantization.softmax.softmax_params`)."""
    x = graph.tensor(str(node.inputs[0]))
    q = softmax_quant.softmax_params(node, graph)
    row_size = x.shape[-1]
    return SoftmaxParams(
        x.size // row_size, row_size, q.input_multiplier, q.input_left_shift, q.diff_min
    )


def add_params(node: Node, graph: Graph) -> AddSubParams:
    """ADD parameters as TFLite Micro's CMSIS-NN kernel fills them (left shift 20)."""
    return elementwise_quant.add_sub_params(node, graph)


def elementwise_mul_params(node: Node, graph: Graph) -> MulParams:
    """MUL parameters as TFLite Micro's CMSIS-NN kernel fills them."""
    return elementwise_quant.mul_params(node, graph)


@dataclass(frozen=True)
class Softmax16Params:
    """An ``arm_softmax_s16`` call's parameters (the tables are the model's constants)."""

    num_rows: int
    row_size: int
    multiplier: int
    shift: int


def softmax_s16_params(node: Node, graph: Graph) -> Softmax16Params:
    """int16 SOFTMAX over the last axis: rows and the multiplier and shift of
    :func:`tinyabi.quantization.softmax.softmax_int16_params`."""
    x = graph.tensor(str(node.inputs[0]))
    q = softmax_quant.softmax_int16_params(node, graph)
    row_size = x.shape[-1]
    return Softmax16Params(x.size // row_size, row_size, q.input_multiplier, q.input_shift)


def activation_s16_left_shift(node: Node, graph: Graph) -> int | None:
    """The ``left_shift`` of ``arm_nn_activation_s16`` for an int16 LOGISTIC or TANH, or
    ``None`` when the node's table input is not one it computes: that function scales the
    input by ``3 << left_shift`` without a right shift, so only TFLM's power-of-two path
    (:func:`tinyabi.quantization.activations.logistic_int16_params`: multiplier ``3 << k``,
    shift 0) maps onto it."""
    if node.op == "LOGISTIC":
        q = activations_quant.logistic_int16_params(node, graph)
    else:
        q = activations_quant.tanh_int16_params(node, graph)
    if q.input_left_shift != 0:
        return None
    for k in range(3):
        if q.input_multiplier == 3 << k:
            return k
    return None


def transpose_conv_params(node: Node, graph: Graph) -> TransposeConvParams:
    """TRANSPOSE_CONV (inputs output_shape, filter OHWI, input, bias) parameters: the padding is
    that of the convolution whose input is the output (``total = (H - 1) * stride + K - OH``,
    never negative, half of it rounded down before)."""
    tensors = graph.node_inputs(node)
    w, x = tensors[1], tensors[2]
    assert w is not None and x is not None
    y = graph.tensor(node.outputs[0])
    q = conv_quant.transpose_conv_params(node, graph)
    a = node.attrs
    stride = Tile(int(a.get("stride_h", 1)), int(a.get("stride_w", 1)))
    channels, kh, kw, depth = w.shape
    totals = [
        max((x.shape[axis] - 1) * s + k - y.shape[axis], 0)
        for axis, s, k in ((1, stride.h, kh), (2, stride.w, kw))
    ]
    return TransposeConvParams(
        input_offset=q.input_offset,
        output_offset=q.output_offset,
        stride=stride,
        padding=Tile(totals[0] // 2, totals[1] // 2),
        padding_offsets=Tile(totals[0] % 2, totals[1] % 2),
        act_min=q.act_min,
        act_max=q.act_max,
        multipliers=q.multipliers.astype(np.int32),
        shifts=q.shifts.astype(np.int32),
        input_dims=Dims(*x.shape),
        filter_dims=Dims(channels, kh, kw, depth),
        bias_dims=Dims(1, 1, 1, channels),
        output_dims=Dims(*y.shape),
    )
