"""Lowerings of elementwise operators, activations, softmax and (de)quantization."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from tinyabi_onnx.api import Quantization
from tinyabi_onnx.attributes import integer, number
from tinyabi_onnx.converter import Converter
from tinyabi_onnx.layout import Perm, identity
from tinyabi_onnx.values import NotMapped, QuantizedConstant, Value

#: ONNX activation -> spec operator.
UNARY = {
    "Relu": "RELU",
    "Sigmoid": "LOGISTIC",
    "Tanh": "TANH",
    "HardSwish": "HARD_SWISH",
    "LeakyRelu": "LEAKY_RELU",
}

#: ONNX arithmetic -> spec operator.
BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "MUL"}


def unary(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Relu, Sigmoid, Tanh, HardSwish, LeakyRelu: the same axes in and out."""
    x = c.value(node.input[0])
    if x.is_constant:
        raise NotMapped("constant input")
    options: dict[str, Any] = {}
    if node.op_type == "LeakyRelu":
        options["alpha"] = float(np.float32(number(attrs, "alpha", 0.01)))
    source = c.int8(x, x.perm) if c.quantized else c.held(x, x.perm)
    c.finish(node, UNARY[node.op_type], [source], x.perm, **options)


def clip(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Clip to [0, 6] -> RELU6; to [0, +inf) -> RELU."""
    x = c.value(node.input[0])
    low, high = (_scalar(c.optional(node, i)) for i in (1, 2))
    if low != 0.0 or x.is_constant:
        raise NotMapped("only Clip from 0 maps")
    if high is None or high == np.inf:
        op = "RELU"
    elif high == 6.0:
        op = "RELU6"
    else:
        raise NotMapped(f"Clip to [0, {high}] has no spec operator")
    source = c.int8(x, x.perm) if c.quantized else c.held(x, x.perm)
    c.finish(node, op, [source], x.perm)


def _scalar(value: Value | None) -> float | None:
    if value is None:
        return None
    if not value.is_constant or value.real().size != 1:
        raise NotMapped("the bound is not a constant scalar")
    return float(value.real().reshape(-1)[0])


def softmax(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Softmax along the axis held last -> SOFTMAX."""
    x = c.value(node.input[0])
    if x.rank == 0 or x.is_constant:
        raise NotMapped("scalar or constant input")
    axis = integer(attrs, "axis", -1)
    if not -x.rank <= axis < x.rank:
        raise NotMapped(f"axis {axis} is out of range")
    axis %= x.rank
    if x.perm[-1] == axis:
        perm = x.perm
    elif axis == x.rank - 1:
        perm = identity(x.rank)
    else:
        raise NotMapped("softmax over an axis other than the last")
    source = c.int8(x, perm) if c.quantized else c.held(x, perm)
    c.finish(node, "SOFTMAX", [source], perm, beta=1.0)


def binary(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Add, Sub, Mul (and Div by a constant, as a product) with broadcasting."""
    a, b = c.value(node.input[0]), c.value(node.input[1])
    op = BINARY[node.op_type]
    if node.op_type == "Div":
        if c.quantized or not b.is_constant or b.real().dtype != np.float32:
            raise NotMapped("only float division by a constant maps")
        with np.errstate(all="ignore"):
            reciprocal = (np.float32(1.0) / b.real()).astype(np.float32)
        b = Value("float32", b.shape, const=reciprocal)
    rank = max(a.rank, b.rank)
    active = [v for v in (a, b) if not v.is_constant]
    if not active:
        raise NotMapped("both operands are constant")
    perm = next((v.perm for v in active if v.rank == rank), identity(rank))
    if any(v.rank < rank for v in active) or len(perm) != rank:
        perm = identity(rank)
    inputs = [_operand(c, v, rank, perm) for v in (a, b)]
    c.finish(node, op, inputs, perm)


def _operand(c: Converter, v: Value, rank: int, perm: Perm) -> str:
    if not v.is_constant:
        own = perm if v.rank == rank else identity(v.rank)
        return c.int8(v, own) if c.quantized else c.held(v, own)
    shape = (1,) * (rank - v.rank) + v.shape
    if not c.quantized:
        data = v.real()
        if data.dtype != np.float32:
            raise NotMapped("a float operator's constant is not float32")
        return c.const(data.reshape(shape).transpose(perm), "operand")
    q = c.weight(v)
    if q.scale.size != 1 or q.data.dtype != np.int8:
        raise NotMapped("int8 operands must be quantized per tensor")
    return c.const(q.data.reshape(shape).transpose(perm), "operand", q.quantization(perm))


def quantize(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """QuantizeLinear -> nothing when it undoes a DequantizeLinear, else QUANTIZE."""
    x = c.value(node.input[0])
    quant, dtype = _parameters(c, node, per_tensor=True, default_type="uint8")
    if x.source is not None:
        source = x.source
        if source.quant == quant and source.dtype == dtype:
            c.check_declared(node.output[0], x.shape)
            c.set_value(node.output[0], source)
            return
        reading = c.int8(x, source.perm)
        out = c.node("QUANTIZE", [reading], dtype, quant, base=node.output[0], main=True)
        c.bind(node, 0, out, source.perm)
        return
    if x.dtype != "float32":
        raise NotMapped("only float32 input is quantized")
    out = c.node("QUANTIZE", [c.held(x, x.perm)], dtype, quant, base=node.output[0], main=True)
    c.bind(node, 0, out, x.perm)


def dequantize(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """DequantizeLinear of a constant -> a dequantized constant (weights, biases); of an int8
    activation -> a deferred value that int8 operators read directly."""
    x = c.value(node.input[0])
    if x.const is not None:
        scale, zero_point = _constant_parameters(c, node, x.const.dtype)
        axis = integer(attrs, "axis", 1)
        if scale.size > 1:
            if not -x.rank <= axis < x.rank or x.shape[axis % x.rank] != scale.size:
                raise NotMapped("per-axis scales do not match the axis")
            axis %= x.rank
        if x.const.dtype not in (np.int8, np.uint8, np.int32):
            raise NotMapped(f"{x.const.dtype} constants are not dequantized")
        qconst = QuantizedConstant(x.const, scale, zero_point, axis if scale.size > 1 else 0)
        c.set_value(node.output[0], Value("float32", x.shape, qconst=qconst))
        return
    if x.ir is None or x.source is not None:
        raise NotMapped("the input is not an integer activation")
    quant, dtype = _parameters(c, node, per_tensor=True, default_type=x.dtype)
    if dtype != x.dtype:
        raise NotMapped("zero point type differs from the input's")
    tensor = c.tensors[x.ir]
    # An int8 graph input (or an extension's int8 output) has no quantization of its own: the
    # DequantizeLinear reading it says what its values mean.
    if x.quant is None and tensor.quant is None and not tensor.is_constant:
        c.set_attr(tensor, "quant", quant)
        c.set_attr(x, "quant", quant)
    if x.quant != quant:
        raise NotMapped("the input's quantization differs from the DequantizeLinear's")
    lazy = Value("float32", x.shape, perm=x.perm, source=x)
    c.check_declared(node.output[0], x.shape)
    c.set_value(node.output[0], lazy)


def _constant_parameters(
    c: Converter, node: onnx.NodeProto, data_type: Any
) -> tuple[np.ndarray, np.ndarray]:
    scale_value = c.value(node.input[1])
    zp_value = c.optional(node, 2)
    if scale_value.const is None or (zp_value is not None and zp_value.const is None):
        raise NotMapped("scale and zero point must be constant")
    scale = scale_value.const.astype(np.float32).reshape(-1)
    if scale.size == 0 or not np.all(np.isfinite(scale) & (scale > 0)):
        raise NotMapped("scales must be finite and positive")
    if zp_value is None or zp_value.const is None:
        zero_point = np.zeros(scale.size, np.int64)
    else:
        zero_point = zp_value.const.astype(np.int64).reshape(-1)
        if zero_point.size == 1 and scale.size > 1:
            zero_point = np.repeat(zero_point, scale.size)
    if zero_point.size != scale.size:
        raise NotMapped("scale and zero point differ in length")
    return scale, zero_point


def _parameters(
    c: Converter, node: onnx.NodeProto, per_tensor: bool, default_type: str
) -> tuple[Quantization, str]:
    zp_value = c.optional(node, 2)
    dtype = default_type if zp_value is None or zp_value.const is None else zp_value.dtype
    scale, zero_point = _constant_parameters(c, node, dtype)
    if per_tensor and scale.size != 1:
        raise NotMapped("per-axis quantization of an activation")
    return Quantization(scale, zero_point), dtype
