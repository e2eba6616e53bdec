"""Quantization parameters of the int8 and int16 elementwise operators ADD, SUB and MUL.

ADD/SUB (TFLite's formulation): both inputs are brought to a common scale before adding::

    L = 20 for int8, 15 for int16
    twice_max = 2 * max(s1, s2)
    (m1, e1) = quantize_multiplier(s1 / twice_max)        below one half
    (m2, e2) = quantize_multiplier(s2 / twice_max)
    (mo, eo) = quantize_multiplier(twice_max / (2**L * s_out))   must be below one
    a_i = MBQM((q_i - zp_i) << L, m_i, e_i)
    out = clamp(MBQM(a_1 +/- a_2, mo, eo) + zp_out, act_min, act_max)

MUL: ``(mo, eo) = quantize_multiplier(s1 * s2 / s_out)`` (below 2**15 for int8; for int16 the
zero points must be 0 and ``eo <= 0``) and
``out = clamp(MBQM((q1 - zp1) * (q2 - zp2), mo, eo) + zp_out, act_min, act_max)``.

The reals are formed in double precision from the float32 scales.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.quantization.fixed_point import activation_range, quantize_multiplier
from tinyabi.quantization.tensors import activation_name, per_tensor

__all__ = [
    "ADD_SUB_LEFT_SHIFT",
    "ADD_SUB_LEFT_SHIFT_INT16",
    "MUL_MAX_REAL_MULTIPLIER",
    "AddSubParams",
    "MulParams",
    "add_sub_params",
    "add_sub_params_from_scales",
    "mul_params",
    "mul_params_from_scales",
]

#: Bits an int8 ADD/SUB input (after removing its zero point) is shifted left before scaling.
ADD_SUB_LEFT_SHIFT = 20
#: The same for int16 ADD/SUB: ``(q - zp) << 15`` still fits int32 for any int16 zero point.
ADD_SUB_LEFT_SHIFT_INT16 = 15

#: int8 MUL rejects a real multiplier ``s1 * s2 / s_out`` from this value on: with a left shift
#: above 15 the shifted product ``(q1 - zp1) * (q2 - zp2) * 2**shift`` leaves the int32 range,
#: which is undefined behaviour in TFLite Micro's C++ code.
MUL_MAX_REAL_MULTIPLIER = 2.0**15


@dataclass(frozen=True)
class AddSubParams:
    """The fixed-point parameters of an int8 or int16 ADD or SUB, as TFLite Micro prepares them.

    Multipliers are Q31 integers; shifts are powers of two, positive to the left (all of them
    are <= 0 here). ``act_min``/``act_max`` are the clamp bounds in output units.
    """

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulParams:
    """The fixed-point parameters of an int8 or int16 MUL, as TFLite Micro prepares them."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def _quantize_below_one(real: float, what: str) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplierSmallerThanOneExp``: ``real`` must lie in (0, 1) and its
    quantized shift must not be positive (TFLM aborts otherwise); raises ``ValueError``."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"{what} {real!r} must lie strictly between 0 and 1")
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        raise ValueError(f"{what} {real!r} rounds up to 1 as a Q31 multiplier")
    return multiplier, shift


def add_sub_params_from_scales(
    input1: tuple[float, int],
    input2: tuple[float, int],
    output: tuple[float, int],
    activation: str,
    dtype: str = "int8",
) -> AddSubParams:
    """The ``dtype`` (int8 or int16) parameters of ADD or SUB from the ``(scale, zero_point)``
    of each operand.

    Raises ``ValueError`` when the output scale is too small for the output multiplier to stay
    below one, i.e. when ``s_out <= 2 max(s1, s2) / 2**L`` (TFLM aborts on such models).
    """
    (s1, zp1), (s2, zp2), (so, zpo) = input1, input2, output
    shift = ADD_SUB_LEFT_SHIFT_INT16 if dtype == "int16" else ADD_SUB_LEFT_SHIFT
    twice_max = 2.0 * max(float(s1), float(s2))
    m1, sh1 = _quantize_below_one(float(s1) / twice_max, "input 1 multiplier")
    m2, sh2 = _quantize_below_one(float(s2) / twice_max, "input 2 multiplier")
    mo, sho = _quantize_below_one(
        twice_max / ((1 << shift) * float(so)),
        f"output multiplier 2 * max(s1, s2) / (2**{shift} * s_out) =",
    )
    lo, hi = (int(v) for v in activation_range(activation, dtype, float(so), int(zpo)))
    return AddSubParams(-int(zp1), -int(zp2), int(zpo), shift, m1, sh1, m2, sh2, mo, sho, lo, hi)


def mul_params_from_scales(
    input1: tuple[float, int],
    input2: tuple[float, int],
    output: tuple[float, int],
    activation: str,
    dtype: str = "int8",
) -> MulParams:
    """The ``dtype`` (int8 or int16) parameters of MUL from the ``(scale, zero_point)`` of each
    operand.

    Raises ``ValueError`` when ``s1 * s2 / s_out >= 2**15`` (see
    :data:`MUL_MAX_REAL_MULTIPLIER`); for int16 when a zero point is not 0 (TFLM refuses
    them) or the multiplier's exponent is positive (products of int16 values reach 2**30, so
    any left shift can leave int32).
    """
    (s1, zp1), (s2, zp2), (so, zpo) = input1, input2, output
    if dtype == "int16" and (zp1, zp2, zpo) != (0, 0, 0):
        raise ValueError(f"int16 MUL needs zero points 0, got {zp1}, {zp2} -> {zpo}")
    real = float(s1) * float(s2) / float(so)
    if not real < MUL_MAX_REAL_MULTIPLIER:
        raise ValueError(
            f"real multiplier s1 * s2 / s_out = {real!r} must be below 2**15 (larger ones "
            "overflow TFLite Micro's int32 arithmetic)"
        )
    multiplier, shift = quantize_multiplier(real)
    if dtype == "int16" and shift > 0:
        raise ValueError(
            f"real multiplier s1 * s2 / s_out = {real!r} must be below 1 for int16 (a left "
            "shift of a 2**30 product overflows TFLite Micro's int32 arithmetic)"
        )
    lo, hi = (int(v) for v in activation_range(activation, dtype, float(so), int(zpo)))
    return MulParams(-int(zp1), -int(zp2), int(zpo), multiplier, shift, lo, hi)


def _scales(
    node: Node, graph: Graph
) -> tuple[tuple[float, int], tuple[float, int], tuple[float, int], str]:
    """The ``(scale, zero_point)`` of both inputs and the output, and the output's type."""
    tensors = graph.node_inputs(node)
    if len(tensors) != 2 or tensors[0] is None or tensors[1] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes two inputs and one output")
    output = graph.tensor(node.outputs[0])
    return (
        per_tensor(node, tensors[0], "input 1"),
        per_tensor(node, tensors[1], "input 2"),
        per_tensor(node, output, "output"),
        output.dtype,
    )


def add_sub_params(node: Node, graph: Graph) -> AddSubParams:
    """ADD or SUB: :func:`add_sub_params_from_scales` of the node's operands; raises
    :class:`GraphError` naming the node and the multiplier out of range."""
    q1, q2, qo, dtype = _scales(node, graph)
    try:
        return add_sub_params_from_scales(q1, q2, qo, activation_name(node), dtype)
    except ValueError as error:
        raise GraphError(f"{node.describe()}: {error}") from None


def mul_params(node: Node, graph: Graph) -> MulParams:
    """MUL: :func:`mul_params_from_scales` of the node's operands; raises :class:`GraphError`
    naming the node and the rule that fails (see :func:`mul_params_from_scales`)."""
    q1, q2, qo, dtype = _scales(node, graph)
    try:
        return mul_params_from_scales(q1, q2, qo, activation_name(node), dtype)
    except ValueError as error:
        raise GraphError(f"{node.describe()}: {error}") from None
