"""Reference kernels of the elementwise family: ADD, SUB and MUL, with broadcasting.

The two inputs broadcast as in numpy (see :mod:`tinyabi.ir.shapes.elementwise`, at most six
dimensions). Three signatures, all operands of one element type:

* ``int8`` (per-tensor affine quantization), bit-exact with TensorFlow Lite Micro:

  - ADD/SUB bring both inputs to a common fixed-point scale before adding: each input
    ``q - zp`` is shifted left by 20 bits and scaled by ``s_i / (2 max(s1, s2))`` (a quantized
    multiplier below one half); the sum or difference is scaled by
    ``2 max(s1, s2) / (2**20 s_out)`` (a quantized multiplier below one), offset by the output
    zero point and clamped. The real multipliers are derived in double precision.
  - MUL multiplies ``(q1 - zp1) * (q2 - zp2)`` exactly and requantizes the product with the
    quantized multiplier of ``s1 s2 / s_out`` (double precision), then offsets and clamps.

* ``float32``: IEEE single-precision ``a + b``, ``a - b``, ``a * b``, then the activation clamp.
* ``int32`` (no quantization): two's-complement arithmetic wrapping modulo 2**32, then the
  activation clamp. TFLM's int32 ADD ignores the fused activation (LiteRT applies it), so int32
  ADD only accepts ``fused_activation = NONE``.

Everything that depends only on the graph (multipliers, shifts, the per-input scaling tables of
ADD/SUB, activation bounds) is computed in ``prepare``; the returned ``Eval`` is a handful of
vectorized numpy operations on int64 intermediates. For large int8 outputs, ``prepare`` also
tabulates the result of every one of the 65536 input pairs and ``Eval`` is a single lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Quantization, Tensor, numpy_dtype
from tinyabi.ir.shapes.elementwise import binary_operands, broadcast_shape
from tinyabi.kernels.quant import (
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    wrap_int32,
)
from tinyabi.kernels.registry import Eval, kernel

#: The fused activations ADD, SUB and MUL accept.
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

#: Element types the three operators accept (both inputs and the output share one).
DTYPES = ("int8", "int32", "float32")

#: Bits an int8 ADD/SUB input (after removing its zero point) is shifted left before scaling.
ADD_SUB_LEFT_SHIFT = 20

#: int8 MUL rejects a real multiplier ``s1 * s2 / s_out`` from this value on: with a left shift
#: above 15 the shifted product ``(q1 - zp1) * (q2 - zp2) * 2**shift`` leaves the int32 range,
#: which is undefined behaviour in TFLite Micro's C++ code.
MUL_MAX_REAL_MULTIPLIER = 2.0**15

#: From this many output elements on, an int8 node tabulates its result for all 65536 input
#: pairs in prepare and evaluates by lookup (the same numbers, several times faster).
PAIR_TABLE_MIN_ELEMENTS = 1 << 16

_INT8_VALUES = np.arange(-128, 128, dtype=np.int64)


@dataclass(frozen=True)
class AddSubParams:
    """The fixed-point parameters of an int8 ADD or SUB, as TFLite Micro prepares them.

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
    """The fixed-point parameters of an int8 MUL, as TFLite Micro prepares them."""

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


def add_sub_params(
    input1: tuple[float, int],
    input2: tuple[float, int],
    output: tuple[float, int],
    activation: str,
) -> AddSubParams:
    """The int8 parameters of ADD or SUB from the ``(scale, zero_point)`` of each operand.

    The real multipliers are derived in double precision from the float32 scales. Raises
    ``ValueError`` when the output scale is too small for the output multiplier to stay below
    one, i.e. when ``s_out <= 2 max(s1, s2) / 2**20`` (TFLM aborts on such models).
    """
    (s1, zp1), (s2, zp2), (so, zpo) = input1, input2, output
    shift = ADD_SUB_LEFT_SHIFT
    twice_max = 2.0 * max(float(s1), float(s2))
    m1, sh1 = _quantize_below_one(float(s1) / twice_max, "input 1 multiplier")
    m2, sh2 = _quantize_below_one(float(s2) / twice_max, "input 2 multiplier")
    mo, sho = _quantize_below_one(
        twice_max / ((1 << shift) * float(so)),
        "output multiplier 2 * max(s1, s2) / (2**20 * s_out) =",
    )
    lo, hi = (int(v) for v in activation_range(activation, "int8", float(so), int(zpo)))
    return AddSubParams(-int(zp1), -int(zp2), int(zpo), shift, m1, sh1, m2, sh2, mo, sho, lo, hi)


def mul_params(
    input1: tuple[float, int],
    input2: tuple[float, int],
    output: tuple[float, int],
    activation: str,
) -> MulParams:
    """The int8 parameters of MUL from the ``(scale, zero_point)`` of each operand.

    Raises ``ValueError`` when ``s1 * s2 / s_out >= 2**15`` (see
    :data:`MUL_MAX_REAL_MULTIPLIER`).
    """
    (s1, zp1), (s2, zp2), (so, zpo) = input1, input2, output
    real = float(s1) * float(s2) / float(so)
    if not real < MUL_MAX_REAL_MULTIPLIER:
        raise ValueError(
            f"real multiplier s1 * s2 / s_out = {real!r} must be below 2**15 (larger ones "
            "overflow TFLite Micro's int32 arithmetic)"
        )
    multiplier, shift = quantize_multiplier(real)
    lo, hi = (int(v) for v in activation_range(activation, "int8", float(so), int(zpo)))
    return MulParams(-int(zp1), -int(zp2), int(zpo), multiplier, shift, lo, hi)


def scaled_input_tables(params: AddSubParams) -> tuple[np.ndarray, np.ndarray]:
    """For each int8 value ``q`` (index ``q + 128``), the int32 term each input of ADD/SUB
    contributes: ``(q - zp_i) << 20`` scaled by the input's quantized multiplier.

    Two int64 arrays of 256 entries; a lookup replaces the per-element input rescaling.
    """
    tables = []
    for offset, multiplier, shift in (
        (params.input1_offset, params.input1_multiplier, params.input1_shift),
        (params.input2_offset, params.input2_multiplier, params.input2_shift),
    ):
        shifted = (_INT8_VALUES + offset) << params.left_shift
        tables.append(multiply_by_quantized_multiplier(shifted, multiplier, shift))
    return tables[0], tables[1]


def add_sub_int8(
    x1: np.ndarray,
    x2: np.ndarray,
    params: AddSubParams,
    subtract: bool = False,
    tables: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """int8 ADD (or SUB when ``subtract``) of two broadcastable int8 arrays, TFLM's way.

    ``tables`` are :func:`scaled_input_tables` of ``params``, when precomputed.
    """
    table1, table2 = scaled_input_tables(params) if tables is None else tables
    scaled1 = table1[np.asarray(x1, dtype=np.intp) + 128]
    scaled2 = table2[np.asarray(x2, dtype=np.intp) + 128]
    raw = scaled1 - scaled2 if subtract else scaled1 + scaled2
    out = multiply_by_quantized_multiplier(raw, params.output_multiplier, params.output_shift)
    return np.clip(out + params.output_offset, params.act_min, params.act_max).astype(np.int8)


def mul_int8(x1: np.ndarray, x2: np.ndarray, params: MulParams) -> np.ndarray:
    """int8 MUL of two broadcastable int8 arrays, TFLM's way."""
    product = (np.asarray(x1, dtype=np.int64) + params.input1_offset) * (
        np.asarray(x2, dtype=np.int64) + params.input2_offset
    )
    out = multiply_by_quantized_multiplier(product, params.output_multiplier, params.output_shift)
    return np.clip(out + params.output_offset, params.act_min, params.act_max).astype(np.int8)


Binary = Callable[[np.ndarray, np.ndarray], np.ndarray]

_WIDE_OPS: dict[str, Binary] = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}


def _fail(node: Node, message: str) -> GraphError:
    return GraphError(f"{node.describe()}: {message}")


def _per_tensor(node: Node, tensor: Tensor, role: str) -> tuple[float, int]:
    """``(scale, zero_point)`` of an int8 operand, which must be per-tensor quantized."""
    quant: Quantization | None = tensor.quant
    if quant is None:
        raise _fail(node, f"int8 {role} {tensor.name!r} has no quantization parameters")
    if quant.per_axis or quant.scale.size != 1:
        raise _fail(node, f"int8 {role} {tensor.name!r} must be quantized per tensor")
    scale, zero_point = float(quant.scale[0]), int(quant.zero_point[0])
    if not (np.isfinite(scale) and scale > 0):
        raise _fail(node, f"{role} {tensor.name!r} has scale {scale}; it must be positive")
    if not -128 <= zero_point <= 127:
        raise _fail(node, f"{role} {tensor.name!r} has zero point {zero_point}, outside int8")
    return scale, zero_point


def _int8_direct(
    op: str, q1: tuple[float, int], q2: tuple[float, int], qo: tuple[float, int], activation: str
) -> Binary:
    """The int8 computation of ``op`` with its parameters bound (``ValueError`` if invalid)."""
    if op == "MUL":
        mul = mul_params(q1, q2, qo, activation)

        def multiply(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
            return mul_int8(x1, x2, mul)

        return multiply
    params = add_sub_params(q1, q2, qo, activation)
    tables = scaled_input_tables(params)
    subtract = op == "SUB"

    def add_or_subtract(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return add_sub_int8(x1, x2, params, subtract, tables)

    return add_or_subtract


def _int8_function(
    op: str, node: Node, operands: tuple[Tensor, Tensor, Tensor], activation: str
) -> Binary:
    first, second, output = operands
    q1 = _per_tensor(node, first, "input 1")
    q2 = _per_tensor(node, second, "input 2")
    qo = _per_tensor(node, output, "output")
    try:
        direct = _int8_direct(op, q1, q2, qo, activation)
    except ValueError as error:
        raise _fail(node, str(error)) from None
    if output.size < PAIR_TABLE_MIN_ELEMENTS:
        return direct
    # The result depends only on the pair (q1, q2): tabulate all 65536 pairs once.
    pairs = direct(_INT8_VALUES.reshape(256, 1), _INT8_VALUES.reshape(1, 256)).reshape(-1)

    def lookup(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return pairs[((x1.astype(np.intp) + 128) << 8) | (x2.astype(np.intp) + 128)]

    return lookup


def _float32_function(op: str, activation: str) -> Binary:
    wide_op = _WIDE_OPS[op]
    low, high = (np.float32(v) for v in activation_range(activation, "float32"))
    if activation == "NONE":
        return lambda x1, x2: wide_op(x1.astype(np.float32), x2.astype(np.float32))
    return lambda x1, x2: np.minimum(
        np.maximum(wide_op(x1.astype(np.float32), x2.astype(np.float32)), low), high
    )


def _int32_function(op: str, node: Node, activation: str) -> Binary:
    if op == "ADD" and activation != "NONE":
        raise _fail(
            node,
            f"int32 ADD takes no fused activation (got {activation}): TFLite Micro ignores it "
            "while LiteRT applies it, so the result would depend on the runtime",
        )
    wide_op = _WIDE_OPS[op]
    low, high = activation_range(activation, "int32")

    def compute(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        wide = wide_op(x1.astype(np.int64), x2.astype(np.int64))
        return np.clip(wrap_int32(wide), low, high)

    return compute


def _prepare_binary(op: str, node: Node, graph: Graph) -> Eval:
    first, second = binary_operands(node, graph)
    output = graph.tensor(node.outputs[0])
    expected = broadcast_shape(node, first.shape, second.shape)
    if output.shape != expected:
        raise _fail(
            node,
            f"output shape {list(output.shape)} is not the broadcast {list(expected)} of the "
            f"input shapes {list(first.shape)} and {list(second.shape)}",
        )
    dtype = output.dtype
    if dtype not in DTYPES:
        raise _fail(node, f"element type {dtype} is not supported (only {', '.join(DTYPES)})")
    if first.dtype != dtype or second.dtype != dtype:
        raise _fail(
            node,
            f"inputs and output must share one element type, got {first.dtype}, "
            f"{second.dtype} -> {dtype}",
        )
    activation = node.attrs.get("fused_activation", "NONE")
    if activation not in ACTIVATIONS:
        raise _fail(node, f"fused activation {activation!r} is not one of {list(ACTIVATIONS)}")

    compute: Binary
    if dtype == "int8":
        compute = _int8_function(op, node, (first, second, output), activation)
    else:
        for tensor in (first, second, output):
            if tensor.quant is not None:
                raise _fail(node, f"{dtype} tensor {tensor.name!r} must not be quantized")
        if dtype == "float32":
            compute = _float32_function(op, activation)
        else:
            compute = _int32_function(op, node, activation)
    out_dtype = numpy_dtype(dtype)
    shape = output.shape

    def evaluate(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x1, x2 = inputs
        assert x1 is not None and x2 is not None
        result = compute(np.asarray(x1), np.asarray(x2))
        # numpy turns 0-d results into scalars; an Eval returns arrays of the output's shape.
        return [np.asarray(result, dtype=out_dtype).reshape(shape)]

    return evaluate


@kernel("ADD")
def prepare_add(node: Node, graph: Graph) -> Eval:
    """ADD: ``act(input1 + input2)`` with broadcasting (int8, int32, float32)."""
    return _prepare_binary("ADD", node, graph)


@kernel("SUB")
def prepare_sub(node: Node, graph: Graph) -> Eval:
    """SUB: ``act(input1 - input2)`` with broadcasting (int8, int32, float32)."""
    return _prepare_binary("SUB", node, graph)


@kernel("MUL")
def prepare_mul(node: Node, graph: Graph) -> Eval:
    """MUL: ``act(input1 * input2)`` with broadcasting (int8, int32, float32)."""
    return _prepare_binary("MUL", node, graph)
