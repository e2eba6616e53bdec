"""Quantization parameters of the pooling family: AVERAGE_POOL_2D, MAX_POOL_2D and MEAN.

2-D pooling does not requantize: the output must be quantized like the input and only the
fused activation's clamp is derived. MEAN rescales the sum of ``n`` values by
``s_in / (s_out * n)``, folding ``1 / n`` into the quantized multiplier of ``s_in / s_out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.shapes.pooling import mean_axes
from tinyabi.quantization.fixed_point import activation_range, quantize_multiplier
from tinyabi.quantization.tensors import activation_name, per_tensor

__all__ = [
    "POOL_SCALE_TOLERANCE",
    "MeanParams",
    "PoolParams",
    "mean_multiplier",
    "mean_params",
    "pool_params",
]

#: Largest input/output scale difference TFLite Micro accepts for 2-D pooling.
POOL_SCALE_TOLERANCE = 1.0e-6


@dataclass(frozen=True)
class PoolParams:
    """Quantized 2-D pooling: the zero point shared by input and output, and the fused
    activation's clamp in output units."""

    zero_point: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MeanParams:
    """Quantized MEAN over ``count`` elements: ``out = sat(MBQM(sum - count * zp_in,
    multiplier, shift) + zp_out)``."""

    count: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int


def pool_params(node: Node, graph: Graph) -> PoolParams:
    """AVERAGE_POOL_2D / MAX_POOL_2D: the output must be quantized like the input (scales
    within :data:`POOL_SCALE_TOLERANCE`, equal zero points); ``(act_min, act_max)`` is the
    fused activation's range in output units."""
    x = graph.node_inputs(node)[0]
    if x is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes one input and one output")
    y = graph.tensor(node.outputs[0])
    s_in, zp_in = per_tensor(node, x, "input")
    s_out, zp_out = per_tensor(node, y, "output")
    if abs(s_in - s_out) > POOL_SCALE_TOLERANCE or zp_in != zp_out:
        raise GraphError(
            f"{node.describe()}: {x.dtype} pooling needs the output quantized like the input "
            f"(scale {s_in:g} vs {s_out:g}, zero point {zp_in} vs {zp_out})"
        )
    lo, hi = activation_range(activation_name(node), y.dtype, s_out, zp_out)
    return PoolParams(zp_out, int(lo), int(hi))


def mean_multiplier(real_scale: float, count: int) -> tuple[int, int]:
    """The quantized multiplier and shift of MEAN: ``real_scale / count`` as TFLite Micro
    derives it from the quantized multiplier of ``real_scale`` (``s_in / s_out``).

    With ``(M, s)`` the quantized multiplier of ``real_scale`` and
    ``k = min(floor(log2 count), 32, 31 + s)``: ``(M * 2**k // count, s - k)``.
    """
    multiplier, shift = quantize_multiplier(real_scale)
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def mean_params(node: Node, graph: Graph) -> MeanParams:
    """Quantized MEAN over the ``count`` elements its axes reduce: :func:`mean_multiplier` of
    ``s_in / s_out`` and ``count``."""
    axes = mean_axes(node, graph)
    x = graph.node_inputs(node)[0]
    if x is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes an input, the axes and one output")
    count = math.prod(x.shape[a] for a in axes)
    s_in, zp_in = per_tensor(node, x, "input")
    s_out, zp_out = per_tensor(node, graph.tensor(node.outputs[0]), "output")
    multiplier, shift = mean_multiplier(s_in / s_out, count)
    return MeanParams(count, zp_in, zp_out, multiplier, shift)
