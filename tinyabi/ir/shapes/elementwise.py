"""Shape rules of the elementwise operator family: ADD, SUB, MUL.

The two inputs broadcast against each other as in numpy and TFLite: shapes are aligned on their
last dimension, the shorter one is padded with leading 1s, and in every dimension the extents
must be equal or one of them must be 1; the output takes the larger extent. TFLite Micro
handles at most :data:`MAX_RANK` dimensions (its ``RuntimeShape`` holds six), so higher ranks
are rejected.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes.registry import Shape, shape_rule

__all__ = ["MAX_RANK", "binary_broadcast_rule", "binary_operands", "broadcast_shape"]

#: The highest rank of an input (and so of the output) of a broadcasting binary operator.
MAX_RANK = 6


def broadcast_shape(node: Node, shape1: Sequence[int], shape2: Sequence[int]) -> Shape:
    """The shape two operands of ``node`` broadcast to (numpy's rule, at most 6 dimensions).

    Raises :class:`GraphError` naming the node when an input has more than :data:`MAX_RANK`
    dimensions or when the shapes do not broadcast.
    """
    for index, shape in enumerate((shape1, shape2), start=1):
        if len(shape) > MAX_RANK:
            raise GraphError(
                f"{node.describe()}: input {index} has rank {len(shape)} ({list(shape)}); "
                f"broadcasting operators take at most {MAX_RANK} dimensions"
            )
        if any(d < 0 for d in shape):
            raise GraphError(f"{node.describe()}: input {index} has a negative extent {shape}")
    rank = max(len(shape1), len(shape2))
    padded1 = (1,) * (rank - len(shape1)) + tuple(shape1)
    padded2 = (1,) * (rank - len(shape2)) + tuple(shape2)
    result = []
    for axis, (d1, d2) in enumerate(zip(padded1, padded2)):
        if d1 == d2 or d2 == 1:
            result.append(d1)
        elif d1 == 1:
            result.append(d2)
        else:
            raise GraphError(
                f"{node.describe()}: input shapes {list(shape1)} and {list(shape2)} do not "
                f"broadcast: dimension {axis - rank} has extents {d1} and {d2} (they must be "
                "equal or one of them 1)"
            )
    return tuple(result)


def binary_operands(node: Node, graph: Graph) -> tuple[Tensor, Tensor]:
    """The two input tensors of a binary elementwise ``node``; a :class:`GraphError` when the
    node does not have exactly two inputs, both present, and one output."""
    if len(node.inputs) != 2 or any(name is None for name in node.inputs):
        raise GraphError(
            f"{node.describe()}: takes exactly two inputs, got {len(node.inputs)} ({node.inputs})"
        )
    if len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: has exactly one output, got {len(node.outputs)}")
    first, second = graph.node_inputs(node)
    assert first is not None and second is not None
    return first, second


@shape_rule("ADD", "SUB", "MUL")
def binary_broadcast_rule(node: Node, graph: Graph) -> list[Shape]:
    """Output shape of ADD, SUB and MUL: the broadcast of the two input shapes."""
    first, second = binary_operands(node, graph)
    return [broadcast_shape(node, first.shape, second.shape)]
