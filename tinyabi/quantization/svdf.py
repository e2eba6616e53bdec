"""SVDF (the ``tflite.SVDF`` extension operator): int8 input and output, an int16 state.

TFLite Micro's int8 SVDF runs in two requantized stages, with the float32 scales multiplied
in float32 (as TFLite Micro computes them) before they become fixed-point multipliers::

    state[.., -1] = clamp(MBQM(sum((in - zp_in) * w_feature), m1, e1), -32768, 32767)
        (m1, e1) = quantize_multiplier(float32(s_in * s_feature / s_state))
    out = clamp(MBQM(bias + sum over rank of sum(state * w_time), m2, e2) + zp_out, -128, 127)
        (m2, e2) = quantize_multiplier(float32(s_state * s_time / s_out))

The fused activation does not apply to the int8 output (TFLite Micro ignores it there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.quantization.fixed_point import quantize_multiplier
from tinyabi.quantization.tensors import per_tensor

__all__ = ["SvdfParams", "svdf_operands", "svdf_params"]


@dataclass(frozen=True)
class SvdfParams:
    """An int8 SVDF's fixed-point parameters (see the module docstring)."""

    rank: int
    input_zero_point: int
    output_zero_point: int
    feature_multiplier: int  # m1: input x feature weights -> state
    feature_shift: int  # e1 (positive = left)
    time_multiplier: int  # m2: state x time weights -> output
    time_shift: int  # e2


def svdf_operands(node: Node, graph: Graph) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor]:
    """``(input, weights_feature, weights_time, bias or None, activation_state)``."""
    tensors = graph.node_inputs(node)
    if len(tensors) != 5 or len(node.outputs) != 1:
        raise GraphError(
            f"{node.describe()}: SVDF takes input, feature weights, time weights, bias and "
            "state, and has one output"
        )
    x, feature, time, bias, state = tensors
    if x is None or feature is None or time is None or state is None:
        raise GraphError(f"{node.describe()}: SVDF lacks an input, weights or its state")
    return x, feature, time, bias, state


def _product(*scales: float) -> float:
    """``scales[0] * scales[1] / scales[2]`` in float32 arithmetic, widened."""
    a, b, c = (np.float32(s) for s in scales)
    with np.errstate(over="ignore", under="ignore"):
        return float(a * b / c)


def svdf_params(node: Node, graph: Graph) -> SvdfParams:
    """The int8 SVDF's parameters (int8 input and output, int8 feature weights, int16 time
    weights and state with zero point 0): the two multipliers of the module docstring, the
    zero points and the rank."""
    x, feature, time, _, state = svdf_operands(node, graph)
    y = graph.tensor(node.outputs[0])
    kinds = (x.dtype, feature.dtype, time.dtype, state.dtype, y.dtype)
    if kinds != ("int8", "int8", "int16", "int16", "int8"):
        raise GraphError(
            f"{node.describe()}: an int8 SVDF has int8 input, feature weights and output and "
            f"int16 time weights and state, not {', '.join(kinds)}"
        )
    s_in, zp_in = per_tensor(node, x, "input")
    s_feature, _ = per_tensor(node, feature, "feature weights")
    s_time, _ = per_tensor(node, time, "time weights")
    s_state, zp_state = per_tensor(node, state, "state")
    s_out, zp_out = per_tensor(node, y, "output")
    if zp_state != 0:
        raise GraphError(f"{node.describe()}: the state {state.name!r} has zero point {zp_state}")
    options = node.attrs.get("options")
    rank = int(options.get("rank", 0)) if isinstance(options, dict) else 0
    filters = feature.shape[0] if len(feature.shape) == 2 else 0
    if rank < 1 or filters % rank != 0:
        raise GraphError(f"{node.describe()}: rank {rank} does not divide {filters} filters")
    m1, e1 = quantize_multiplier(_product(s_in, s_feature, s_state))
    m2, e2 = quantize_multiplier(_product(s_state, s_time, s_out))
    return SvdfParams(rank, zp_in, zp_out, m1, e1, m2, e2)
