"""The graph IR: tensors, nodes and graphs.

A :class:`Graph` is a static dataflow graph in the TinyABI tensor ABI (NHWC activations, OHWI
convolution weights, affine quantization). Tensors are referred to by name; node inputs may be
``None`` where an optional input is omitted. Nodes whose ``op`` is not a spec operator are
*extension nodes*: their ``op`` carries a namespace (``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM``)
and their ``attrs`` keep the original options so that a backend that knows them can run them.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyabi.errors import GraphError

__all__ = ["DTYPES", "Graph", "Node", "Quantization", "Tensor", "numpy_dtype"]

#: Element types tensors may have, by name (the spec lists which operators accept which).
DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "int8": np.dtype(np.int8),
    "uint8": np.dtype(np.uint8),
    "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
    # Outside the tensor ABI, but representable: extension nodes may use them.
    "float16": np.dtype(np.float16),
    "float64": np.dtype(np.float64),
    "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32),
    "uint64": np.dtype(np.uint64),
}


def numpy_dtype(dtype: str) -> np.dtype[Any]:
    """The numpy dtype of a spec element type name (``"int8"`` -> ``np.int8``)."""
    try:
        return DTYPES[dtype]
    except KeyError:
        raise GraphError(f"unknown element type {dtype!r}") from None


@dataclass(frozen=True, eq=False)
class Quantization:
    """Affine quantization ``real = scale * (q - zero_point)``.

    ``scale`` and ``zero_point`` have one entry (per-tensor) or one per slice along ``axis``
    (per-axis).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=np.float32).reshape(-1))
        object.__setattr__(
            self, "zero_point", np.asarray(self.zero_point, dtype=np.int64).reshape(-1)
        )

    @property
    def per_axis(self) -> bool:
        """Whether there is one scale per slice along :attr:`axis`."""
        return self.scale.size > 1

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Quantization)
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )

    def __hash__(self) -> int:
        return hash((self.axis, self.scale.tobytes(), self.zero_point.tobytes()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "scale": [float(s) for s in self.scale],
            "zero_point": [int(z) for z in self.zero_point],
            "axis": self.axis,
        }


@dataclass(eq=False)
class Tensor:
    """A tensor of the graph: a name, an element type, a static shape, and optionally
    quantization parameters and constant data.

    A *variable* tensor is state that persists across runs (an LSTM's or SVDF's memory): no
    node produces it, it is not a graph input, and it lives for the whole session. A *scratch*
    tensor is working memory an extension node owns (the scratch areas of a model compiled by
    Vela for Ethos-U): no node produces it, it is not a graph input, it holds nothing between
    runs, and only the node that reads it knows what it holds.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    quant: Quantization | None = None
    data: np.ndarray | None = None
    variable: bool = False
    scratch: bool = False

    @property
    def is_constant(self) -> bool:
        """Whether the tensor holds constant data (weights, biases, shape operands)."""
        return self.data is not None

    @property
    def is_state_or_constant(self) -> bool:
        """Whether the tensor is constant data, a variable or scratch (never fed, never
        produced)."""
        return self.data is not None or self.variable or self.scratch

    @property
    def is_persistent(self) -> bool:
        """Whether the tensor is memory that lives for the whole session outside the arena of
        activations (a variable's state, an extension node's scratch)."""
        return self.data is None and (self.variable or self.scratch)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Size in bytes of the tensor's data."""
        return self.size * numpy_dtype(self.dtype).itemsize


@dataclass(eq=False)
class Node:
    """One operator application.

    ``inputs`` and ``outputs`` are tensor names (``None`` for an omitted optional input).
    ``attrs`` holds the operator's attributes by their spec names; for extension nodes, the
    original options of the source format. Construction fills in the spec default of every
    optional attribute a spec node leaves out (or sets to ``None``), so every way of making a
    node (builder, importer, ``dataclasses.replace``) gives complete attributes and validation
    never has to change a node.
    """

    name: str
    op: str
    inputs: list[str | None]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def __post_init__(self) -> None:
        if self.is_extension:
            return
        attrs = self.attrs
        missing = [
            (k, d)
            for k, d in _attribute_defaults(self.op)
            if k not in attrs or (attrs[k] is None and d is not None)
        ]
        if missing:
            # A new dict: the caller's mapping is not changed behind its back.
            self.attrs = {**attrs, **dict(missing)}

    @property
    def is_extension(self) -> bool:
        """Whether the operator lies outside the spec (its name has a namespace)."""
        return "." in self.op

    def describe(self) -> str:
        """``'name' (OP)`` for error messages."""
        return f"node {self.name!r} ({self.op})"


@functools.cache
def _attribute_defaults(op: str) -> tuple[tuple[str, Any], ...]:
    """The spec defaults of ``op``'s optional attributes (none for operators not in the spec)."""
    from tinyabi.spec import load_spec  # the spec package does not import the IR

    spec = load_spec().operators.get(op)
    if spec is None:
        return ()
    return tuple((a.name, a.default) for a in spec.attributes if not a.required)


@dataclass(eq=False, repr=False)
class Graph:
    """A dataflow graph: tensors by name, nodes in execution order, graph inputs/outputs.

    ``print(graph)`` gives a one-line summary (operators, tensor count, inputs and outputs),
    never the weights.
    ``import_notes`` lists, one line each, what the importer normalized in the source file
    (metadata the runtime reads one way although the file says it inconsistently).
    """

    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    name: str = "main"
    import_notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op] = counts.get(node.op, 0) + 1
        ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(counts.items()))

        def signature(names: list[str]) -> str:
            return ", ".join(
                f"{n} {self.tensors[n].dtype}{list(self.tensors[n].shape)}"
                if n in self.tensors
                else n
                for n in names
            )

        return (
            f"Graph {self.name!r}: {len(self.nodes)} nodes ({ops}), {len(self.tensors)} tensors, "
            f"{self.constant_bytes():,} constant bytes; inputs: {signature(self.inputs)}; "
            f"outputs: {signature(self.outputs)}"
        )

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``; a :class:`GraphError` when there is none."""
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r} has no tensor {name!r}") from None

    def node_inputs(self, node: Node) -> list[Tensor | None]:
        """The input tensors of ``node`` (``None`` for omitted optional inputs)."""
        return [None if n is None else self.tensor(n) for n in node.inputs]

    def node_outputs(self, node: Node) -> list[Tensor]:
        """The output tensors of ``node``."""
        return [self.tensor(n) for n in node.outputs]

    def producers(self) -> dict[str, int]:
        """Map of tensor name to the index of the node that writes it."""
        return {out: i for i, node in enumerate(self.nodes) for out in node.outputs}

    def consumers(self) -> dict[str, list[int]]:
        """Map of tensor name to the indices of the nodes that read it, in node order."""
        result: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for name in node.inputs:
                if name is not None:
                    users = result.setdefault(name, [])
                    if not users or users[-1] != i:
                        users.append(i)
        return result

    def topological_order(self) -> list[int]:
        """Node indices in a dependency order, stable with respect to the stored order.

        Raises :class:`GraphError` when a node reads a tensor nothing provides, or when the
        graph has a cycle.
        """
        producers = self.producers()
        available = set(self.inputs) | {
            n for n, t in self.tensors.items() if t.is_state_or_constant
        }
        pending = [0] * len(self.nodes)
        waiting: dict[int, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for name in set(n for n in node.inputs if n is not None):
                if name in available:
                    continue
                if name not in producers:
                    raise GraphError(
                        f"{node.describe()} reads tensor {name!r}, which is neither a graph "
                        "input, a constant nor produced by any node"
                    )
                pending[i] += 1
                waiting.setdefault(producers[name], []).append(i)
        ready = [i for i, count in enumerate(pending) if count == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for j in waiting.get(i, ()):
                pending[j] -= 1
                if pending[j] == 0:
                    heapq.heappush(ready, j)
        if len(order) != len(self.nodes):
            stuck = [self.nodes[i].name for i, c in enumerate(pending) if c > 0][:5]
            raise GraphError(f"graph {self.name!r} has a cycle through nodes {stuck}")
        return order

    def subgraph(self, node_indices: Iterable[int], name: str | None = None) -> Graph:
        """A new graph made of the given nodes.

        Its inputs are the tensors the nodes read but do not produce, other than constants and
        variables (state stays with the nodes that use it); its outputs
        are the tensors the nodes produce that are graph outputs or are read by other nodes.
        Tensors are shared with this graph, not copied.
        """
        chosen = sorted(set(node_indices))
        nodes = [self.nodes[i] for i in chosen]
        produced = {out for node in nodes for out in node.outputs}
        inputs: list[str] = []
        used: dict[str, Tensor] = {}
        for node in nodes:
            for t in node.inputs:
                if t is None:
                    continue
                used[t] = self.tensor(t)
                if t not in produced and not used[t].is_state_or_constant and t not in inputs:
                    inputs.append(t)
            for t in node.outputs:
                used[t] = self.tensor(t)
        inside = set(chosen)
        read_outside = {
            t
            for i, node in enumerate(self.nodes)
            if i not in inside
            for t in node.inputs
            if t is not None
        }
        outputs = [
            t for node in nodes for t in node.outputs if t in read_outside or t in self.outputs
        ]
        return Graph(
            used, nodes, inputs, outputs, name or f"{self.name}[{chosen[0] if chosen else ''}:]"
        )

    def constant_bytes(self) -> int:
        """Total size in bytes of all constant tensors."""
        return sum(t.nbytes for t in self.tensors.values() if t.is_constant)
