"""Shape rules of the activation operators: the output has the input's shape."""

from __future__ import annotations

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.shapes.registry import Shape, shape_rule

__all__ = ["elementwise_activation", "softmax"]


def _single_input(node: Node, graph: Graph) -> Shape:
    """The shape of the one input of ``node``; a :class:`GraphError` unless the node has exactly
    one input and one output."""
    if len(node.inputs) != 1 or node.inputs[0] is None:
        raise GraphError(f"{node.describe()}: takes exactly one input, got {len(node.inputs)}")
    if len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: has exactly one output, got {len(node.outputs)}")
    return graph.tensor(node.inputs[0]).shape


@shape_rule("LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH")
def elementwise_activation(node: Node, graph: Graph) -> list[Shape]:
    """Element-wise activations: the output shape is the input shape (any rank, scalars too)."""
    return [_single_input(node, graph)]


@shape_rule("SOFTMAX")
def softmax(node: Node, graph: Graph) -> list[Shape]:
    """SOFTMAX normalizes along the last axis, so the input needs at least one dimension."""
    shape = _single_input(node, graph)
    if len(shape) < 1:
        raise GraphError(
            f"{node.describe()}: the input must have at least one dimension (softmax runs over "
            "the last axis), got a scalar"
        )
    return [shape]
