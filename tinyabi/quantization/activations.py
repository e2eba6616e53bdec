"""Quantization parameters of the int8 activations RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH
and HARD_SWISH, and of the int16 (16x8) LEAKY_RELU, LOGISTIC and TANH. Every real is formed
from the float32 scales as TFLite Micro forms it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.quantization.fixed_point import INT32_MAX, quantize_multiplier, round_half_away
from tinyabi.quantization.tensors import float32_attribute, per_tensor, require_output_quantization

__all__ = [
    "INT16_SIGMOID_OUTPUT",
    "LOGISTIC_OUTPUT",
    "SIGMOID_INPUT_INTEGER_BITS",
    "TANH_OUTPUT",
    "HardSwishParams",
    "Int16SigmoidParams",
    "LeakyReluParams",
    "Relu6Params",
    "ReluParams",
    "SigmoidParams",
    "hard_swish_params",
    "leaky_relu_params",
    "logistic_int16_params",
    "logistic_params",
    "relu6_params",
    "relu_params",
    "tanh_int16_params",
    "tanh_params",
]

#: Integer bits of the fixed-point input of LOGISTIC and TANH (Q4.27).
SIGMOID_INPUT_INTEGER_BITS = 4
#: int8 LOGISTIC's fixed output quantization (Q0.8 from -128).
LOGISTIC_OUTPUT = (1.0 / 256, -128)
#: int8 TANH's fixed output quantization (Q0.7).
TANH_OUTPUT = (1.0 / 128, 0)
#: int16 LOGISTIC's and TANH's fixed output quantization (Q0.15, symmetric).
INT16_SIGMOID_OUTPUT = (1.0 / 32768, 0)
#: int16 LOGISTIC and TANH put their input on the scale 1 / (3 * 4096) of the sigmoid table.
_INT16_SIGMOID_TABLE_STEPS_PER_UNIT = 3 * 4096


@dataclass(frozen=True)
class ReluParams:
    """int8 RELU: ``out = clamp(zp_out + MBQM(q - zp_in, multiplier, shift), max(-128,
    zp_out), 127)``."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class Relu6Params:
    """int8 RELU6 (output quantized like the input): ``out = clamp(q, zero_point, six)``."""

    zero_point: int
    six: int


@dataclass(frozen=True)
class LeakyReluParams:
    """int8 LEAKY_RELU: each side of zero rescaled by its own multiplier; ``alpha_negative``
    says the alpha side's real was negative (its multiplier encodes the magnitude)."""

    input_zero_point: int
    output_zero_point: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int
    alpha_negative: bool


@dataclass(frozen=True)
class SigmoidParams:
    """int8 LOGISTIC or TANH: ``q - zp_in`` is rescaled to Q4.27 by ``(input_multiplier,
    input_left_shift)`` unless ``|q - zp_in| >= input_radius`` (saturated); the Q0.31 result is
    divided by ``2**output_shift`` and offset by ``output_zero_point``."""

    input_zero_point: int
    input_multiplier: int
    input_left_shift: int
    input_radius: int
    output_shift: int
    output_zero_point: int


@dataclass(frozen=True)
class Int16SigmoidParams:
    """int16 LOGISTIC or TANH (TFLM's table path): the table input is
    ``(q * input_multiplier + round) >> input_left_shift`` with ``round = 2**(input_left_shift -
    1)`` (0 when the shift is 0), on the scale 1 / (3 * 4096)."""

    input_multiplier: int
    input_left_shift: int


@dataclass(frozen=True)
class HardSwishParams:
    """int8 HARD_SWISH (TFLM's int16 algorithm): Q15 multipliers with exponents for the
    output rescaling and the "relu-ish" gate."""

    input_zero_point: int
    output_zero_point: int
    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int


def _io(node: Node, graph: Graph) -> tuple[Tensor, Tensor]:
    if len(node.inputs) != 1 or node.inputs[0] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes exactly one input and one output")
    return graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])


def _rescaling(node: Node, real: float) -> tuple[int, int]:
    """quantize_multiplier(|real|), declining ratios whose left shift would overflow int32."""
    multiplier, shift = quantize_multiplier(abs(real))
    if shift > 30:
        raise GraphError(
            f"{node.describe()}: the rescaling factor {real:g} between input and output scales "
            "is too large (its left shift overflows int32)"
        )
    return multiplier, shift


def relu_params(node: Node, graph: Graph) -> ReluParams:
    """int8 RELU: ``(m, e) = quantize_multiplier(s_in / s_out)`` (``e <= 30``)."""
    x, y = _io(node, graph)
    s_in, zp_in = per_tensor(node, x, "input")
    s_out, zp_out = per_tensor(node, y, "output")
    multiplier, shift = _rescaling(node, s_in / s_out)
    return ReluParams(zp_in, zp_out, multiplier, shift)


def relu6_params(node: Node, graph: Graph) -> Relu6Params:
    """int8 RELU6: the output must be quantized like the input; ``six =
    clamp(round_half_away(float32(6) / float32(s_in)) + zp, -128, 127)``."""
    x, _ = _io(node, graph)
    s_in, zp_in = per_tensor(node, x, "input")
    require_output_quantization(
        node, graph, (s_in, zp_in), "RELU6 clamps int8 values without rescaling them"
    )
    six_in_steps = float(np.float32(6.0) / np.float32(s_in))
    if six_in_steps >= 2.0**31:
        raise GraphError(f"{node.describe()}: input scale {s_in:g} is too small to represent 6")
    return Relu6Params(zp_in, min(127, max(-128, round_half_away(six_in_steps) + zp_in)))


def leaky_relu_params(node: Node, graph: Graph) -> LeakyReluParams:
    """int8 and int16 LEAKY_RELU: ``quantize_multiplier(s_in / s_out)`` for ``x >= 0`` and
    ``quantize_multiplier(|s_in * alpha / s_out|)`` for ``x < 0``, the reals computed in double
    precision from the float32 values (both left shifts <= 30). int16 values show the
    difference to single precision, which int8 ones are too small to reveal."""
    x, y = _io(node, graph)
    alpha = float32_attribute(node, "alpha")
    s_in, zp_in = per_tensor(node, x, "input")
    s_out, zp_out = per_tensor(node, y, "output")
    identity_real = s_in / s_out
    alpha_real = s_in * alpha / s_out
    identity_mult, identity_shift = _rescaling(node, identity_real)
    alpha_mult, alpha_shift = _rescaling(node, alpha_real)
    return LeakyReluParams(
        zp_in, zp_out, identity_mult, identity_shift, alpha_mult, alpha_shift, alpha_real < 0
    )


def _sigmoid_params(
    node: Node, graph: Graph, output: tuple[float, int], output_bits: int, why: str
) -> SigmoidParams:
    x, _ = _io(node, graph)
    s_in, zp_in = per_tensor(node, x, "input")
    require_output_quantization(node, graph, output, why)
    fraction, left_shift = math.frexp(s_in * float(1 << (31 - SIGMOID_INPUT_INTEGER_BITS)))
    if left_shift < 0:
        raise GraphError(
            f"{node.describe()}: input scale {s_in:g} is below 2**-28, outside the range TFLM "
            "handles"
        )
    multiplier = round_half_away(fraction * (1 << 31))
    limit = ((1 << SIGMOID_INPUT_INTEGER_BITS) - 1) * (1 << (31 - SIGMOID_INPUT_INTEGER_BITS))
    radius = math.floor(limit / 2.0**left_shift)
    return SigmoidParams(zp_in, multiplier, left_shift, radius, 31 - output_bits, output[1])


def logistic_params(node: Node, graph: Graph) -> SigmoidParams:
    """int8 LOGISTIC: ``s_in * 2**27 = m * 2**(e - 31)`` (Q31 ``m`` rounded half away, ``e >=
    0``), ``radius = floor(15 * 2**27 / 2**e)``; the output is fixed at (1/256, -128), so the
    Q0.31 result is divided by ``2**23``."""
    return _sigmoid_params(
        node, graph, LOGISTIC_OUTPUT, 8, "int8 LOGISTIC writes Q0.8 probabilities"
    )


def tanh_params(node: Node, graph: Graph) -> SigmoidParams:
    """int8 TANH: the input rescaling of :func:`logistic_params`; the output is fixed at
    (1/128, 0), so the Q0.31 result is divided by ``2**24``."""
    return _sigmoid_params(node, graph, TANH_OUTPUT, 7, "int8 TANH writes Q0.7 values")


def _checked_log2(scale: float) -> tuple[int, bool]:
    """TFLite's ``CheckedLog2`` in single precision: ``round(log2(scale))`` and whether the scale
    is a power of two up to 1e-3 in the exponent."""
    log2 = np.float32(np.float32(math.log(scale)) * np.float32(1.0 / np.float32(math.log(2.0))))
    rounded = np.float32(round_half_away(float(log2)))
    return int(rounded), bool(abs(float(np.float32(log2 - rounded))) < 1e-3)


def _int16_sigmoid_params(
    node: Node, graph: Graph, power_of_two_shifts: tuple[int, ...], op: str
) -> Int16SigmoidParams:
    x, _ = _io(node, graph)
    s_in, _ = per_tensor(node, x, "input", symmetric_int16=True)
    per_tensor(node, graph.tensor(node.outputs[0]), "output", symmetric_int16=True)
    require_output_quantization(
        node, graph, INT16_SIGMOID_OUTPUT, f"int16 {op} writes Q0.15 values"
    )
    log2, power_of_two = _checked_log2(s_in)
    shift = 12 + log2
    if power_of_two and shift in power_of_two_shifts:
        return Int16SigmoidParams(3 << shift, 0)
    real = s_in * float(_INT16_SIGMOID_TABLE_STEPS_PER_UNIT)
    shift = 0
    while real <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        real *= 2.0
    if real >= 32768.0:
        raise GraphError(
            f"{node.describe()}: int16 {op} input scale {s_in:g} is too large (s * 3 * 4096 "
            "must stay below 32768)"
        )
    return Int16SigmoidParams(int(real), shift)


def logistic_int16_params(node: Node, graph: Graph) -> Int16SigmoidParams:
    """int16 LOGISTIC: input and output zero points 0, output scale 2**-15; an input scale of
    2**-12 (TFLite's CheckedLog2) gives multiplier 3 and shift 0, any other ``s`` the multiplier
    ``trunc(s * 12288 * 2**k)`` with ``k`` the doublings that bring it above 16383.5 (``k <=
    31``); ``s * 12288`` must be below 32768."""
    return _int16_sigmoid_params(node, graph, (0,), "LOGISTIC")


def tanh_int16_params(node: Node, graph: Graph) -> Int16SigmoidParams:
    """int16 TANH: as :func:`logistic_int16_params`, with input scales 2**-12 and 2**-11 taking
    the power-of-two path (multipliers 3 and 6, shift 0)."""
    return _int16_sigmoid_params(node, graph, (0, 1), "TANH")


def _int16_multiplier(real: float) -> tuple[int, int]:
    """A quantized multiplier reduced to Q15 (rounded, saturating at 32767), and its exponent."""
    multiplier, exponent = quantize_multiplier(real)
    if multiplier >= INT32_MAX - (1 << 15):
        return 2**15 - 1, exponent
    return (multiplier + (1 << 15)) >> 16, exponent


def hard_swish_params(node: Node, graph: Graph) -> HardSwishParams:
    """int8 HARD_SWISH, in single precision as TFLM: ``hires = s_in / 128``; the output
    multiplier is the Q15 reduction of ``quantize_multiplier(hires / s_out)`` (its exponent must
    be <= 0) and the gate's that of ``hires / (3 / 32768)``."""
    x, y = _io(node, graph)
    s_in, zp_in = per_tensor(node, x, "input")
    s_out, zp_out = per_tensor(node, y, "output")
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(s_in)
    reluish_scale = np.float32(3.0 / 32768.0)
    out_mult, out_exp = _int16_multiplier(float(hires_input_scale / np.float32(s_out)))
    if out_exp > 0:
        raise GraphError(
            f"{node.describe()}: output scale {s_out:g} is too small for input scale {s_in:g} "
            "(TFLM needs input_scale / (128 * output_scale) < 1)"
        )
    relu_mult, relu_exp = _int16_multiplier(float(hires_input_scale / reluish_scale))
    return HardSwishParams(zp_in, zp_out, out_mult, out_exp, relu_mult, relu_exp)
