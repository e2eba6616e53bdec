"""QOperator models (QLinearConv, QLinearMatMul, QGemm, QLinearAdd, ...) rewritten into the
QDQ form before lowering: DequantizeLinear of each quantized input, the float operator, and
QuantizeLinear of its output. The QDQ lowering then folds them into int8 spec operators where the
spec accepts the quantization, and keeps a float operator between QUANTIZE and DEQUANTIZE where
it does not; either way the result computes what the QOperator node means."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import onnx
from onnx import helper

from tinyabi_onnx.converter import DEFAULT_DOMAINS, Converter
from tinyabi_onnx.values import Value

#: Domains whose QLinear operators are rewritten (onnxruntime's contrib ops live in the second).
_DOMAINS = (*DEFAULT_DOMAINS, "com.microsoft")

#: One-input QLinear operators of onnxruntime: (x, x_scale, x_zp, y_scale, y_zp) -> float op.
_UNARY = {
    "QLinearAveragePool": "AveragePool",
    "QLinearGlobalAveragePool": "GlobalAveragePool",
    "QLinearSigmoid": "Sigmoid",
    "QLinearLeakyRelu": "LeakyRelu",
    "QLinearSoftmax": "Softmax",
}
#: Two-input ones: (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp).
_BINARY = {"QLinearAdd": "Add", "QLinearMul": "Mul"}
#: Attributes of the QLinear form that the float operator does not have.
_DROPPED = {"opset", "channels_last"}


class _Names:
    """Fresh value names that collide with nothing in the model."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)
        self.count = 0

    def __call__(self, base: str) -> str:
        name = base
        while name in self.taken:
            self.count += 1
            name = f"{base}__{self.count}"
        self.taken.add(name)
        return name


def expand_qoperators(order: list[onnx.NodeProto], c: Converter) -> list[onnx.NodeProto]:
    """The node order with every recognised QOperator node replaced by its QDQ form."""
    if not any(_recognised(n) for n in order):
        return order
    taken = set(c.values)
    for node in order:
        taken.update(node.input)
        taken.update(node.output)
    names = _Names(taken)
    result: list[onnx.NodeProto] = []
    for node in order:
        expanded = _expand(node, c, names) if _recognised(node) else None
        result.extend(expanded if expanded is not None else [node])
    return result


def _recognised(node: onnx.NodeProto) -> bool:
    if node.domain not in _DOMAINS:
        return False
    op = node.op_type
    return op in _UNARY or op in _BINARY or op in ("QLinearConv", "QLinearMatMul", "QGemm")


def _expand(node: onnx.NodeProto, c: Converter, names: _Names) -> list[onnx.NodeProto] | None:
    op, ins = node.op_type, list(node.input)
    attrs = [a for a in node.attribute if a.name not in _DROPPED]
    if any(a.name == "channels_last" and a.i for a in node.attribute):
        return None
    out = node.output[0] if node.output else ""
    if not out:
        return None
    new: list[onnx.NodeProto] = []

    def dq(value: str, scale: str, zero_point: str, axis: int | None = None) -> str:
        name = names(value + "_dq")
        extra: dict[str, Any] = {} if axis is None else {"axis": axis}
        new.append(
            helper.make_node("DequantizeLinear", [value, scale, zero_point], [name], **extra)
        )
        return name

    def finish(float_op: str, inputs: list[str], y_scale: str, y_zp: str) -> list[onnx.NodeProto]:
        middle = names(out + "_float")
        float_node = helper.make_node(float_op, inputs, [middle], name=node.name)
        float_node.attribute.extend(attrs)
        new.append(float_node)
        new.append(helper.make_node("QuantizeLinear", [middle, y_scale, y_zp], [out]))
        return new

    if op in _UNARY and len(ins) >= 5:
        return finish(_UNARY[op], [dq(ins[0], ins[1], ins[2])], ins[3], ins[4])
    if op in _BINARY and len(ins) >= 8:
        return finish(
            _BINARY[op], [dq(ins[0], ins[1], ins[2]), dq(ins[3], ins[4], ins[5])], ins[6], ins[7]
        )
    if op == "QLinearMatMul" and len(ins) >= 8:
        return finish(
            "MatMul",
            [dq(ins[0], ins[1], ins[2]), dq(ins[3], ins[4], ins[5], axis=1)],
            ins[6],
            ins[7],
        )
    if op == "QLinearConv" and len(ins) >= 8:
        inputs = [dq(ins[0], ins[1], ins[2]), dq(ins[3], ins[4], ins[5], axis=0)]
        if len(ins) > 8 and ins[8]:
            inputs.append(dq(ins[8], *_bias_scale(ins[8], ins[1], ins[4], c, names), axis=0))
        return finish("Conv", inputs, ins[6], ins[7])
    if op == "QGemm" and len(ins) >= 9:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        inputs = [dq(ins[0], ins[1], ins[2]), dq(ins[3], ins[4], ins[5], axis=0 if trans_b else 1)]
        if ins[6]:
            inputs.append(dq(ins[6], *_bias_scale(ins[6], ins[1], ins[4], c, names), axis=0))
        if len(ins) < 9 or not ins[7]:
            return None  # a float output: no QuantizeLinear to end with
        return finish("Gemm", inputs, ins[7], ins[8])
    return None


def _bias_scale(
    bias: str, x_scale: str, w_scale: str, c: Converter, names: _Names
) -> tuple[str, str]:
    """Scale and zero point of an int32 bias: x_scale x w_scale (per channel), 0. New constant
    values; when the scales are not constant the bias stays as it is and no operator maps."""
    xs, ws = c.values.get(x_scale), c.values.get(w_scale)
    if xs is None or ws is None or xs.const is None or ws.const is None or not xs.const.size:
        scale = np.ones(1, np.float32)  # never folded: DequantizeLinear of a non-constant fails
    else:
        product = xs.const.astype(np.float64).reshape(-1)[:1] * ws.const.astype(np.float64)
        scale = product.astype(np.float32).reshape(-1)
    scale_name, zero_name = names(bias + "_scale"), names(bias + "_zero_point")
    c.values[scale_name] = Value("float32", scale.shape, const=scale)
    zeros = np.zeros(scale.shape, np.int32)
    c.values[zero_name] = Value("int32", zeros.shape, const=zeros)
    return scale_name, zero_name
