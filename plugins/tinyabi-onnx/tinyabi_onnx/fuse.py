"""Rewrites around the lowering: BatchNormalization folded into the convolution before it, and
activations folded into the operator before them."""

from __future__ import annotations

import numpy as np
import onnx

from tinyabi_onnx.api import Graph, Tensor
from tinyabi_onnx.attributes import integer, number, plain_attributes
from tinyabi_onnx.converter import DEFAULT_DOMAINS, Converter
from tinyabi_onnx.lower_nn import bn_scale_shift
from tinyabi_onnx.values import NotMapped, Value

#: Spec operators with a fused_activation that can take RELU and RELU6.
FUSING_OPS = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "SUB",
    "MUL",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
}
FUSED = {"RELU": "RELU", "RELU6": "RELU6"}


def fold_batch_norm(order: list[onnx.NodeProto], c: Converter) -> list[onnx.NodeProto]:
    """Fold each inference BatchNormalization whose input is a float Conv's only use into
    that Conv's weights and bias (new constants); returns the new node order."""
    readers: dict[str, int] = {}
    for node in order:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    producers = {out: node for node in order for out in node.output if out}
    replaced: dict[int, onnx.NodeProto | None] = {}
    for node in order:
        if node.op_type != "BatchNormalization" or node.domain not in DEFAULT_DOMAINS:
            continue
        conv = producers.get(node.input[0])
        if (
            conv is None
            or conv.op_type != "Conv"
            or conv.domain not in DEFAULT_DOMAINS
            or readers.get(node.input[0]) != 1
            or node.input[0] in c.reserved
            or id(conv) in replaced
        ):
            continue
        fused = _fold(conv, node, c)
        if fused is not None:
            replaced[id(conv)] = fused
            replaced[id(node)] = None
    result = []
    for node in order:
        if id(node) in replaced:
            new = replaced[id(node)]
            if new is not None:
                result.append(new)
        else:
            result.append(node)
    return result


def _fold(conv: onnx.NodeProto, bn: onnx.NodeProto, c: Converter) -> onnx.NodeProto | None:
    attrs = plain_attributes(bn, c.folder)
    if integer(attrs, "training_mode", 0) or len([o for o in bn.output if o]) != 1:
        return None
    names = list(bn.input[1:5])
    weight = c.values.get(conv.input[1])
    bias = c.values.get(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
    params = [c.values.get(n) for n in names]
    if weight is None or weight.const is None or weight.const.dtype != np.float32:
        return None
    if weight.rank != 4 or len(names) != 4 or any(p is None or p.const is None for p in params):
        return None
    if bias is not None and (bias.const is None or bias.const.shape != (weight.shape[0],)):
        return None
    try:
        scale, shift = bn_scale_shift(
            [p for p in params if p is not None], number(attrs, "epsilon", 1e-5)
        )
    except NotMapped:
        return None
    if scale.size != weight.shape[0]:
        return None
    with np.errstate(all="ignore"):
        w = (weight.const.astype(np.float64) * scale.reshape(-1, 1, 1, 1)).astype(np.float32)
    b0 = np.zeros(weight.shape[0])
    if bias is not None and bias.const is not None:
        b0 = bias.const.astype(np.float64)
    with np.errstate(all="ignore"):
        b = (b0 * scale + shift).astype(np.float32)
    new_w, new_b = _unused(c, bn.output[0] + "_w"), _unused(c, bn.output[0] + "_b")
    c.values[new_w] = Value("float32", w.shape, const=w)
    c.values[new_b] = Value("float32", b.shape, const=b)
    fused = onnx.NodeProto()
    fused.CopyFrom(conv)
    del fused.input[:]
    fused.input.extend([conv.input[0], new_w, new_b])
    del fused.output[:]
    fused.output.append(bn.output[0])
    return fused


def _unused(c: Converter, base: str) -> str:
    name, n = base, 1
    while name in c.values:
        name, n = f"{base}#{n}", n + 1
    return name


def fuse_bias_add(graph: Graph) -> Graph:
    """Fold ``ADD(FULLY_CONNECTED(x), constant vector)`` (MatMul then Add, as exporters write a
    linear layer) into the FULLY_CONNECTED's bias when its own bias is the zero vector the
    import gave it (float32 only)."""
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name is not None:
                readers[name] = readers.get(name, 0) + 1
    producers = {out: node for node in graph.nodes for out in node.outputs}
    dropped = set()
    for node in graph.nodes:
        if node.op != "ADD" or node.attrs.get("fused_activation", "NONE") != "NONE":
            continue
        for middle, other in (node.inputs, reversed(node.inputs)):
            fc = producers.get(middle or "")
            vector = graph.tensors.get(other or "")
            if fc is None or vector is None or fc.op != "FULLY_CONNECTED" or id(fc) in dropped:
                continue
            bias = graph.tensors.get(fc.inputs[2] or "") if len(fc.inputs) > 2 else None
            out = graph.tensor(node.outputs[0])
            units = graph.tensor(middle or "").shape[-1:]
            if (
                bias is None
                or bias.data is None
                or np.any(bias.data != 0)
                or vector.data is None
                or vector.dtype != "float32"
                or out.dtype != "float32"
                or vector.size != units[0]
                or vector.shape[-1:] != units
                or readers.get(middle or "") != 1
                or middle in graph.outputs
                or fc.attrs.get("fused_activation", "NONE") != "NONE"
                or out.shape != graph.tensor(middle or "").shape
            ):
                continue
            data = vector.data.reshape(-1).astype(np.float32)
            name = f"{fc.name}/bias"
            while name in graph.tensors:
                name += "_"
            data.setflags(write=False)
            graph.tensors[name] = Tensor(name, "float32", data.shape, None, data)
            fc.inputs = [fc.inputs[0], fc.inputs[1], name]
            fc.outputs = list(node.outputs)
            dropped.add(id(node))
            break
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph


def fuse_activations(graph: Graph) -> Graph:
    """Fold a RELU or RELU6 into the operator before it when that operator's output has no
    other reader and is no graph output (float32, or int8 with equal quantization)."""
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name is not None:
                readers[name] = readers.get(name, 0) + 1
    producers = {out: node for node in graph.nodes for out in node.outputs}
    dropped = set()
    for node in graph.nodes:
        if node.op not in FUSED or not node.inputs or node.inputs[0] is None:
            continue
        middle = node.inputs[0]
        before = producers.get(middle)
        if (
            before is None
            or before.op not in FUSING_OPS
            or before.attrs.get("fused_activation", "NONE") != "NONE"
            or readers.get(middle) != 1
            or middle in graph.outputs
            or id(before) in dropped
        ):
            continue
        t_in, t_out = graph.tensor(middle), graph.tensor(node.outputs[0])
        if t_in.dtype != t_out.dtype or t_in.dtype not in ("float32", "int8"):
            continue
        if t_in.dtype == "int8" and t_in.quant != t_out.quant:
            continue
        before.attrs["fused_activation"] = FUSED[node.op]
        before.outputs = [node.outputs[0]]
        producers[node.outputs[0]] = before
        dropped.add(id(node))
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph
