"""Validate a graph against the spec: operands, attributes, type signatures and shapes.

Every problem is a :class:`~tinyabi.errors.GraphError` whose message names the node, the
operator and the rule it breaks. Extension nodes (operators outside the spec) are not checked
here: whichever backend claims them checks them. :func:`check_node` gives the outcome as a value
(the dispatcher computes it once per node and hands it to every backend); :func:`validate_node`
raises instead. Neither changes the node: spec defaults are filled in when a node is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes import has_shape_rule, infer_shapes
from tinyabi.spec import OperandType, OperatorSpec, Signature, Spec, load_spec

__all__ = [
    "NodeCheck",
    "bind_operands",
    "check_node",
    "match_signature",
    "validate_graph",
    "validate_node",
]


@dataclass(frozen=True)
class NodeCheck:
    """The outcome of checking one node against the spec.

    ``signature`` is the name of the signature the node matches (``None`` for extension nodes
    and for nodes that break the spec); ``problem`` is the message of the rule the node breaks
    (``None`` when it breaks none).
    """

    signature: str | None = None
    problem: str | None = None

    @property
    def valid(self) -> bool:
        """Whether the node satisfies the spec (extension nodes always do: nothing to check)."""
        return self.problem is None


_EXTENSION = NodeCheck()  # checks are immutable: one serves every extension node


def validate_graph(graph: Graph, spec: Spec | None = None) -> dict[str, str | None]:
    """Validate every node; returns each node's matching signature name (``None`` for
    extension nodes)."""
    spec = spec or load_spec()
    graph.topological_order()
    return {node.name: validate_node(node, graph, spec) for node in graph.nodes}


def validate_node(node: Node, graph: Graph, spec: Spec | None = None) -> str | None:
    """Validate one node; returns the name of its signature (``None`` for extension nodes).
    Raises :class:`~tinyabi.errors.GraphError` naming the rule the node breaks."""
    check = check_node(node, graph, spec)
    if check.problem is not None:
        raise GraphError(check.problem)
    return check.signature


def check_node(node: Node, graph: Graph, spec: Spec | None = None) -> NodeCheck:
    """Check one node against the spec; never raises for a bad node (the problem is in the
    result). A malformed graph (a tensor that does not exist...) is a problem too."""
    if node.is_extension:
        return _EXTENSION
    try:
        return NodeCheck(signature=_signature_of(node, graph, spec or load_spec()))
    except GraphError as exc:
        return NodeCheck(problem=str(exc))
    except Exception as exc:  # an inconsistent graph must not make a check raise
        return NodeCheck(
            problem=f"{node.describe()}: cannot be checked: {type(exc).__name__}: {exc}"
        )


def _signature_of(node: Node, graph: Graph, spec: Spec) -> str:
    """The node's signature name; a :class:`GraphError` for the first rule it breaks."""
    op = spec.operators.get(node.op)
    if op is None:
        raise GraphError(
            f"{node.describe()}: {node.op} is not a spec operator; operators outside the spec "
            "need a namespace, as in 'tflite.UNIDIRECTIONAL_SEQUENCE_LSTM'"
        )
    operands = bind_operands(node, graph, op)
    _check_attributes(node, op)
    signature = match_signature(node, op, operands)
    if has_shape_rule(node.op):
        inferred = infer_shapes(node, graph)
        for name, shape in zip(node.outputs, inferred):
            declared = graph.tensor(name).shape
            if tuple(shape) != declared:
                raise GraphError(
                    f"{node.describe()}: output {name!r} has shape {list(declared)}, but the "
                    f"shape rule of {node.op} gives {list(shape)}"
                )
    return signature.name


def bind_operands(node: Node, graph: Graph, op: OperatorSpec) -> dict[str, list[Tensor]]:
    """Map each spec operand name to the node's tensors (a list: variadic operands take many)."""
    bound: dict[str, list[Tensor]] = {}
    inputs = list(node.inputs)
    for i, operand in enumerate(op.inputs):
        if operand.variadic:
            taken, inputs = inputs[i:], []
        else:
            taken = inputs[i : i + 1]
        tensors = [graph.tensor(n) for n in taken if n is not None]
        if not tensors and not operand.optional:
            raise GraphError(f"{node.describe()}: missing required input {operand.name!r}")
        if operand.constant and any(not t.is_constant for t in tensors):
            raise GraphError(f"{node.describe()}: input {operand.name!r} must be a constant tensor")
        if tensors:
            bound[operand.name] = tensors
    if len(node.inputs) > len(op.inputs) and not (op.inputs and op.inputs[-1].variadic):
        raise GraphError(
            f"{node.describe()}: {len(node.inputs)} inputs given, "
            f"{node.op} takes at most {len(op.inputs)}"
        )
    if len(node.outputs) != len(op.outputs):
        raise GraphError(
            f"{node.describe()}: {len(node.outputs)} outputs given, {node.op} has {len(op.outputs)}"
        )
    for operand, name in zip(op.outputs, node.outputs):
        bound[operand.name] = [graph.tensor(name)]
    return bound


def _check_attributes(node: Node, op: OperatorSpec) -> None:
    unknown = set(node.attrs) - {a.name for a in op.attributes}
    if unknown:
        raise GraphError(f"{node.describe()}: unknown attributes {sorted(unknown)}")
    for attr in op.attributes:
        if attr.name not in node.attrs or node.attrs[attr.name] is None:
            if attr.required:
                raise GraphError(f"{node.describe()}: missing required attribute {attr.name!r}")
            continue  # construction filled in the default; None means "not given"
        value = node.attrs[attr.name]
        problem = _attribute_problem(attr.type, value, attr.values, attr.min, attr.max)
        if problem:
            raise GraphError(f"{node.describe()}: attribute {attr.name!r} = {value!r} {problem}")


def _attribute_problem(
    kind: str, value: Any, values: list[str] | None, low: float | None, high: float | None
) -> str | None:
    if kind == "enum":
        return None if value in (values or []) else f"is not one of {values}"
    if kind == "bool":
        return None if isinstance(value, (bool, np.bool_)) else "is not a bool"
    if kind == "int_list":
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
        ):
            return "is not a list of integers"
        return None
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        return "is not an integer"
    if kind == "float" and not isinstance(value, (int, float, np.integer, np.floating)):
        return "is not a number"
    if low is not None and value < low:
        return f"is below the minimum {low:g}"
    if high is not None and value > high:
        return f"is above the maximum {high:g}"
    return None


def match_signature(node: Node, op: OperatorSpec, operands: dict[str, list[Tensor]]) -> Signature:
    """The first signature of ``op`` that the node's operand types satisfy."""
    reasons = []
    for signature in op.signatures:
        problem = _signature_problem(signature, operands)
        if problem is None:
            return signature
        reasons.append(f"{signature.name}: {problem}")
    types = ", ".join(f"{name}={ts[0].dtype}" for name, ts in operands.items())
    raise GraphError(
        f"{node.describe()}: operand types ({types}) match no signature of {node.op}: "
        + "; ".join(reasons)
    )


def _signature_problem(signature: Signature, operands: dict[str, list[Tensor]]) -> str | None:
    for name, tensors in operands.items():
        want = signature.operands.get(name)
        if want is None:
            return f"{name} is not part of this signature"
        for tensor in tensors:
            problem = _operand_problem(want, tensor, operands)
            if problem:
                return f"{name} {problem}"
    return None


def _operand_problem(want: OperandType, t: Tensor, operands: dict[str, list[Tensor]]) -> str | None:
    if t.dtype != want.dtype:
        return f"is {t.dtype}, not {want.dtype}"
    q = t.quant
    if want.quantization in ("per_tensor", "per_axis", "any") and q is None:
        return "is not quantized"
    if q is not None:
        if want.quantization == "per_tensor" and q.per_axis:
            return "must be quantized per tensor"
        if want.quantization == "per_axis" and not q.per_axis:
            return "must be quantized per axis"
        if q.per_axis and want.axis is not None and q.axis != want.axis:
            return f"is quantized along axis {q.axis}, not {want.axis}"
        if want.symmetric and np.any(q.zero_point != 0):
            return "must be symmetric (zero points 0)"
    if want.same_as is not None:
        other = operands.get(want.same_as)
        if other and other[0].quant != q:
            return f"must have the same quantization as {want.same_as}"
    return None
