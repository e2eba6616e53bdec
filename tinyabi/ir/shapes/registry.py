"""The registry of shape rules: for every spec operator, its output shapes from its inputs.

A shape rule ``rule(node, graph) -> list[tuple[int, ...]]`` computes the output shapes of
``node`` from its input tensors (constant operands such as a RESHAPE's shape or a PAD's
paddings are read from ``graph``) and its attributes. It raises
:class:`~tinyabi.errors.GraphError` with a message naming the node when the inputs and attributes
do not fit together. Validation compares the result with the declared output shapes.
"""

from __future__ import annotations

from collections.abc import Callable

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node

__all__ = ["Shape", "ShapeRule", "has_shape_rule", "infer_shapes", "shape_rule"]

Shape = tuple[int, ...]
ShapeRule = Callable[[Node, Graph], list[Shape]]

_RULES: dict[str, ShapeRule] = {}


def shape_rule(*ops: str) -> Callable[[ShapeRule], ShapeRule]:
    """Register the decorated function as the shape rule of ``ops``."""

    def register(rule: ShapeRule) -> ShapeRule:
        for op in ops:
            if op in _RULES:
                raise RuntimeError(f"two shape rules for {op}")
            _RULES[op] = rule
        return rule

    return register


def has_shape_rule(op: str) -> bool:
    """Whether ``op`` has a shape rule."""
    return op in _RULES


def infer_shapes(node: Node, graph: Graph) -> list[Shape]:
    """The output shapes of ``node`` by its operator's shape rule."""
    try:
        rule = _RULES[node.op]
    except KeyError:
        raise GraphError(f"{node.describe()}: no shape rule for operator {node.op}") from None
    return rule(node, graph)
