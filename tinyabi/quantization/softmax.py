"""Quantization parameters of int8 and int16 SOFTMAX (computed once for the reference and every
port).

From the float32 ``beta`` and input scale ``s_in``, in double precision::

    B = beta * s_in * 2**26            (differences x - max in Q5.26); B must exceed 1
    (m, e) = quantize_multiplier(min(B, 2**31 - 1))          (so e >= 1)
    diff_min = -floor(31 * 2**26 / 2**e)

Differences below ``diff_min`` contribute nothing and give the lowest output. The output is
fixed at scale 1/256, zero point -128 (:data:`SOFTMAX_OUTPUT`).

int16 (:func:`softmax_int16_params`) rescales the differences with the quantized multiplier of
``beta * s_in / (10 / 65535)`` and writes Q0.15 (:data:`INT16_SOFTMAX_OUTPUT`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.quantization.fixed_point import INT32_MAX, quantize_multiplier
from tinyabi.quantization.tensors import float32_attribute, per_tensor, require_output_quantization

__all__ = [
    "INT16_SOFTMAX_MAX_DEPTH",
    "INT16_SOFTMAX_MAX_SHIFT",
    "INT16_SOFTMAX_OUTPUT",
    "SOFTMAX_ACCUM_INTEGER_BITS",
    "SOFTMAX_DIFF_INTEGER_BITS",
    "SOFTMAX_OUTPUT",
    "Int16SoftmaxParams",
    "SoftmaxParams",
    "softmax_int16_params",
    "softmax_params",
]

#: Integer bits of the scaled input differences (Q5.26).
SOFTMAX_DIFF_INTEGER_BITS = 5
#: Integer bits of the sum of exponentials (Q12.19).
SOFTMAX_ACCUM_INTEGER_BITS = 12
#: The one int8 output quantization ``(scale, zero_point)``: Q0.8 probabilities from -128.
SOFTMAX_OUTPUT = (1.0 / 256, -128)
#: The one int16 output quantization: Q0.15 probabilities, symmetric.
INT16_SOFTMAX_OUTPUT = (1.0 / 32768, 0)
#: Largest left shift of int16 SOFTMAX's input multiplier: 65535 * 2**15 still fits int32.
INT16_SOFTMAX_MAX_SHIFT = 15
#: Longest int16 SOFTMAX row: its sum of up to 32767 per entry must stay in int32.
INT16_SOFTMAX_MAX_DEPTH = (2**31 - 1) // 32767


@dataclass(frozen=True)
class SoftmaxParams:
    """int8 SOFTMAX's prepared parameters: the Q31 ``input_multiplier`` and
    ``input_left_shift`` of ``beta * s_in * 2**26``, and ``diff_min``."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(node: Node, graph: Graph) -> SoftmaxParams:
    """int8 SOFTMAX: ``B = beta * s_in * 2**26`` (must exceed 1), ``(m, e) =
    quantize_multiplier(min(B, 2**31 - 1))``, ``diff_min = -floor(31 * 2**26 / 2**e)``; the
    output must be quantized (1/256, -128). Raises :class:`GraphError` naming the rule."""
    if not node.inputs or node.inputs[0] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes one input and one output")
    s_in, _ = per_tensor(node, graph.tensor(node.inputs[0]), "input")
    beta = float32_attribute(node, "beta")
    require_output_quantization(
        node, graph, SOFTMAX_OUTPUT, "int8 SOFTMAX writes Q0.8 probabilities"
    )
    real = beta * s_in * float(1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
    if not real > 1.0:
        raise GraphError(
            f"{node.describe()}: beta * input scale = {beta * s_in:g} must exceed 2**-26 "
            "(TFLM aborts on smaller values)"
        )
    multiplier, left_shift = quantize_multiplier(min(real, float(INT32_MAX)))
    limit = ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
    diff_min = -math.floor(limit / 2.0**left_shift)
    return SoftmaxParams(multiplier, left_shift, diff_min)


@dataclass(frozen=True)
class Int16SoftmaxParams:
    """int16 SOFTMAX's prepared parameters: the quantized multiplier ``(input_multiplier,
    input_shift)`` of ``beta * s_in / (10 / 65535)``, which maps differences to the row maximum
    on [-10, 0] onto [-65535, 0]."""

    input_multiplier: int
    input_shift: int


def softmax_int16_params(node: Node, graph: Graph) -> Int16SoftmaxParams:
    """int16 SOFTMAX: the output must be quantized (2**-15, 0); ``(m, e) =
    quantize_multiplier(beta * s_in / (10 / 65535))`` in double precision, with ``e <= 15`` so
    that a difference of -65535 shifted left stays in int32; the input zero point must be 0
    (TFLM checks it, though it cancels in the differences). Raises :class:`GraphError` naming
    the rule."""
    if not node.inputs or node.inputs[0] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes one input and one output")
    s_in, _ = per_tensor(node, graph.tensor(node.inputs[0]), "input", symmetric_int16=True)
    beta = float32_attribute(node, "beta")
    require_output_quantization(
        node, graph, INT16_SOFTMAX_OUTPUT, "int16 SOFTMAX writes Q0.15 probabilities"
    )
    real = s_in * beta / (10.0 / 65535.0)
    if not real > 0.0:
        raise GraphError(f"{node.describe()}: beta * input scale must be positive, got {real:g}")
    multiplier, shift = quantize_multiplier(real)
    if shift > INT16_SOFTMAX_MAX_SHIFT:
        raise GraphError(
            f"{node.describe()}: beta * input scale = {beta * s_in:g} is too large for int16 "
            "SOFTMAX (the scaled differences overflow TFLM's int32 arithmetic; it must stay "
            "below 5)"
        )
    return Int16SoftmaxParams(multiplier, shift)
