"""Planning as a pure function: a graph and backends in, a :class:`~tinyabi.dispatch.plan.Plan`
out, with no I/O, no compiling and the graph left as it was.

:func:`make_plan` orders the nodes (the memory-aware order when it lowers the peak of live
activations), checks every node against the spec once and hands that check to every backend,
assigns nodes to backends, groups them into convex partitions and offers each proposed partition
to its backend's :meth:`~tinyabi.backends.Backend.accept`. A refused partition of several units
(a unit is a node or a pattern's chain) is split before its middle unit and grouped again; a
refused single unit leaves that backend for the next one; then planning starts over. Each
refusal adds a break or an exclusion that cannot be added twice, so planning ends, and it is
deterministic.
:func:`partition_graphs` gives the subgraph of each partition of a plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tinyabi.backends.base import Backend
from tinyabi.dispatch.memory import memory_aware_order, peak_for_order
from tinyabi.dispatch.partition import (
    Assignment,
    assign,
    group_partitions,
    safe_accept,
    split_partitions,
)
from tinyabi.dispatch.plan import Decline, NodePlan, PartitionPlan, Plan
from tinyabi.ir.graph import Graph
from tinyabi.ir.validate import check_node

__all__ = ["REFUSED", "execution_graph", "make_plan", "ordered_graph", "partition_graphs"]

#: The start of the decline reason a node gets when its backend refused it as a partition.
REFUSED = "partition refused"


def make_plan(
    graph: Graph,
    backends: Sequence[Backend],
    *,
    fallback: str = "reference",
    mode: str = "first-claim",
    excluded: Mapping[str, Mapping[str, str]] | None = None,
) -> Plan:
    """The plan of ``graph`` on ``backends`` (in preference order, the fallback backend
    included; ``fallback`` is its name, or ``"error"``).

    ``excluded`` maps a node name to the backends that must not take it, each with the reason
    the node's plan shows (for example the error that backend failed to compile it with).
    Nodes no backend takes are in the plan with backend ``""`` (:attr:`Plan.unassigned`);
    making the plan never raises for them.
    """
    view = ordered_graph(graph, _node_order(graph))
    checks = [check_node(node, view) for node in view.nodes]
    exclusions = {name: dict(by) for name, by in (excluded or {}).items()}
    breaks: set[int] = set()
    notes: list[str] = []
    by_name = {b.name: b for b in backends}
    while True:
        assignments = assign(view, backends, mode, exclusions, checks)
        chains: dict[int, list[int]] = {}
        for i, a in enumerate(assignments):
            if a.chain is not None:
                chains.setdefault(a.chain, []).append(i)
        backend_of = [a.backend or "" for a in assignments]
        part_of = group_partitions(view, backend_of, list(chains.values()), breaks)
        subgraphs = split_partitions(view, part_of)
        members: list[list[int]] = [[] for _ in subgraphs]
        for i, p in enumerate(part_of):
            members[p].append(i)
        refused = False
        for p, sub in enumerate(subgraphs):
            backend = by_name.get(backend_of[members[p][0]])
            if backend is None:
                continue
            verdict = safe_accept(backend, sub)
            if verdict:
                continue
            refused = True
            units = _units(members[p], assignments)
            names = [view.nodes[i].name for i in members[p]]
            if len(units) > 1:
                middle = units[len(units) // 2]
                breaks.update(middle)
                notes.append(
                    f"{backend.name} refused partition {names[0]}..{names[-1]} ({len(names)} "
                    f"nodes): {verdict.reason}; split before {view.nodes[middle[0]].name}"
                )
            else:
                for name in names:
                    exclusions.setdefault(name, {})[backend.name] = f"{REFUSED}: {verdict.reason}"
                notes.append(
                    f"{backend.name} refused {', '.join(names)} as a partition: {verdict.reason}"
                )
        if not refused:
            return _plan(view, backends, fallback, mode, assignments, part_of, members, notes)


def _node_order(graph: Graph) -> list[int]:
    """The memory-aware order when it lowers the peak of live tensors, else the stored one."""
    order = memory_aware_order(graph)
    stored = list(range(len(graph.nodes)))
    return order if peak_for_order(graph, order) < peak_for_order(graph, stored) else stored


def _units(members: Sequence[int], assignments: Sequence[Assignment]) -> list[list[int]]:
    """A partition's members as the units grouping visits (a pattern's chain or one node), in
    the order it visits them (where each unit's last node is)."""
    units: dict[object, list[int]] = {}
    for i in members:
        chain = assignments[i].chain
        units.setdefault(("chain", chain) if chain is not None else ("node", i), []).append(i)
    return sorted(units.values(), key=lambda unit: unit[-1])


def _plan(
    view: Graph,
    backends: Sequence[Backend],
    fallback: str,
    mode: str,
    assignments: Sequence[Assignment],
    part_of: Sequence[int],
    members: Sequence[Sequence[int]],
    notes: list[str],
) -> Plan:
    """The plan: assigned partitions renumbered from 0 in dependency order, nodes in execution
    order (partition by partition), unassigned nodes last with partition -1."""
    runnable = [p for p, idx in enumerate(members) if assignments[idx[0]].backend is not None]
    index = {p: k for k, p in enumerate(runnable)}
    order = [i for p in runnable for i in members[p]]
    order += [i for i, a in enumerate(assignments) if a.backend is None]
    names = {b.name: b for b in backends}
    exec_graph = ordered_graph(view, order)
    position = {i: k for k, i in enumerate(order)}
    new_part = [index.get(part_of[i], -1) for i in order]
    subgraphs = split_partitions(exec_graph, new_part) if not any(p < 0 for p in new_part) else []
    if not subgraphs:  # unassigned nodes: the runnable partitions' subgraphs, by themselves
        subgraphs = [exec_graph.subgraph(position[i] for i in members[p]) for p in runnable]
    partitions = []
    for k, (p, sub) in enumerate(zip(runnable, subgraphs)):
        backend = names[assignments[members[p][0]].backend or ""]
        partitions.append(
            PartitionPlan(
                index=k,
                backend=backend.name,
                nodes=[node.name for node in sub.nodes],
                inputs=sub.inputs,
                outputs=sub.outputs,
                estimated_seconds=_safe_estimate(backend, sub),
            )
        )
    nodes = []
    for i in order:
        node, a = view.nodes[i], assignments[i]
        nodes.append(
            NodePlan(
                node=node.name,
                op=node.op,
                backend=a.backend or "",
                partition=index.get(part_of[i], -1),
                pattern=a.pattern,
                declined=[Decline(backend=b, reason=v.reason, hint=v.hint) for b, v in a.declined],
                first_claim=a.first_claim,
            )
        )
    moved = [n for n in nodes if n.first_claim]
    if moved:
        notes = [
            f"cost mode moved {len(moved)} node(s) away from their first-claim backend: "
            + ", ".join(f"{n.node} ({n.first_claim} -> {n.backend})" for n in moved),
            *notes,
        ]
    return Plan(
        model=view.name,
        backends=[b.name for b in backends],
        fallback=fallback,
        mode=mode,
        partitions=partitions,
        nodes=nodes,
        notes=notes,
    )


def _safe_estimate(backend: Backend, subgraph: Graph) -> float | None:
    try:
        estimate = backend.estimate(subgraph)
    except Exception:
        return None
    return None if estimate is None else float(estimate.seconds)


def ordered_graph(graph: Graph, order: Sequence[int]) -> Graph:
    """A new graph with ``graph``'s nodes in ``order`` (positions), sharing its tensors and
    node objects; ``graph`` itself is not changed."""
    return Graph(
        graph.tensors, [graph.nodes[i] for i in order], graph.inputs, graph.outputs, graph.name
    )


def execution_graph(graph: Graph, plan: Plan) -> Graph:
    """``graph`` with its nodes in the plan's order (nodes the plan does not name keep their
    place after it); ``graph`` itself is not changed."""
    rank = {n.node: k for k, n in enumerate(plan.nodes)}
    order = sorted(range(len(graph.nodes)), key=lambda i: rank.get(graph.nodes[i].name, len(rank)))
    return ordered_graph(graph, order)


def partition_graphs(graph: Graph, plan: Plan) -> list[Graph]:
    """The subgraph of each partition of ``plan`` (in ``plan.partitions`` order), named
    ``<model>:partition<index>``: nodes in execution order, inputs and outputs as the plan
    lists them."""
    ordered = execution_graph(graph, plan)
    position = {node.name: i for i, node in enumerate(ordered.nodes)}
    part_of = [-1] * len(ordered.nodes)
    for part in plan.partitions:
        for name in part.nodes:
            part_of[position[name]] = part.index
    if -1 not in part_of:
        return split_partitions(ordered, part_of, lambda p: f"{graph.name}:partition{p}")
    # Some nodes have no backend: each partition on its own (a plan no session runs).
    return [
        ordered.subgraph((position[n] for n in part.nodes), f"{graph.name}:partition{part.index}")
        for part in plan.partitions
    ]
