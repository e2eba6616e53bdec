"""Quantization parameters of the conv family: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED.

For an int8 node with input ``(s_in, zp_in)``, symmetric filter scales ``s_w[c]`` (one per
output channel, or one for all) and output ``(s_out, zp_out)``, every port computes::

    acc[c]  = sum((q_in - zp_in) * q_w[c]) + bias[c]          (int32)
    out[c]  = clamp(MBQM(acc[c], m[c], e[c]) + zp_out, act_min, act_max)

where ``(m[c], e[c]) = quantize_multiplier(s_in * s_w[c] / s_out)``, the real multiplier formed
in double precision from the float32 scales, and ``MBQM`` is
:func:`~tinyabi.quantization.fixed_point.multiply_by_quantized_multiplier`.

int16 activations with int8 weights (16x8): zero points 0, and the accumulator is 64-bit (an
int64 bias or none), requantized by
:func:`~tinyabi.quantization.fixed_point.multiply_by_quantized_multiplier_int64`, or 32-bit (an
int32 bias, CONV_2D and FULLY_CONNECTED only), requantized as int8's; see
:attr:`ConvQuantParams.accumulator`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.quantization.fixed_point import activation_range, quantize_multipliers
from tinyabi.quantization.tensors import activation_name, channel_scales, per_tensor

__all__ = [
    "BIAS_SCALE_TOLERANCE",
    "ConvQuantParams",
    "bias_scale_problem",
    "bias_scales",
    "conv_params",
    "depthwise_conv_params",
    "fully_connected_params",
    "transpose_conv_params",
]

#: The largest left shift TFLite's 64-bit requantization takes (its ``shift < 8``).
WIDE_MAX_SHIFT = 7

#: TFLite refuses a per-tensor FULLY_CONNECTED whose bias scale differs from
#: ``s_in * s_w`` by more than this fraction of the output scale.
BIAS_SCALE_TOLERANCE = 0.02


@dataclass(frozen=True, eq=False)
class ConvQuantParams:
    """The requantization of an int8 conv-family node.

    ``multipliers``/``shifts`` (int64, read-only, one per output channel; shift positive =
    left) encode ``s_in * s_w[c] / s_out``; ``real_multipliers`` are those reals;
    ``input_offset = -zp_in``, ``output_offset = zp_out``; ``act_min``/``act_max`` the clamp of
    the fused activation in output units. ``per_channel`` says whether the filter had one scale
    per output channel. ``accumulator`` is ``"int64"`` for int16 activations with an int64
    bias or none (requantized by ``multiply_by_quantized_multiplier_int64``), else
    ``"int32"``.
    """

    input_offset: int
    output_offset: int
    real_multipliers: np.ndarray
    multipliers: np.ndarray
    shifts: np.ndarray
    act_min: int
    act_max: int
    per_channel: bool
    accumulator: str = "int32"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _operands(node: Node, graph: Graph) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    tensors = graph.node_inputs(node)
    if len(tensors) < 2 or tensors[0] is None or tensors[1] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: needs an input, a filter and one output")
    bias = tensors[2] if len(tensors) > 2 else None
    return tensors[0], tensors[1], bias, graph.tensor(node.outputs[0])


def _params(node: Node, graph: Graph, channel_axis: int) -> ConvQuantParams:
    return _quantized(node, *_operands(node, graph), channel_axis)


def _quantized(
    node: Node, x: Tensor, w: Tensor, bias: Tensor | None, y: Tensor, channel_axis: int
) -> ConvQuantParams:
    if not 0 <= channel_axis < len(w.shape):
        raise GraphError(f"{node.describe()}: filter {w.name!r} has shape {list(w.shape)}")
    s_in, zp_in = per_tensor(node, x, "input", symmetric_int16=True)
    s_out, zp_out = per_tensor(node, y, "output", symmetric_int16=True)
    channels = int(w.shape[channel_axis])
    scales = channel_scales(node, w, channels, channel_axis)
    reals = s_in * scales / s_out
    multipliers, shifts = quantize_multipliers(reals)
    wide = x.dtype == "int16" and (bias is None or bias.dtype == "int64")
    if wide and int(shifts.max(initial=0)) > WIDE_MAX_SHIFT:
        raise GraphError(
            f"{node.describe()}: input scale x filter scale / output scale reaches "
            f"{float(reals.max()):g}; 64-bit requantization takes at most 2**{WIDE_MAX_SHIFT}"
        )
    lo, hi = activation_range(activation_name(node), y.dtype, s_out, zp_out)
    return ConvQuantParams(
        input_offset=-zp_in,
        output_offset=zp_out,
        real_multipliers=_readonly(reals),
        multipliers=_readonly(multipliers),
        shifts=_readonly(shifts),
        act_min=int(lo),
        act_max=int(hi),
        per_channel=bool(w.quant is not None and w.quant.per_axis),
        accumulator="int64" if wide else "int32",
    )


def conv_params(node: Node, graph: Graph) -> ConvQuantParams:
    """CONV_2D (filter OHWI, channels along axis 0): ``(m[c], e[c]) =
    quantize_multiplier(s_in * s_w[c] / s_out)``, ``input_offset = -zp_in``, ``output_offset =
    zp_out``, the activation clamp in output units."""
    return _params(node, graph, 0)


def depthwise_conv_params(node: Node, graph: Graph) -> ConvQuantParams:
    """DEPTHWISE_CONV_2D (filter 1HWO, channels along axis 3): the same formulas as
    :func:`conv_params`."""
    return _params(node, graph, 3)


def fully_connected_params(node: Node, graph: Graph) -> ConvQuantParams:
    """FULLY_CONNECTED (filter ``[units, depth]``, channels along axis 0): the same formulas as
    :func:`conv_params`; with a per-tensor filter the bias scale must also be within
    :data:`BIAS_SCALE_TOLERANCE` of the output scale from ``s_in * s_w`` (TFLite's rule,
    :func:`bias_scale_problem`)."""
    params = _params(node, graph, 0)
    if not params.per_channel:
        problem = bias_scale_problem(node, graph)
        if problem is not None:
            raise GraphError(f"{node.describe()}: {problem} (TFLite refuses that)")
    return params


def transpose_conv_params(node: Node, graph: Graph) -> ConvQuantParams:
    """TRANSPOSE_CONV (inputs output_shape, filter OHWI, input, bias; channels along axis 0):
    the same formulas as :func:`conv_params`."""
    tensors = graph.node_inputs(node)
    if len(tensors) < 3 or tensors[1] is None or tensors[2] is None or len(node.outputs) != 1:
        raise GraphError(
            f"{node.describe()}: needs an output shape, a filter, an input and one output"
        )
    bias = tensors[3] if len(tensors) > 3 else None
    return _quantized(node, tensors[2], tensors[1], bias, graph.tensor(node.outputs[0]), 0)


def bias_scales(input_scale: float, filter_scales: np.ndarray) -> np.ndarray:
    """The scale of an int32 bias: ``s_in * s_w[c]`` (float64 products of the float32 scales)."""
    return float(input_scale) * np.asarray(filter_scales, dtype=np.float32).astype(np.float64)


def bias_scale_problem(node: Node, graph: Graph) -> str | None:
    """Why a per-tensor node's bias scale is refused, or ``None``: TFLite requires
    ``|s_in * s_w - s_bias| / s_out <= 0.02``. Nodes without a bias pass."""
    x, w, bias, y = _operands(node, graph)
    if bias is None or x.quant is None or w.quant is None or y.quant is None:
        return None
    product = float(x.quant.scale[0]) * float(w.quant.scale[0])
    bias_scale = 0.0 if bias.quant is None else float(bias.quant.scale[0])
    if abs(product - bias_scale) / float(y.quant.scale[0]) > BIAS_SCALE_TOLERANCE:
        return (
            f"bias scale {bias_scale:g} differs from input scale x filter scale {product:g} by "
            "more than 2% of the output scale"
        )
    return None
