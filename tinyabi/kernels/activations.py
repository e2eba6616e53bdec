"""Reference kernels of the activation operators.

SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU and HARD_SWISH, for float32 and int8, and
int16 (16x8) for SOFTMAX, LOGISTIC, TANH and LEAKY_RELU.

The int8 kernels reproduce TensorFlow Lite Micro's integer algorithms bit for bit. Every
element-wise int8 activation is a function of the one int8 input value, so ``prepare`` runs the
integer algorithm over all 256 possible inputs and the evaluation is a table lookup. SOFTMAX
depends on a whole row, but only through ``x - max(row)``, which takes 256 values: ``prepare``
tabulates the fixed-point exponential over those differences and the evaluation sums and scales
the rows with vectorized fixed-point arithmetic. int16 LEAKY_RELU, LOGISTIC and TANH tabulate
all 65536 inputs the same way (LOGISTIC and TANH with TFLM's sigmoid-table algorithm in
:mod:`~tinyabi.kernels.lut16`); int16 SOFTMAX uses that module's exp and reciprocal tables.

The module also provides vectorized versions of the fixed-point transcendental functions that
TFLite inherited from gemmlowp (``exp`` on negative values, ``1 / (1 + x)``, logistic, tanh).
They work on ``int64`` arrays holding int32 raw values of fixed-point numbers with a given count
of integer bits (``Qk.(31-k)``), and emulate the int32 wrap-around of the C code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tinyabi.errors import GraphError, InputError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.kernels import lut16
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.quantization import activations as activation_quant
from tinyabi.quantization import softmax as softmax_quant
from tinyabi.quantization.fixed_point import (
    INT32_MAX,
    INT32_MIN,
    count_leading_zeros_u32,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)
from tinyabi.quantization.tensors import float32_attribute

__all__ = [
    "count_leading_zeros_u32",
    "exp_on_negative_values",
    "fixed_logistic",
    "fixed_tanh",
    "one_minus_x_over_one_plus_x_for_x_in_0_1",
    "one_over_one_plus_x_for_x_in_0_1",
    "one_over_one_plus_x_int",
    "prepare_hard_swish",
    "prepare_leaky_relu",
    "prepare_logistic",
    "prepare_relu",
    "prepare_relu6",
    "prepare_softmax",
    "prepare_tanh",
    "rescale",
    "rounding_half_sum",
    "saturating_rounding_multiply_by_pot",
]

# -------------------------------------------------------------------------------------------------
# Fixed-point math on int32 raw values (gemmlowp conventions), vectorized.
# -------------------------------------------------------------------------------------------------

#: exp(-1/8) in Q0.31.
_EXP_MINUS_ONE_EIGHTH = 1895147668
#: 1/3 in Q0.31.
_ONE_THIRD = 715827883
#: (e, exp(-2**e) in Q0.31) for the "barrel shifter" of exp_on_negative_values.
_EXP_POWERS_OF_TWO = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)
#: 48/17 and -32/17 in Q2.29: the Newton-Raphson starting point for 1 / d, d in [1/2, 1].
_48_OVER_17 = 1515870810
_MINUS_32_OVER_17 = -1010580540
#: 1.0 in Q2.29.
_ONE_Q2 = 1 << 29


def _i64(x: np.ndarray | int) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _add(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """int32 addition with two's-complement wrap-around."""
    return wrap_int32(_i64(a) + _i64(b))


def _sub(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """int32 subtraction with two's-complement wrap-around."""
    return wrap_int32(_i64(a) - _i64(b))


def _srdhm(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(_i64(a), b)


def saturating_rounding_multiply_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """``x * 2**exponent`` on int32 raw values: a saturating left shift for a positive exponent,
    a rounding (ties away from zero) right shift for a negative one."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x: np.ndarray, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """Convert raw values from ``Q<src>`` to ``Q<dst>`` (saturating, rounding)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """``(a + b) / 2`` rounded to nearest, ties away from zero."""
    total = _i64(a) + _i64(b)
    nudged = total + np.where(total >= 0, 1, -1)
    return np.where(nudged >= 0, nudged // 2, -((-nudged) // 2))


def _exp_on_interval_between_negative_one_quarter_and_0(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: a 4th-order Taylor expansion around -1/8."""
    x = _add(a, 1 << 28)  # x = a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    # (x^4/4 + x^3) / 3 + x^2, halved: x^4/24 + x^3/6 + x^2/2
    poly = rounding_divide_by_pot(_add(_srdhm(_add(x4_over_4, x3), _ONE_THIRD), x2), 1)
    return _add(_EXP_MINUS_ONE_EIGHTH, _srdhm(_EXP_MINUS_ONE_EIGHTH, _add(x, poly)))


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given in ``Q<integer_bits>``; the result is Q0.31 (1.0 -> INT32_MAX).

    ``a`` is split into a multiple of 1/4 and a rest in [-1/4, 0); the rest goes through the
    polynomial, and each set bit of the multiple of 1/4 multiplies in a constant exp(-2**e).
    """
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_quarter = _sub(a & (one_quarter - 1), one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0(
        rescale(a_mod_quarter_minus_quarter, integer_bits, 0)
    )
    remainder = _sub(a_mod_quarter_minus_quarter, a)
    for exponent, multiplier in _EXP_POWERS_OF_TWO:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, _srdhm(result, multiplier), result)
    if integer_bits > 5:
        # Below -32 the result is flushed to zero.
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_q2(half_denominator: np.ndarray) -> np.ndarray:
    """1 / half_denominator in Q2.29, for half_denominator in [1/2, 1] (Q0.31): three
    Newton-Raphson steps from 48/17 - 32/17 * d."""
    x = _add(_48_OVER_17, _srdhm(half_denominator, _MINUS_32_OVER_17))
    for _ in range(3):
        one_minus_dx = _sub(_ONE_Q2, _srdhm(half_denominator, x))
        x = _add(x, rescale(_srdhm(x, one_minus_dx), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_q2(rounding_half_sum(a, INT32_MAX))
    # x ~ 2 / (1 + a) in Q2.29: reinterpreted as Q1.30 it is 1 / (1 + a).
    return rescale(x, 1, 0)


def _wrap(x: int) -> int:
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def _srdhm_int(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudged = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return nudged >> 31 if nudged >= 0 else -((-nudged) >> 31)


def _shift_left_saturating(x: int, exponent: int) -> int:
    threshold = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else x << exponent


def one_over_one_plus_x_int(a: int) -> int:
    """:func:`one_over_one_plus_x_for_x_in_0_1` of one Python int, step for step the same
    arithmetic without numpy's per-call cost (a softmax of a few rows needs one per row)."""
    total = a + INT32_MAX
    nudged = total + (1 if total >= 0 else -1)
    d = nudged // 2 if nudged >= 0 else -((-nudged) // 2)
    x = _wrap(_48_OVER_17 + _srdhm_int(d, _MINUS_32_OVER_17))
    for _ in range(3):
        one_minus_dx = _wrap(_ONE_Q2 - _srdhm_int(d, x))
        x = _wrap(x + _shift_left_saturating(_srdhm_int(x, one_minus_dx), 2))
    return _shift_left_saturating(x, 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_q2(rounding_half_sum(a, INT32_MAX))
    return rescale(_sub(x, _ONE_Q2), 2, 0)


def fixed_logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(-a)) for ``a`` in ``Q<integer_bits>``; the result is Q0.31."""
    a = _i64(a)
    positive = a > 0
    minus_abs = np.where(positive, _sub(0, a), a)
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(minus_abs, integer_bits))
    if_negative = _sub(INT32_MAX, if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def fixed_tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """tanh(a) for ``a`` in ``Q<integer_bits>``; the result is Q0.31."""
    a = _i64(a)
    negative = a < 0
    minus_abs = np.where(negative, a, _sub(0, a))
    # -tanh(n) = (1 - exp(2n)) / (1 + exp(2n)) for n < 0; 2n is n read with one more integer bit.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(minus_abs, integer_bits + 1)
    )
    return np.where(a == 0, 0, np.where(negative, _sub(0, t), t))


# --- int16 fixed point (HARD_SWISH), on int64 arrays holding int16 values -------------------------


def _wrap16(x: np.ndarray) -> np.ndarray:
    return ((_i64(x) + 2**15) & 0xFFFF) - 2**15


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """Saturating rounding doubling high multiply of int16 values (rounds half away from 0)."""
    ab = _i64(a) * b
    nudged = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = np.where(nudged >= 0, nudged >> 15, -((-nudged) >> 15))
    return np.where((_i64(a) == -(2**15)) & (b == -(2**15)), 2**15 - 1, _wrap16(high))


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Saturating doubling high multiply of int16 values, truncating toward zero."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    high = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -(2**15)) & (b == -(2**15)), 2**15 - 1, _wrap16(high))


def _saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(_i64(x) << amount, -(2**15), 2**15 - 1)


def _rounding_divide_by_pot16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's rounding right shift evaluated in int16 arithmetic.

    For exponents of 16 and more the int16 mask wraps to -1, and the result degenerates to
    +1 for x >= 0 and -1 for x < 0; TFLM computes exactly that, so it is reproduced here.
    """
    x = _i64(x)
    mask = int(_wrap16(np.int64((1 << exponent) - 1)))
    remainder = _wrap16(x & mask)
    threshold = _wrap16((mask >> 1) + (x < 0))
    return _wrap16((x >> exponent) + (remainder > threshold))


# -------------------------------------------------------------------------------------------------
# Signature checks shared by the kernels.
# -------------------------------------------------------------------------------------------------

_INT8_VALUES = np.arange(-128, 128, dtype=np.int64)
_INT16_VALUES = np.arange(-32768, 32768, dtype=np.int64)

#: The element types of the operators without an int16 signature, and of those with one.
_INT8_FLOAT = ("int8", "float32")
_WITH_INT16 = ("int8", "int16", "float32")


def _io(node: Node, graph: Graph, dtypes: tuple[str, ...] = _INT8_FLOAT) -> tuple[Tensor, Tensor]:
    """The input and output tensors, with one matching element type among ``dtypes``."""
    if len(node.inputs) != 1 or node.inputs[0] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes exactly one input and one output")
    x = graph.tensor(node.inputs[0])
    y = graph.tensor(node.outputs[0])
    if y.shape != x.shape:
        raise GraphError(
            f"{node.describe()}: output {y.name!r} has shape {list(y.shape)}, but the shape rule "
            f"of {node.op} gives the input's shape {list(x.shape)}"
        )
    if x.dtype != y.dtype or x.dtype not in dtypes:
        supported = " and ".join(f"{d} -> {d}" for d in dtypes)
        raise GraphError(
            f"{node.describe()}: supported signatures are {supported}, got {x.dtype} -> {y.dtype}"
        )
    return x, y


def _lookup_eval(table: np.ndarray) -> Eval:
    """An Eval mapping each int8 input value ``q`` to ``table[q + 128]``."""
    # Reorder so that the table is indexed by the input's bytes read as uint8.
    by_byte = np.concatenate([table[128:], table[:128]]).astype(np.int8)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0], dtype=np.int8)
        return [np.asarray(by_byte[x.astype(np.uint8)])]

    return run


def _lookup16_eval(table: np.ndarray) -> Eval:
    """An Eval mapping each int16 input value ``q`` to ``table[q + 32768]``."""
    by_value = np.asarray(table, dtype=np.int16)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0], dtype=np.int16)
        return [np.asarray(by_value[x.astype(np.intp) + 32768])]

    return run


def _float_eval(function: Callable[[np.ndarray], np.ndarray]) -> Eval:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0], dtype=np.float32)
        return [np.asarray(function(x), dtype=np.float32)]

    return run


def _clamp_int8(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -128, 127)


# -------------------------------------------------------------------------------------------------
# RELU, RELU6, LEAKY_RELU
# -------------------------------------------------------------------------------------------------


@kernel("RELU")
def prepare_relu(node: Node, graph: Graph) -> Eval:
    """RELU: ``max(x, 0)``; int8 requantizes from the input to the output scale, then clamps at
    the output's zero point."""
    x, _ = _io(node, graph)
    if x.dtype == "float32":
        return _float_eval(lambda v: np.maximum(v, np.float32(0)))
    p = activation_quant.relu_params(node, graph)
    q = p.output_zero_point + multiply_by_quantized_multiplier(
        _INT8_VALUES - p.input_zero_point, p.multiplier, p.shift
    )
    return _lookup_eval(np.clip(q, max(-128, p.output_zero_point), 127))


@kernel("RELU6")
def prepare_relu6(node: Node, graph: Graph) -> Eval:
    """RELU6: ``min(max(x, 0), 6)``; int8 clamps in the input's units (output quantization must
    equal the input's, as TFLM does not requantize)."""
    x, _ = _io(node, graph)
    if x.dtype == "float32":
        return _float_eval(lambda v: np.clip(v, np.float32(0), np.float32(6)))
    p = activation_quant.relu6_params(node, graph)
    return _lookup_eval(np.clip(_INT8_VALUES, p.zero_point, p.six))


@kernel("LEAKY_RELU")
def prepare_leaky_relu(node: Node, graph: Graph) -> Eval:
    """LEAKY_RELU: ``x`` for ``x > 0`` else ``alpha * x``; int8 and int16 rescale each side with
    its own multiplier (``s_in / s_out`` and ``s_in * alpha / s_out``, computed in double
    precision) and clamp to the type's range."""
    x, _ = _io(node, graph, _WITH_INT16)
    if x.dtype == "float32":
        alpha32 = np.float32(float32_attribute(node, "alpha"))
        return _float_eval(lambda v: np.where(v > 0, v, v * alpha32))
    p = activation_quant.leaky_relu_params(node, graph)
    values = _INT16_VALUES if x.dtype == "int16" else _INT8_VALUES
    v = values - p.input_zero_point
    positive = multiply_by_quantized_multiplier(v, p.identity_multiplier, p.identity_shift)
    negative = multiply_by_quantized_multiplier(v, p.alpha_multiplier, p.alpha_shift)
    if p.alpha_negative:
        negative = -negative
    out = p.output_zero_point + np.where(v >= 0, positive, negative)
    if x.dtype == "int16":
        return _lookup16_eval(np.clip(out, -32768, 32767))
    return _lookup_eval(_clamp_int8(out))


# -------------------------------------------------------------------------------------------------
# LOGISTIC, TANH
# -------------------------------------------------------------------------------------------------


def _sigmoid_like_table(
    p: activation_quant.SigmoidParams, function: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """The int8 table of LOGISTIC or TANH: saturate outside the radius, else rescale to Q4.27,
    apply the fixed-point function and round the Q0.31 result to the output's units."""
    v = _INT8_VALUES - p.input_zero_point
    inside = np.abs(v) < p.input_radius
    table = np.where(v <= -p.input_radius, -128, 127)
    if inside.any():
        q4 = multiply_by_quantized_multiplier(v[inside], p.input_multiplier, p.input_left_shift)
        q0 = function(q4, activation_quant.SIGMOID_INPUT_INTEGER_BITS)
        table[inside] = _clamp_int8(
            rounding_divide_by_pot(q0, p.output_shift) + p.output_zero_point
        )
    return table


def _int16_sigmoid_like_eval(
    p: activation_quant.Int16SigmoidParams, function: Callable[[np.ndarray], np.ndarray]
) -> Eval:
    """int16 LOGISTIC or TANH: every int16 input through TFLM's sigmoid-table algorithm."""
    table_in = lut16.table_input(_INT16_VALUES, p.input_multiplier, p.input_left_shift)
    return _lookup16_eval(function(table_in))


@kernel("LOGISTIC")
def prepare_logistic(node: Node, graph: Graph) -> Eval:
    """LOGISTIC: ``1 / (1 + exp(-x))``; int8 output is fixed at scale 1/256, zero point -128,
    int16 output at scale 2**-15, zero point 0 (TFLM's sigmoid table)."""
    x, _ = _io(node, graph, _WITH_INT16)
    if x.dtype == "float32":
        return _float_eval(lambda v: 1.0 / (1.0 + np.exp(-v.astype(np.float64))))
    if x.dtype == "int16":
        p16 = activation_quant.logistic_int16_params(node, graph)
        return _int16_sigmoid_like_eval(p16, lut16.int16_logistic)
    p = activation_quant.logistic_params(node, graph)
    return _lookup_eval(_sigmoid_like_table(p, fixed_logistic))


@kernel("TANH")
def prepare_tanh(node: Node, graph: Graph) -> Eval:
    """TANH: ``tanh(x)``; int8 output is fixed at scale 1/128, zero point 0, int16 output at
    scale 2**-15, zero point 0 (TFLM's sigmoid table)."""
    x, _ = _io(node, graph, _WITH_INT16)
    if x.dtype == "float32":
        return _float_eval(lambda v: np.tanh(v.astype(np.float64)))
    if x.dtype == "int16":
        p16 = activation_quant.tanh_int16_params(node, graph)
        return _int16_sigmoid_like_eval(p16, lut16.int16_tanh)
    p = activation_quant.tanh_params(node, graph)
    return _lookup_eval(_sigmoid_like_table(p, fixed_tanh))


# -------------------------------------------------------------------------------------------------
# HARD_SWISH
# -------------------------------------------------------------------------------------------------


@kernel("HARD_SWISH")
def prepare_hard_swish(node: Node, graph: Graph) -> Eval:
    """HARD_SWISH: ``x * relu6(x + 3) / 6``; int8 follows TFLM's int16 fixed-point algorithm."""
    x, _ = _io(node, graph)
    if x.dtype == "float32":

        def hard_swish(v: np.ndarray) -> np.ndarray:
            # x * clamp(x / 6 + 1/2, 0, 1) with a fused multiply-add, as LiteRT's XNNPACK does:
            # x * (1/6) is exact in double precision, so one rounding to float32 follows.
            sixth = float(np.float32(1.0 / 6.0))
            gate = (v.astype(np.float64) * sixth + 0.5).astype(np.float32)
            return v * np.clip(gate, np.float32(0), np.float32(1))

        return _float_eval(hard_swish)
    p = activation_quant.hard_swish_params(node, graph)
    out_mult, out_exp = p.output_multiplier, p.output_exponent
    relu_mult, relu_exp = p.reluish_multiplier, p.reluish_exponent
    hires = _wrap16(_INT8_VALUES - p.input_zero_point) * 128
    # The input on the output scale, before the final right shift.
    preshift_out = _srdhm16(hires, out_mult)
    # The "relu-ish" factor: the input rescaled so that 3.0 maps to 32768, saturated to int16.
    reluish = hires
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, relu_exp - 1)
    reluish = _srdhm16(reluish, relu_mult)
    if relu_exp > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if relu_exp < 0:
        reluish = _rounding_divide_by_pot16(reluish, -relu_exp)
    reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] -> [0, 1] in Q0.15
    out = _rounding_divide_by_pot16(_sdhm16(reluish, preshift_out), -out_exp)
    return _lookup_eval(_clamp_int8(_wrap16(out + p.output_zero_point)))


# -------------------------------------------------------------------------------------------------
# SOFTMAX
# -------------------------------------------------------------------------------------------------

_SOFTMAX_DIFF_INTEGER_BITS = softmax_quant.SOFTMAX_DIFF_INTEGER_BITS
_SOFTMAX_ACCUM_INTEGER_BITS = softmax_quant.SOFTMAX_ACCUM_INTEGER_BITS
#: Up to this many rows, int8 SOFTMAX inverts its sums one by one in Python ints.
_SCALAR_ROWS = 8


def _softmax_float(beta: float) -> Eval:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0], dtype=np.float32)
        if x.size == 0:
            return [x.copy()]
        z = (x - x.max(axis=-1, keepdims=True)).astype(np.float64) * beta
        e = np.exp(z)
        return [(e / e.sum(axis=-1, keepdims=True)).astype(np.float32)]

    return run


def _softmax_int16(node: Node, graph: Graph, x: Tensor) -> Eval:
    p = softmax_quant.softmax_int16_params(node, graph)
    depth = x.shape[-1]
    if depth > softmax_quant.INT16_SOFTMAX_MAX_DEPTH:
        raise GraphError(
            f"{node.describe()}: int16 SOFTMAX rows of {depth} values overflow TFLM's int32 sum "
            f"(at most {softmax_quant.INT16_SOFTMAX_MAX_DEPTH})"
        )
    exps, reciprocals = lut16.exp_table(), lut16.reciprocal_table()

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        values = np.asarray(inputs[0], dtype=np.int16)
        if values.size == 0:
            return [values.copy()]
        rows = values.reshape(-1, depth).astype(np.int64)
        out = lut16.int16_softmax(rows, p.input_multiplier, p.input_shift, exps, reciprocals)
        return [out.astype(np.int16).reshape(values.shape)]

    return run


@kernel("SOFTMAX")
def prepare_softmax(node: Node, graph: Graph) -> Eval:
    """SOFTMAX over the last axis: ``exp(beta * (x - max)) / sum(exp(beta * (x - max)))``.

    int8 follows TFLM: differences to the row maximum are rescaled to Q5.26 by
    ``beta * s_in`` (differences below ``diff_min`` contribute nothing and give -128), exp is
    the fixed-point exp on negative values, the Q12.19 sum is inverted with the fixed-point
    reciprocal, and the output is fixed at scale 1/256, zero point -128. int16 follows TFLM's
    table path (:func:`~tinyabi.kernels.lut16.int16_softmax`), output at 2**-15, zero point 0.
    """
    x, _ = _io(node, graph, _WITH_INT16)
    if len(x.shape) < 1:
        raise GraphError(f"{node.describe()}: the input needs at least one dimension")
    if x.dtype == "float32":
        return _softmax_float(float32_attribute(node, "beta"))
    if x.dtype == "int16":
        return _softmax_int16(node, graph, x)
    p = softmax_quant.softmax_params(node, graph)
    multiplier, left_shift, diff_min = p.input_multiplier, p.input_left_shift, p.diff_min

    # Tables over the 256 possible differences d = x - max(row), d = -255..0 at index d + 255.
    diffs = np.arange(-255, 1, dtype=np.int64)
    used = diffs >= diff_min
    scaled = _srdhm(wrap_int32(diffs << min(left_shift, 31)), multiplier)
    exp_table = np.where(used, exp_on_negative_values(scaled, _SOFTMAX_DIFF_INTEGER_BITS), 0)
    term_table = rescale(exp_table, 0, _SOFTMAX_ACCUM_INTEGER_BITS)
    depth = x.shape[-1]
    describe = node.describe()

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        values = np.asarray(inputs[0], dtype=np.int8)
        if values.size == 0:
            return [values.copy()]
        rows = values.reshape(-1, depth).astype(np.int64)
        index = rows - rows.max(axis=1, keepdims=True) + 255
        exps = exp_table[index]
        sums = wrap_int32(term_table[index].sum(axis=1))
        # Reciprocal of the Q12.19 sum: normalize it to [1, 2), invert in Q0.31.
        if len(sums) <= _SCALAR_ROWS:  # a few rows: Python ints beat numpy's per-call cost
            unsigned = [int(v) & 0xFFFFFFFF for v in sums]
            headrooms = [32 - v.bit_length() for v in unsigned]
            headroom = np.array(headrooms, dtype=np.int64)
            reciprocal = np.array(
                [
                    one_over_one_plus_x_int(_wrap((v << h) - (1 << 31)))
                    for v, h in zip(unsigned, headrooms)
                ],
                dtype=np.int64,
            )
        else:
            headroom = count_leading_zeros_u32(sums & 0xFFFFFFFF)
            shifted_minus_one = wrap_int32(((sums & 0xFFFFFFFF) << headroom) - (1 << 31))
            reciprocal = one_over_one_plus_x_for_x_in_0_1(shifted_minus_one)
        bits_over_unit = _SOFTMAX_ACCUM_INTEGER_BITS - headroom
        exponent = bits_over_unit + 31 - 8
        if np.any((exponent < 0) | (exponent > 31)):
            raise InputError(
                f"{describe}: a row's sum of exponentials reaches 512 "
                "(about 512 or more entries at or near the row maximum), beyond the range of "
                "int8 SOFTMAX's output shift; TFLM aborts here"
            )
        probs = rounding_divide_by_pot(_srdhm(reciprocal[:, None], exps), exponent[:, None])
        out = np.where(used[index], _clamp_int8(probs - 128), -128)
        return [out.astype(np.int8).reshape(values.shape)]

    return run
