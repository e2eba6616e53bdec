"""The ``negative`` generator: valid random cases broken in one way the spec forbids.

Each breaker changes one thing (an output shape the shape rule does not give, a zero point on a
symmetric operand, a quantization that must be copied but is not, a quantized operand left
unquantized, an attribute outside its range, an element type no signature takes). The case is
kept only when :func:`tinyabi.ir.validate.check_node` names the rule it breaks, so every kept
case breaks the spec by the spec's own check. A backend must decline such a node (or reject it
when compiling); answering it is a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from tinyabi.conformance.cases import _candidate
from tinyabi.ir.graph import Graph, Node, Quantization, Tensor, numpy_dtype
from tinyabi.spec import OperandType, OperatorSpec, Signature

__all__ = [
    "BREAKERS",
    "Breaker",
    "asymmetric_symmetric_operand",
    "attribute_out_of_range",
    "make",
    "uncopied_quantization",
    "unquantized_operand",
    "unsigned_input",
    "wrong_output_shape",
]

Breaker = Callable[[OperatorSpec, Signature, Graph], bool]


def _set(graph: Graph, name: str, **changes: object) -> None:
    graph.tensors[name] = replace(graph.tensors[name], **changes)  # type: ignore[arg-type]


def _node(graph: Graph) -> Node:
    return graph.nodes[0]


def _first_output(graph: Graph) -> Tensor:
    return graph.tensor(_node(graph).outputs[0])


def wrong_output_shape(op: OperatorSpec, sig: Signature, graph: Graph) -> bool:
    """The output one element longer along its last axis than the shape rule gives."""
    out = _first_output(graph)
    shape = (*out.shape[:-1], out.shape[-1] + 1) if out.shape else (2,)
    _set(graph, out.name, shape=shape)
    return True


def asymmetric_symmetric_operand(op: OperatorSpec, sig: Signature, graph: Graph) -> bool:
    """A zero point of 3 on an operand the signature requires symmetric."""
    for name in _node(graph).inputs + _node(graph).outputs:
        if name is None:
            continue
        t = graph.tensor(name)
        want = _operand_type(op, sig, graph, name)
        if want is not None and want.symmetric and t.quant is not None:
            zp = np.full(t.quant.zero_point.shape, 3)
            _set(graph, name, quant=Quantization(t.quant.scale, zp, t.quant.axis))
            return True
    return False


def uncopied_quantization(op: OperatorSpec, sig: Signature, graph: Graph) -> bool:
    """An output whose quantization must equal another operand's, with its scale times 1.5."""
    out = _first_output(graph)
    want = _operand_type(op, sig, graph, out.name)
    if want is None or want.same_as is None or out.quant is None:
        return False
    _set(graph, out.name, quant=Quantization(out.quant.scale * 1.5, out.quant.zero_point))
    return True


def unquantized_operand(op: OperatorSpec, sig: Signature, graph: Graph) -> bool:
    """The first quantized input without its quantization."""
    for name in _node(graph).inputs:
        if name is not None and graph.tensor(name).quant is not None:
            _set(graph, name, quant=None)
            return True
    return False


def attribute_out_of_range(op: OperatorSpec, sig: Signature, graph: Graph) -> bool:
    """An integer attribute above its maximum, or an enum attribute with an unknown value."""
    node = _node(graph)
    for a in op.attributes:
        if a.type == "enum" and a.values:
            node.attrs[a.name] = "NOT_A_VALUE"
            return True
        if a.type == "int" and a.max is not None:
            node.attrs[a.name] = int(a.max) + 1
            return True
    return False


def unsigned_input(op: OperatorSpec, sig: Signature, graph: Graph) -> bool:
    """The first input as uint8, an element type no signature takes."""
    for name in _node(graph).inputs:
        if name is not None and not graph.tensor(name).is_constant:
            _set(graph, name, dtype="uint8")
            return True
    return False


BREAKERS: tuple[Breaker, ...] = (
    wrong_output_shape,
    asymmetric_symmetric_operand,
    uncopied_quantization,
    unquantized_operand,
    attribute_out_of_range,
    unsigned_input,
)


def _operand_type(op: OperatorSpec, sig: Signature, graph: Graph, name: str) -> OperandType | None:
    """The signature's operand type of tensor ``name`` (generated names start with the spec
    operand's name; outputs are named after it)."""
    for operand, want in sig.operands.items():
        if name == operand or name.startswith(f"{operand}_"):
            return want
    return None


def make(
    op: OperatorSpec, sig: Signature, rng: np.random.Generator, k: int
) -> tuple[Graph, dict[str, np.ndarray]] | None:
    """A random case of ``sig`` broken by the ``k``-th breaker (in turn) that applies."""
    candidate = _candidate(op, sig, rng)
    if candidate is None:
        return None
    graph, inputs = candidate
    for i in range(len(BREAKERS)):
        if BREAKERS[(k + i) % len(BREAKERS)](op, sig, graph):
            for name in inputs:
                inputs[name] = inputs[name].astype(numpy_dtype(graph.tensor(name).dtype))
            return graph, inputs
    return None
