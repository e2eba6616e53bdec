"""Build graphs in code: for tests, conformance suites, demos and single-operator models.

Example::

    b = GraphBuilder("tiny")
    x = b.input("x", "int8", (1, 8, 8, 3), quant=(0.05, -3))
    w = b.const("w", weights, quant=Quantization(w_scales, zeros, axis=0))
    y = b.tensor("y", "int8", (1, 8, 8, 4), quant=(0.1, 2))
    b.node("CONV_2D", [x, w, None], [y], padding="SAME", stride_h=1, stride_w=1)
    graph = b.build(outputs=[y])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import DTYPES, Graph, Node, Quantization, Tensor

__all__ = ["GraphBuilder", "QuantLike", "as_quantization"]

QuantLike = Quantization | tuple[float, int] | None


def as_quantization(quant: QuantLike) -> Quantization | None:
    """A :class:`Quantization` from a ``(scale, zero_point)`` pair, or as given."""
    if quant is None or isinstance(quant, Quantization):
        return quant
    scale, zero_point = quant
    return Quantization(np.array([scale]), np.array([zero_point]))


class GraphBuilder:
    """Accumulates tensors and nodes, then :meth:`build` checks and returns the graph."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self._tensors: dict[str, Tensor] = {}
        self._nodes: list[Node] = []
        self._inputs: list[str] = []

    def _add(self, tensor: Tensor) -> str:
        if tensor.name in self._tensors:
            raise GraphError(f"duplicate tensor name {tensor.name!r}")
        if tensor.dtype not in DTYPES:
            raise GraphError(f"tensor {tensor.name!r}: unknown element type {tensor.dtype!r}")
        self._tensors[tensor.name] = tensor
        return tensor.name

    def tensor(self, name: str, dtype: str, shape: Sequence[int], quant: QuantLike = None) -> str:
        """Declare an activation tensor (written by a node); returns its name."""
        return self._add(Tensor(name, dtype, tuple(int(d) for d in shape), as_quantization(quant)))

    def input(self, name: str, dtype: str, shape: Sequence[int], quant: QuantLike = None) -> str:
        """Declare a graph input; returns its name."""
        self._inputs.append(self.tensor(name, dtype, shape, quant))
        return name

    def variable(self, name: str, dtype: str, shape: Sequence[int], quant: QuantLike = None) -> str:
        """Declare a variable (state) tensor, such as an LSTM's memory; returns its name."""
        tensor = Tensor(name, dtype, tuple(int(d) for d in shape), as_quantization(quant))
        tensor.variable = True
        return self._add(tensor)

    def const(
        self, name: str, data: np.ndarray, quant: QuantLike = None, dtype: str | None = None
    ) -> str:
        """Declare a constant tensor holding ``data``; returns its name."""
        # np.ascontiguousarray would turn a 0-d (scalar) constant into shape (1,).
        array = np.array(data, order="C")
        dtype = dtype or array.dtype.name
        if dtype == "bool_":
            dtype = "bool"
        array = array.astype(DTYPES[dtype], copy=False)
        array.setflags(write=False)
        return self._add(Tensor(name, dtype, array.shape, as_quantization(quant), array))

    def node(
        self,
        op: str,
        inputs: Sequence[str | None],
        outputs: Sequence[str],
        name: str | None = None,
        version: int = 1,
        **attrs: Any,
    ) -> Node:
        """Append a node applying ``op``; attributes are given by their spec names."""
        node = Node(
            name or f"{op.lower()}_{len(self._nodes)}",
            op,
            list(inputs),
            list(outputs),
            attrs,
            version,
        )
        self._nodes.append(node)
        return node

    def build(self, outputs: Sequence[str]) -> Graph:
        """The graph with the given outputs, its nodes in dependency order."""
        graph = Graph(
            dict(self._tensors), list(self._nodes), list(self._inputs), list(outputs), self.name
        )
        for name in graph.outputs:
            graph.tensor(name)
        graph.nodes = [graph.nodes[i] for i in graph.topological_order()]
        return graph
