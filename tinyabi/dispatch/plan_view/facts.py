"""What the plan view shows about each node and tensor, gathered once from the plan and graph.

The facts are plain data: the SVG drawings turn them into hover titles, and the page embeds them
as JSON for the details panel. Every string here may come from an untrusted model file; it is
kept verbatim and escaped where it is written out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tinyabi.dispatch.plan import Decline, NodePlan, Plan
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import check_node

__all__ = ["NodeFacts", "PlanFacts", "TensorFacts", "gather_facts", "signature_of", "type_text"]


@dataclass(frozen=True)
class NodeFacts:
    """One node of the graph (by its step, i.e. its index in execution order) and its plan."""

    index: int
    name: str
    op: str
    version: int
    backend: str
    partition: int
    signature: str | None
    inputs: list[str]
    outputs: list[str]
    declined: list[Decline]
    pattern: str | None = None
    first_claim: str | None = None
    #: Indices (into the tensor facts) of the activation tensors the node reads or writes.
    tensors: list[int] = field(default_factory=list)

    def title(self) -> str:
        """A plain-text summary for a hover tooltip."""
        lines = [
            f"{self.name} - {self.op} v{self.version} (step {self.index})",
            f"backend: {self.backend}, partition {self.partition}",
            f"signature: {self.signature or 'none matched'}",
        ]
        if self.pattern:
            lines.append(f"pattern: {self.pattern}")
        if self.first_claim:
            lines.append(f"first claim would have been: {self.first_claim}")
        lines += [f"in: {text}" for text in self.inputs]
        lines += [f"out: {text}" for text in self.outputs]
        for d in self.declined:
            lines.append(f"declined by {d.backend}: {d.reason}")
            if d.hint:
                lines.append(f"  hint: {d.hint}")
        return "\n".join(lines)

    def to_data(self) -> dict[str, Any]:
        """A JSON-friendly form for the details panel."""
        data = dataclasses.asdict(self)
        data["declined"] = [d.model_dump() for d in self.declined]
        return data


@dataclass(frozen=True)
class TensorFacts:
    """One activation tensor's place in the arena and its lifetime."""

    index: int
    name: str
    offset: int
    size: int
    first: int
    last: int
    type: str
    #: Whether it is a graph output (it lives to the end; ``last`` is then the step count).
    output: bool = False
    #: The tensor whose bytes this one reuses in place, if any.
    shares_with: str | None = None
    backend: str = ""
    producer: int | None = None
    consumers: list[int] = field(default_factory=list)

    def title(self) -> str:
        """A plain-text summary for a hover tooltip."""
        start = "graph input" if self.first < 0 else f"step {self.first}"
        end = "the end (graph output)" if self.output else f"step {self.last}"
        text = (
            f"{self.name}\n{self.type}, {self.size:,} B at offset {self.offset:,}"
            f"..{self.offset + self.size:,}\nlive from {start} to {end}"
        )
        if self.shares_with:
            text += f"\nreuses the bytes of {self.shares_with}"
        return text

    def to_data(self) -> dict[str, Any]:
        """A JSON-friendly form for the details panel."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PlanFacts:
    """The facts about every node and placed tensor, in execution order and arena order."""

    nodes: list[NodeFacts]
    tensors: list[TensorFacts]

    def to_data(self) -> dict[str, Any]:
        """A JSON-friendly form of everything."""
        return {
            "nodes": [n.to_data() for n in self.nodes],
            "tensors": [t.to_data() for t in self.tensors],
        }


def type_text(graph: Graph, name: str | None) -> str:
    """``name: int8[1, 8, 8, 3]`` (with ``const`` for constants), or ``(omitted)``."""
    if name is None:
        return "(omitted)"
    t = graph.tensors.get(name)
    if t is None:
        return f"{name}: (unknown tensor)"
    kind = " const" if t.is_constant else ""
    return f"{name}: {t.dtype}{list(t.shape)}{kind}"


def signature_of(node: Node, graph: Graph) -> str | None:
    """The name of the spec signature the node matches, or ``None`` (never raises)."""
    return check_node(node, graph).signature


def gather_facts(plan: Plan, graph: Graph, max_nodes: int | None = None) -> PlanFacts:
    """Facts about the first ``max_nodes`` nodes of ``graph`` (all by default) and the tensors
    the memory plan places that are written before the last of them runs."""
    count = len(graph.nodes) if max_nodes is None else min(max_nodes, len(graph.nodes))
    plans = _node_plans(plan, graph)
    placements = [] if plan.memory is None else plan.memory.tensors
    placements = [p for p in placements if p.first < count]
    tensor_index = {p.tensor: k for k, p in enumerate(placements)}
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = {}
    nodes = []
    for i, node in enumerate(graph.nodes[:count]):
        for name in node.outputs:
            producer.setdefault(name, i)
        for name in dict.fromkeys(n for n in node.inputs if n is not None):
            consumers.setdefault(name, []).append(i)
        p = plans[i]
        touched = [n for n in [*node.inputs, *node.outputs] if n is not None and n in tensor_index]
        nodes.append(
            NodeFacts(
                index=i,
                name=node.name,
                op=node.op,
                version=node.version,
                backend=p.backend if p else "?",
                partition=p.partition if p else -1,
                signature=signature_of(node, graph),
                inputs=[type_text(graph, n) for n in node.inputs],
                outputs=[type_text(graph, n) for n in node.outputs],
                declined=list(p.declined) if p else [],
                pattern=p.pattern if p else None,
                first_claim=p.first_claim if p else None,
                tensors=sorted({tensor_index[n] for n in touched}),
            )
        )
    tensors = []
    for k, place in enumerate(placements):
        made_by = producer.get(place.tensor)
        tensors.append(
            TensorFacts(
                index=k,
                name=place.tensor,
                offset=place.offset,
                size=place.size,
                first=place.first,
                last=place.last,
                output=place.last >= len(graph.nodes),
                shares_with=getattr(place, "shares_with", None),
                type=type_text(graph, place.tensor).rpartition(": ")[2],
                backend="" if made_by is None else nodes[made_by].backend,
                producer=made_by,
                consumers=consumers.get(place.tensor, []),
            )
        )
    return PlanFacts(nodes, tensors)


def _node_plans(plan: Plan, graph: Graph) -> list[NodePlan | None]:
    """The plan entry of each graph node: by position when the names line up, else by name."""
    if [n.node for n in plan.nodes] == [n.name for n in graph.nodes]:
        return list(plan.nodes)
    by_name = {n.node: n for n in plan.nodes}
    return [by_name.get(node.name) for node in graph.nodes]
