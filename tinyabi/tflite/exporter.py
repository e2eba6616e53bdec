"""Export a graph IR (a whole model or a partition) to a ``.tflite`` flatbuffer."""

from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.spec import load_spec
from tinyabi.tflite import options as opmap
from tinyabi.tflite.schema import (
    BUILTIN_CODES,
    FILE_IDENTIFIER,
    TENSOR_TYPE_CODES,
    schema,
)

__all__ = ["export_tflite"]

_EXTRA_TYPE_CODES = {
    "float16": schema.TensorType.FLOAT16,
    "float64": schema.TensorType.FLOAT64,
    "uint16": schema.TensorType.UINT16,
    "uint32": schema.TensorType.UINT32,
    "uint64": schema.TensorType.UINT64,
}

#: Constant buffers are padded to this alignment, as TFLite's converter does.
_BUFFER_ALIGNMENT = 16


def export_tflite(graph: Graph, description: str = "tinyabi") -> bytes:
    """The graph as the bytes of a ``.tflite`` file that TFLite Micro and LiteRT load."""
    model = schema.ModelT()
    model.version = 3
    model.description = description
    model.buffers = [schema.BufferT()]  # buffer 0 is the empty sentinel
    model.operatorCodes = []

    index = {name: i for i, name in enumerate(graph.tensors)}
    sub = schema.SubGraphT()
    sub.name = graph.name
    sub.tensors = [_tensor(t, model.buffers) for t in graph.tensors.values()]
    sub.inputs = [index[n] for n in graph.inputs]
    sub.outputs = [index[n] for n in graph.outputs]
    codes: dict[tuple[int, str, int], int] = {}
    sub.operators = [_operator(node, index, codes, model.operatorCodes) for node in graph.nodes]
    model.subgraphs = [sub]

    builder = flatbuffers.Builder(1024 + graph.constant_bytes() * 2)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _tensor(t: Tensor, buffers: list[Any]) -> Any:
    out = schema.TensorT()
    out.name = t.name
    out.shape = list(t.shape)
    code = TENSOR_TYPE_CODES.get(t.dtype, _EXTRA_TYPE_CODES.get(t.dtype))
    if code is None:
        raise GraphError(f"tensor {t.name!r}: element type {t.dtype!r} cannot be exported")
    out.type = code
    out.buffer = 0
    out.isVariable = t.variable
    if t.data is not None:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(t.data).tobytes(), dtype=np.uint8)
        out.buffer = len(buffers)
        buffers.append(buffer)
    if t.quant is not None:
        q = schema.QuantizationParametersT()
        q.scale = [float(s) for s in t.quant.scale]
        q.zeroPoint = [int(z) for z in t.quant.zero_point]
        q.quantizedDimension = t.quant.axis
        out.quantization = q
    return out


def _operator(
    node: Node, index: dict[str, int], codes: dict[tuple[int, str, int], int], code_list: list[Any]
) -> Any:
    op = schema.OperatorT()
    inputs = list(node.inputs)
    if node.op in opmap.SPEC_OPS:
        # Spec operators' optional inputs are trailing: leave omitted ones out rather than
        # writing -1 (TFLM crashes on a DEPTHWISE_CONV_2D whose bias index is -1).
        while inputs and inputs[-1] is None:
            inputs.pop()
    op.inputs = [-1 if n is None else index[n] for n in inputs]
    op.outputs = [index[n] for n in node.outputs]
    custom = ""
    if node.op in opmap.SPEC_OPS:
        mapping = opmap.SPEC_OPS[node.op]
        builtin = BUILTIN_CODES[mapping.builtin]
        if mapping.options is not None:
            options = getattr(schema, mapping.options + "T")()
            spec = load_spec().operators.get(node.op)
            for f in mapping.fields:
                value = node.attrs.get(f.attr)
                if value is None and spec is not None and spec.attribute(f.attr) is not None:
                    value = spec.attribute(f.attr).default  # type: ignore[union-attr]
                if value is not None:
                    setattr(options, f.field, opmap.encode(f, value))
            op.builtinOptions = options
            op.builtinOptionsType = getattr(schema.BuiltinOptions, mapping.options)
    elif node.op.startswith("tflite.custom."):
        builtin = BUILTIN_CODES["CUSTOM"]
        custom = node.op.removeprefix("tflite.custom.")
        op.customOptions = list(node.attrs.get("custom_options", b""))
    elif node.op.startswith("tflite.") and node.op.removeprefix("tflite.") in BUILTIN_CODES:
        builtin = BUILTIN_CODES[node.op.removeprefix("tflite.")]
        if node.attrs.get("options_type"):
            op.builtinOptionsType = getattr(schema.BuiltinOptions, node.attrs["options_type"])
            op.builtinOptions = opmap.unplain(node.attrs["options"])
        if node.attrs.get("options2_type"):
            op.builtinOptions2Type = getattr(schema.BuiltinOptions2, node.attrs["options2_type"])
            op.builtinOptions2 = opmap.unplain(node.attrs["options2"])
    else:
        raise GraphError(f"{node.describe()}: operator cannot be expressed in TFLite")
    key = (builtin, custom, node.version)
    if key not in codes:
        code = schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(
            builtin, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
        )
        code.version = node.version
        if custom:
            code.customCode = custom
        codes[key] = len(code_list)
        code_list.append(code)
    op.opcodeIndex = codes[key]
    return op
