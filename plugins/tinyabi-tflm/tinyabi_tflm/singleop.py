"""Single-operator models: one node of a spec operator under one of its spec signatures.

They are how the plugin asks a runtime what it runs (:mod:`tinyabi_tflm.survey`): build the
model with tinyabi's graph builder, export it with tinyabi's exporter, run it in the worker.
:func:`spec_model` builds the model; the building blocks here (typed inputs and outputs,
weights, biases, quantization the runtimes require) also serve :mod:`tinyabi_tflm.forms`,
which builds the operators outside the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyabi.ir import Graph, GraphBuilder, Quantization, QuantLike
from tinyabi.quantization.conv import bias_scales
from tinyabi.spec import load_spec
from tinyabi.tflite.schema import schema

#: The element types the survey tries for every extension operator.
CANDIDATE_TYPES = (
    "float32",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint32",
    "uint64",
    "bool",
)

#: TFLite's TensorType code of every candidate type (the ABI's and the unsigned ones the
#: signal library uses).
TYPE_CODES: dict[str, int] = {t: getattr(schema.TensorType, t.upper()) for t in CANDIDATE_TYPES}

#: Quantization of activations by element type (int16 symmetric, as TFLite requires).
_ACT_QUANT: dict[str, tuple[float, int]] = {
    "int8": (0.05, 3),
    "uint8": (0.05, 128),
    "int16": (0.002, 0),
    "int32": (0.001, 0),
}
#: Output quantization some operators require (TFLite's fixed output ranges).
FIXED_OUTPUT: dict[tuple[str, str], tuple[float, int]] = {
    ("LOGISTIC", "int8"): (1 / 256, -128),
    ("TANH", "int8"): (1 / 128, 0),
    ("SOFTMAX", "int8"): (1 / 256, -128),
    ("LOG_SOFTMAX", "int8"): (16 / 256, 127),
    ("L2_NORMALIZATION", "int8"): (1 / 128, 0),
    ("LOGISTIC", "int16"): (1 / 32768, 0),
    ("TANH", "int16"): (1 / 32768, 0),
    ("SOFTMAX", "int16"): (1 / 32768, 0),
}

#: An operand's element type and quantization.
Typed = tuple[str, QuantLike]
#: Gives each operand (by spec name) its type.
Types = Callable[[str], Typed]

SHAPE = (1, 4, 4, 2)


def act_quant(dtype: str) -> QuantLike:
    """The quantization the builders give an activation of ``dtype`` (``None`` for others)."""
    return _ACT_QUANT.get(dtype)


def split_key(key: str) -> tuple[str, str]:
    """``"int8"`` -> ``("int8", "int8")``; ``"float32->int32"`` -> ``("float32", "int32")``."""
    source, _, target = key.partition("->")
    return source, target or source


def input_tensor(b: GraphBuilder, name: str, typed: Typed, shape: tuple[int, ...]) -> str:
    """Declare a graph input of the given type and shape."""
    return b.input(name, typed[0], shape, quant=typed[1])


def output_tensor(b: GraphBuilder, name: str, typed: Typed, shape: tuple[int, ...]) -> str:
    """Declare a tensor a node writes."""
    return b.tensor(name, typed[0], shape, quant=typed[1])


def int32_const(b: GraphBuilder, name: str, values: list[int] | list[list[int]]) -> str:
    """Declare an int32 constant (shapes, axes, paddings)."""
    return b.const(name, np.array(values, np.int32))


def weights_const(
    b: GraphBuilder, typed: Typed, shape: tuple[int, ...], axis: int
) -> tuple[str, Quantization | None]:
    """Constant weights named ``filter``: int8 quantized per channel along ``axis``, or float."""
    dtype = typed[0]
    if dtype == "int8":
        n = shape[axis]
        q = Quantization(np.full(n, 0.01), np.zeros(n, np.int64), axis=axis)
        data = np.random.default_rng(1).integers(-127, 128, size=shape).astype(np.int8)
        return b.const("filter", data, q), q
    data = np.random.default_rng(1).uniform(-1, 1, size=shape).astype(np.float32)
    return b.const("filter", data), None


def bias_const(
    b: GraphBuilder, typed: Typed, n: int, in_scale: float, wq: Quantization | None
) -> str:
    """A bias named ``bias``: int32 or int64 (16x8) with scale ``in_scale`` x weight scales, or
    float."""
    if typed[0] in ("int32", "int64"):
        assert wq is not None
        q = Quantization(bias_scales(in_scale, wq.scale), np.zeros(n, np.int64))
        return b.const("bias", (np.arange(n) * 10).astype(typed[0]), q)
    return b.const("bias", np.linspace(-0.5, 0.5, n).astype(np.float32))


def scale_of(typed: Typed) -> float:
    """The (first) scale of a typed operand; 1 when it is not quantized."""
    q = typed[1]
    if q is None:
        return 1.0
    return float(q.scale[0]) if isinstance(q, Quantization) else float(q[0])


# --- spec operators ---------------------------------------------------------------------------


def spec_model(op: str, signature: str) -> Graph:
    """A model of one spec operator ``op`` node under its spec signature ``signature``."""
    spec = load_spec().operators[op]
    sig = next(s for s in spec.signatures if s.name == signature)

    def types(operand: str) -> Typed:
        want = sig.operands[operand]
        if want.quantization == "none" or want.dtype.startswith("float"):
            return want.dtype, None
        if operand == "output" and (op, want.dtype) in FIXED_OUTPUT:
            return want.dtype, FIXED_OUTPUT[op, want.dtype]
        scale, zero = _ACT_QUANT.get(want.dtype, (0.05, 0))
        return want.dtype, (scale, 0 if want.symmetric else zero)

    b = GraphBuilder(f"{op.lower()}_{signature}")
    layout = _SPEC_LAYOUTS.get(op, _unary)
    layout(b, op, types)
    return b.build(outputs=["output"])


def _unary(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    b.node(op, [x], [output_tensor(b, "output", types("output"), SHAPE)])


def _leaky_relu(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    b.node(op, [x], [output_tensor(b, "output", types("output"), SHAPE)], alpha=0.2)


def _binary(b: GraphBuilder, op: str, types: Types) -> None:
    x1 = input_tensor(b, "input1", types("input1"), SHAPE)
    x2 = input_tensor(b, "input2", types("input2"), SHAPE)
    b.node(op, [x1, x2], [output_tensor(b, "output", types("output"), SHAPE)])


def _conv(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    depthwise = op == "DEPTHWISE_CONV_2D"
    shape, axis = ((1, 2, 2, 2), 3) if depthwise else ((3, 2, 2, 2), 0)
    w, wq = weights_const(b, types("filter"), shape, axis)
    channels = shape[axis]
    bias = bias_const(b, types("bias"), channels, scale_of(types("input")), wq)
    y = output_tensor(b, "output", types("output"), (1, 3, 3, channels))
    attrs: dict[str, Any] = {"padding": "VALID", "stride_h": 1, "stride_w": 1}
    if depthwise:
        attrs["depth_multiplier"] = 1
    b.node(op, [x, w, bias], [y], **attrs)


def _transpose_conv(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), (1, 3, 3, 2))
    shape = int32_const(b, "output_shape", [1, 4, 4, 3])
    w, wq = weights_const(b, types("filter"), (3, 2, 2, 2), 0)
    bias = bias_const(b, types("bias"), 3, scale_of(types("input")), wq)
    y = output_tensor(b, "output", types("output"), (1, 4, 4, 3))
    b.node(op, [shape, w, x, bias], [y], padding="VALID", stride_h=1, stride_w=1)


def _fully_connected(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), (1, 8))
    w, wq = weights_const(b, types("filter"), (3, 8), 0)
    bias = bias_const(b, types("bias"), 3, scale_of(types("input")), wq)
    b.node(op, [x, w, bias], [output_tensor(b, "output", types("output"), (1, 3))])


def _pool(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    y = output_tensor(b, "output", types("output"), (1, 2, 2, 2))
    window: dict[str, Any] = {"filter_h": 2, "filter_w": 2, "stride_h": 2, "stride_w": 2}
    b.node(op, [x], [y], padding="VALID", **window)


def _reshape(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    shape = int32_const(b, "shape", [1, 32])
    b.node(op, [x, shape], [output_tensor(b, "output", types("output"), (1, 32))])


def _squeeze(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), (1, 4, 1, 2))
    b.node(op, [x], [output_tensor(b, "output", types("output"), (1, 4, 2))], squeeze_dims=[2])


def _softmax(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), (1, 8))
    b.node(op, [x], [output_tensor(b, "output", types("output"), (1, 8))], beta=1.0)


def _quantize(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), (1, 8))
    b.node(op, [x], [output_tensor(b, "output", types("output"), (1, 8))])


def _concatenation(b: GraphBuilder, op: str, types: Types) -> None:
    x1 = input_tensor(b, "input1", types("input"), SHAPE)
    x2 = input_tensor(b, "input2", types("input"), SHAPE)
    y = output_tensor(b, "output", types("output"), (1, 4, 4, 4))
    b.node(op, [x1, x2], [y], axis=3)


def _pad(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    paddings = int32_const(b, "paddings", [[0, 0], [1, 1], [1, 1], [0, 0]])
    b.node(op, [x, paddings], [output_tensor(b, "output", types("output"), (1, 6, 6, 2))])


def _mean(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    axis = int32_const(b, "axis", [1, 2])
    y = output_tensor(b, "output", types("output"), (1, 1, 1, 2))
    b.node(op, [x, axis], [y], keep_dims=True)


def _transpose(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    perm = int32_const(b, "perm", [0, 3, 1, 2])
    b.node(op, [x, perm], [output_tensor(b, "output", types("output"), (1, 2, 4, 4))])


def _strided_slice(b: GraphBuilder, op: str, types: Types) -> None:
    x = input_tensor(b, "input", types("input"), SHAPE)
    begin = int32_const(b, "begin", [0, 0, 0, 0])
    end = int32_const(b, "end", [1, 2, 4, 2])
    strides = int32_const(b, "strides", [1, 1, 1, 1])
    y = output_tensor(b, "output", types("output"), (1, 2, 4, 2))
    b.node(op, [x, begin, end, strides], [y])


_SPEC_LAYOUTS: dict[str, Callable[[GraphBuilder, str, Types], None]] = {
    "ADD": _binary,
    "SUB": _binary,
    "MUL": _binary,
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "TRANSPOSE_CONV": _transpose_conv,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "RESHAPE": _reshape,
    "SQUEEZE": _squeeze,
    "SOFTMAX": _softmax,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _quantize,
    "CONCATENATION": _concatenation,
    "PAD": _pad,
    "MEAN": _mean,
    "TRANSPOSE": _transpose,
    "STRIDED_SLICE": _strided_slice,
    "LEAKY_RELU": _leaky_relu,
}
