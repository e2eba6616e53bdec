"""The registry of reference kernels: one *prepare* function per spec operator.

A kernel is split as in TFLite Micro: ``prepare(node, graph)`` runs once per session and does
everything that depends only on the graph (signature checks, requantization multipliers,
constant weights in the layout the computation wants, lookup tables); it returns an ``Eval``
that maps the node's input arrays (constants included, ``None`` for omitted optional inputs) to
its output arrays, and does nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tinyabi.errors import UnsupportedOperatorError
from tinyabi.ir.graph import Graph, Node

__all__ = ["Eval", "Prepare", "has_kernel", "kernel", "kernel_ops", "prepare"]

Eval = Callable[[Sequence["np.ndarray | None"]], list[np.ndarray]]
Prepare = Callable[[Node, Graph], Eval]

_KERNELS: dict[str, Prepare] = {}


def kernel(*ops: str) -> Callable[[Prepare], Prepare]:
    """Register the decorated prepare function as the reference kernel of ``ops``."""

    def register(prepare: Prepare) -> Prepare:
        for op in ops:
            if op in _KERNELS:
                raise RuntimeError(f"two reference kernels for {op}")
            _KERNELS[op] = prepare
        return prepare

    return register


def has_kernel(op: str) -> bool:
    """Whether a reference kernel exists for ``op``."""
    return op in _KERNELS


def kernel_ops() -> list[str]:
    """The operators that have a reference kernel, sorted."""
    return sorted(_KERNELS)


def prepare(node: Node, graph: Graph) -> Eval:
    """Prepare the reference kernel of ``node``.

    Raises :class:`UnsupportedOperatorError` naming the operator when there is none.
    """
    try:
        factory = _KERNELS[node.op]
    except KeyError:
        raise UnsupportedOperatorError(
            f"{node.describe()}: no reference kernel for operator {node.op}"
        ) from None
    return factory(node, graph)
