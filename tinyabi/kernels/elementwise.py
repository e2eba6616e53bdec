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

* ``int16`` (16x8 activations), bit-exact with TensorFlow Lite Micro: the int8 algorithms on
  int16 values, ADD/SUB shifting ``q - zp`` left by 15 bits instead of 20; MUL needs zero
  points 0 and a multiplier below one.
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

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor, numpy_dtype
from tinyabi.ir.shapes.elementwise import binary_operands, broadcast_shape
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.quantization import elementwise as elementwise_quant
from tinyabi.quantization.elementwise import AddSubParams, MulParams
from tinyabi.quantization.fixed_point import (
    activation_range,
    multiply_by_quantized_multiplier,
    wrap_int32,
)

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "PAIR_TABLE_MIN_ELEMENTS",
    "Binary",
    "add_sub_int8",
    "mul_int8",
    "prepare_add",
    "prepare_mul",
    "prepare_sub",
    "scaled_input_tables",
]

#: The fused activations ADD, SUB and MUL accept.
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

#: Element types the three operators accept (both inputs and the output share one).
DTYPES = ("int8", "int16", "int32", "float32")

#: The quantized element types, with the smallest value of each (the lookup tables' origin).
_QUANTIZED_MIN = {"int8": -128, "int16": -32768}

#: From this many output elements on, an int8 node tabulates its result for all 65536 input
#: pairs in prepare and evaluates by lookup (the same numbers, several times faster).
PAIR_TABLE_MIN_ELEMENTS = 1 << 16

_INT8_VALUES = np.arange(-128, 128, dtype=np.int64)


def scaled_input_tables(params: AddSubParams, dtype: str = "int8") -> tuple[np.ndarray, np.ndarray]:
    """For each ``dtype`` value ``q`` (index ``q - min``), the int32 term each input of ADD/SUB
    contributes: ``(q - zp_i) << left_shift`` scaled by the input's quantized multiplier.

    Two int64 arrays of 256 (int8) or 65536 (int16) entries; a lookup replaces the
    per-element input rescaling.
    """
    low = _QUANTIZED_MIN[dtype]
    values = np.arange(low, -low, dtype=np.int64)
    tables = []
    for offset, multiplier, shift in (
        (params.input1_offset, params.input1_multiplier, params.input1_shift),
        (params.input2_offset, params.input2_multiplier, params.input2_shift),
    ):
        shifted = (values + offset) << params.left_shift
        tables.append(multiply_by_quantized_multiplier(shifted, multiplier, shift))
    return tables[0], tables[1]


def add_sub_int8(
    x1: np.ndarray,
    x2: np.ndarray,
    params: AddSubParams,
    subtract: bool = False,
    tables: tuple[np.ndarray, np.ndarray] | None = None,
    dtype: str = "int8",
) -> np.ndarray:
    """int8 (or int16, per ``dtype``) ADD, or SUB when ``subtract``, of two broadcastable
    arrays, TFLM's way.

    ``tables`` are :func:`scaled_input_tables` of ``params``, when precomputed.
    """
    table1, table2 = scaled_input_tables(params, dtype) if tables is None else tables
    low = _QUANTIZED_MIN[dtype]
    scaled1 = table1[np.asarray(x1, dtype=np.intp) - low]
    scaled2 = table2[np.asarray(x2, dtype=np.intp) - low]
    raw = scaled1 - scaled2 if subtract else scaled1 + scaled2
    out = multiply_by_quantized_multiplier(raw, params.output_multiplier, params.output_shift)
    clamped = np.clip(out + params.output_offset, params.act_min, params.act_max)
    return clamped.astype(numpy_dtype(dtype))


def mul_int8(x1: np.ndarray, x2: np.ndarray, params: MulParams, dtype: str = "int8") -> np.ndarray:
    """int8 (or int16, per ``dtype``) MUL of two broadcastable arrays, TFLM's way."""
    product = (np.asarray(x1, dtype=np.int64) + params.input1_offset) * (
        np.asarray(x2, dtype=np.int64) + params.input2_offset
    )
    out = multiply_by_quantized_multiplier(product, params.output_multiplier, params.output_shift)
    clamped = np.clip(out + params.output_offset, params.act_min, params.act_max)
    return clamped.astype(numpy_dtype(dtype))


Binary = Callable[[np.ndarray, np.ndarray], np.ndarray]

_WIDE_OPS: dict[str, Binary] = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}


def _fail(node: Node, message: str) -> GraphError:
    return GraphError(f"{node.describe()}: {message}")


def _quantized_direct(op: str, node: Node, graph: Graph, dtype: str) -> Binary:
    """The int8 or int16 computation of ``op`` with its parameters bound."""
    if op == "MUL":
        mul = elementwise_quant.mul_params(node, graph)

        def multiply(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
            return mul_int8(x1, x2, mul, dtype)

        return multiply
    add_sub = elementwise_quant.add_sub_params(node, graph)
    tables = scaled_input_tables(add_sub, dtype)
    subtract = op == "SUB"

    def add_or_subtract(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return add_sub_int8(x1, x2, add_sub, subtract, tables, dtype)

    return add_or_subtract


def _quantized_function(op: str, node: Node, graph: Graph, output: Tensor) -> Binary:
    direct = _quantized_direct(op, node, graph, output.dtype)
    if output.dtype != "int8" or output.size < PAIR_TABLE_MIN_ELEMENTS:
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
    if dtype in _QUANTIZED_MIN:
        compute = _quantized_function(op, node, graph, output)
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
    """ADD: ``act(input1 + input2)`` with broadcasting (int8, int16, int32, float32)."""
    return _prepare_binary("ADD", node, graph)


@kernel("SUB")
def prepare_sub(node: Node, graph: Graph) -> Eval:
    """SUB: ``act(input1 - input2)`` with broadcasting (int8, int16, int32, float32)."""
    return _prepare_binary("SUB", node, graph)


@kernel("MUL")
def prepare_mul(node: Node, graph: Graph) -> Eval:
    """MUL: ``act(input1 * input2)`` with broadcasting (int8, int16, int32, float32)."""
    return _prepare_binary("MUL", node, graph)
