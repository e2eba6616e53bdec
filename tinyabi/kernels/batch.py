"""Batched graphs: the same graph over N samples stacked along the leading axis.

Row-major layout keeps each sample's part of a tensor whose leading dimension is multiplied by
N one contiguous block, so a node computes N samples in one call exactly as N single calls
when it treats the blocks of its leading axis independently: an NHWC batch (convolutions,
pooling), rows (FULLY_CONNECTED), elements (activations, QUANTIZE), the last axis (SOFTMAX),
axes other than the first (MEAN, PAD, CONCATENATION, TRANSPOSE), a row-major RESHAPE. Every
node is checked for that, constant shape operands (a RESHAPE's shape, a TRANSPOSE_CONV's output
shape) are rebound to the batched shapes, and every node's batched output shapes are checked
with its shape rule. A node that does not pass (one that mixes samples, or reads state carried
from one run to the next) runs sample by sample on its block of each tensor instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes import infer_shapes
from tinyabi.ir.shapes.pooling import mean_axes
from tinyabi.ir.shapes.tensor import concat_axis, pad_amounts, squeeze_axes, transpose_perm

__all__ = ["batched_graph", "node_batches"]

_Check = Callable[[Node, Graph], bool]

#: Operators that compute every element from the same element of their input.
_ELEMENTWISE = (
    "RELU",
    "RELU6",
    "LEAKY_RELU",
    "LOGISTIC",
    "TANH",
    "HARD_SWISH",
    "QUANTIZE",
    "DEQUANTIZE",
)
#: Operators over an NHWC batch (their shape rules require rank 4).
_NHWC = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "TRANSPOSE_CONV")


def _always(node: Node, graph: Graph) -> bool:
    return True


def _constant_operands(node: Node, graph: Graph) -> bool:
    """Every operand but the activation (filters, biases, shapes) is constant: a filter fed at
    run time would be stacked like an activation."""
    data = 2 if node.op == "TRANSPOSE_CONV" else 0
    tensors = graph.node_inputs(node)
    return all(t is None or t.is_constant for i, t in enumerate(tensors) if i != data)


def _softmax(node: Node, graph: Graph) -> bool:
    return len(graph.tensor(node.outputs[0]).shape) >= 2  # the last axis is not the batch's


def _binary(node: Node, graph: Graph) -> bool:
    """Every activation operand spans the output's leading axis; constants broadcast over it."""
    out = graph.tensor(node.outputs[0]).shape
    for t in graph.node_inputs(node):
        if t is None:
            continue
        if t.is_constant:
            if len(t.shape) == len(out) and t.shape[0] != 1:
                return False
        elif len(t.shape) != len(out) or t.shape[0] != out[0]:
            return False
    return True


def _concatenation(node: Node, graph: Graph) -> bool:
    inputs = [t for t in graph.node_inputs(node) if t is not None]
    rank = len(graph.tensor(node.outputs[0]).shape)
    return all(not t.is_constant for t in inputs) and concat_axis(node, rank) != 0


def _pad(node: Node, graph: Graph) -> bool:
    return not np.any(pad_amounts(node, graph)[0])


def _mean(node: Node, graph: Graph) -> bool:
    return 0 not in mean_axes(node, graph)


def _squeeze(node: Node, graph: Graph) -> bool:
    x = graph.tensor(node.inputs[0] or "")
    return 0 not in squeeze_axes(node, x.shape)


def _transpose(node: Node, graph: Graph) -> bool:
    return transpose_perm(node, graph)[0] == 0


_CHECKS: dict[str, _Check] = {
    **dict.fromkeys(_ELEMENTWISE, _always),
    **dict.fromkeys(_NHWC, _constant_operands),
    "FULLY_CONNECTED": _constant_operands,  # rows; the shape rule checks the batched rows
    "RESHAPE": _always,  # row-major: each sample stays one block; its shape is rebound
    "SOFTMAX": _softmax,
    "ADD": _binary,
    "SUB": _binary,
    "MUL": _binary,
    "CONCATENATION": _concatenation,
    "PAD": _pad,
    "MEAN": _mean,
    "SQUEEZE": _squeeze,
    "TRANSPOSE": _transpose,
}

#: Constant operands that hold a node's output shape, by operator: (input index).
_SHAPE_OPERANDS = {"RESHAPE": 1, "TRANSPOSE_CONV": 0}


def node_batches(node: Node, graph: Graph) -> bool:
    """Whether ``node`` computes samples stacked along its leading axis independently (a
    predicate: it reads ``graph``, changes nothing)."""
    check = _CHECKS.get(node.op)
    if check is None:
        return False
    tensors = [t for t in graph.node_inputs(node) if t is not None and not t.is_constant]
    outputs = graph.node_outputs(node)
    if any(t.is_state_or_constant for t in tensors) or any(t.is_state_or_constant for t in outputs):
        return False  # state (a variable) is carried from one sample to the next
    if any(len(t.shape) == 0 for t in [*tensors, *outputs]):
        return False
    try:
        return check(node, graph)
    except GraphError:
        return False


def batched_graph(graph: Graph, n: int) -> tuple[Graph, list[bool]]:
    """``graph`` over ``n`` samples stacked along the leading axis of every activation tensor
    (shape ``(n * d0, ...)`` for ``(d0, ...)``), and per node whether it computes them in one
    call exactly as one by one (:func:`node_batches`, and its shape rule agrees with the
    batched shapes). The nodes that do not are left as they are: run them sample by sample."""
    if n < 1:
        raise ValueError(f"a batch has at least one sample, not {n}")
    batched: dict[str, Tensor] = {
        name: t
        if t.is_state_or_constant or not t.shape
        else dataclasses.replace(t, shape=(t.shape[0] * n, *t.shape[1:]))
        for name, t in graph.tensors.items()
    }
    flags = [node_batches(node, graph) for node in graph.nodes]
    nodes = [
        _rebind_shape(node, _SHAPE_OPERANDS[node.op], batched)
        if ok and node.op in _SHAPE_OPERANDS
        else node
        for node, ok in zip(graph.nodes, flags)
    ]
    result = Graph(batched, nodes, list(graph.inputs), list(graph.outputs), graph.name)
    for i, node in enumerate(nodes):
        if flags[i]:
            try:
                shapes = infer_shapes(node, result)
            except GraphError:
                shapes = []
            flags[i] = shapes == [result.tensor(name).shape for name in node.outputs]
    return result, flags


def _rebind_shape(node: Node, index: int, tensors: dict[str, Tensor]) -> Node:
    """``node`` reading its batched output shape from a new constant (and ``new_shape``)."""
    shape = tensors[node.outputs[0]].shape
    attrs = dict(node.attrs)
    if attrs.get("new_shape"):
        attrs["new_shape"] = list(shape)
    inputs = list(node.inputs)
    if index < len(inputs) and inputs[index] is not None:
        old = tensors[inputs[index] or ""]
        name = f"{node.name}/batched-shape"
        while name in tensors:
            name += "'"
        data = np.asarray(shape, dtype=old.data.dtype if old.data is not None else np.int32)
        tensors[name] = Tensor(name, old.dtype, (len(shape),), data=data)
        inputs[index] = name
    return dataclasses.replace(node, inputs=inputs, attrs=attrs)
