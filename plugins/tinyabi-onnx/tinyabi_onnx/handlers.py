"""Which lowering handles each ONNX operator of the default domain, and which may run int8."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import onnx

from tinyabi_onnx import lower_elementwise as ew
from tinyabi_onnx import lower_nn as nn
from tinyabi_onnx import lower_tensor as tensor
from tinyabi_onnx.converter import Converter

Handler = Callable[[Converter, onnx.NodeProto, dict[str, Any]], None]

HANDLERS: dict[str, Handler] = {
    "Conv": nn.conv,
    "MaxPool": functools.partial(nn.pool, op="MAX_POOL_2D"),
    "AveragePool": functools.partial(nn.pool, op="AVERAGE_POOL_2D"),
    "GlobalAveragePool": functools.partial(nn.global_pool, op="MEAN"),
    "GlobalMaxPool": functools.partial(nn.global_pool, op="MAX_POOL_2D"),
    "Gemm": nn.gemm,
    "MatMul": nn.matmul,
    "BatchNormalization": nn.batch_norm,
    **{op: ew.unary for op in ew.UNARY},
    **{op: ew.binary for op in ew.BINARY},
    "Clip": ew.clip,
    "Softmax": ew.softmax,
    "QuantizeLinear": ew.quantize,
    "DequantizeLinear": ew.dequantize,
    "Reshape": tensor.reshape,
    "Flatten": tensor.flatten,
    "Squeeze": tensor.squeeze,
    "Unsqueeze": tensor.unsqueeze,
    "Transpose": tensor.transpose,
    "Identity": tensor.alias,
    "Dropout": tensor.alias,
    "Concat": tensor.concat,
    "Slice": tensor.slice_,
    "Pad": tensor.pad,
    "ReduceMean": tensor.reduce_mean,
    "Constant": tensor.constant,
    "Shape": tensor.shape,
}

#: Inputs each operator needs at least (ONNX's arity; a node with fewer is malformed).
MIN_INPUTS = {
    "Conv": 2,
    "Gemm": 2,
    "MatMul": 2,
    "BatchNormalization": 5,
    **{op: 2 for op in ew.BINARY},
    "QuantizeLinear": 2,
    "DequantizeLinear": 2,
    "Reshape": 2,
    "Unsqueeze": 2,
    "Slice": 3,
    "Pad": 2,
    "Constant": 0,
}

#: Operators with an int8 form: between DequantizeLinear and QuantizeLinear they become int8
#: spec operators.
QUANTIZABLE = {
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Gemm",
    "MatMul",
    "Relu",
    "Sigmoid",
    "Tanh",
    "HardSwish",
    "LeakyRelu",
    "Add",
    "Sub",
    "Mul",
    "Clip",
    "Softmax",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Slice",
    "Pad",
    "ReduceMean",
}
