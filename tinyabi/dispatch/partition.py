"""Assign nodes to backends and group them into partitions.

Assignment (first claim): for each node in execution order, the first backend in preference
order whose :meth:`~tinyabi.backends.Backend.supports` says yes takes it; earlier backends'
refusals are kept as the node's reasons. Backend patterns are matched first, so a chain a
backend wants as a unit is claimed whole. In cost mode, backends that give estimates compete on
estimated time instead, including the cost of moving tensors across partition boundaries.

Grouping: nodes are visited in execution order, and a node joins the partition of one of its
producers that belongs to the same backend when that keeps the partition convex (no path
leaves the partition and comes back); otherwise it starts a new partition. Each node carries the
set of partitions upstream of it as a bitset, so the convexity test costs a few integer
operations and planning stays linear in practice.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from tinyabi.backends.base import Backend, Verdict
from tinyabi.ir.graph import Graph, Node

#: Seconds charged per byte that crosses a partition boundary in cost mode (a memcpy-ish rate).
TRANSFER_SECONDS_PER_BYTE = 1e-10
#: Seconds charged per partition boundary in cost mode (the call and hand-over overhead).
TRANSFER_SECONDS_FIXED = 2e-6


@dataclass
class Assignment:
    """The outcome of assigning one node."""

    backend: str | None
    declined: list[tuple[str, Verdict]] = field(default_factory=list)
    pattern: str | None = None
    first_claim: str | None = None


def safe_supports(backend: Backend, node: Node, graph: Graph) -> Verdict:
    """``backend.supports`` with any exception turned into a refusal that quotes it."""
    try:
        verdict = backend.supports(node, graph)
    except Exception as exc:
        return Verdict.no(f"{backend.name}.supports raised {type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict.no(f"{backend.name}.supports returned {verdict!r}, not a Verdict")
    return verdict


def assign_first_claim(
    graph: Graph,
    backends: Sequence[Backend],
    excluded: dict[str, set[str]] | None = None,
) -> list[Assignment]:
    """First-claim assignment of every node (by position in ``graph.nodes``).

    ``excluded`` maps a node name to backends that must not take it (e.g. they failed to
    compile it), which are recorded as refusals.
    """
    excluded = excluded or {}
    result: list[Assignment | None] = [None] * len(graph.nodes)
    _claim_patterns(graph, backends, excluded, result)
    for i, node in enumerate(graph.nodes):
        if result[i] is not None:
            continue
        assignment = Assignment(None)
        for backend in backends:
            if backend.name in excluded.get(node.name, ()):
                assignment.declined.append((backend.name, Verdict.no("failed to compile earlier")))
                continue
            verdict = safe_supports(backend, node, graph)
            if verdict:
                assignment.backend = backend.name
                break
            assignment.declined.append((backend.name, verdict))
        result[i] = assignment
    return [a for a in result if a is not None]


def _claim_patterns(
    graph: Graph,
    backends: Sequence[Backend],
    excluded: dict[str, set[str]],
    result: list[Assignment | None],
) -> None:
    consumers = graph.consumers()
    for backend in backends:
        try:
            patterns = list(backend.patterns())
        except Exception:
            continue
        for pattern in patterns:
            for start in range(len(graph.nodes)):
                chain = _match_chain(graph, start, pattern.ops, consumers)
                if chain is None or any(result[i] is not None for i in chain):
                    continue
                nodes = [graph.nodes[i] for i in chain]
                if any(backend.name in excluded.get(n.name, ()) for n in nodes):
                    continue
                if not all(safe_supports(backend, n, graph) for n in nodes):
                    continue
                try:
                    if pattern.check is not None and not pattern.check(nodes, graph):
                        continue
                except Exception:
                    continue
                for i in chain:
                    result[i] = Assignment(backend.name, pattern=pattern.name)


def _match_chain(
    graph: Graph,
    start: int,
    ops: Sequence[str],
    consumers: dict[str, list[int]],
) -> list[int] | None:
    chain = [start]
    if graph.nodes[start].op != ops[0]:
        return None
    for op in ops[1:]:
        node = graph.nodes[chain[-1]]
        if len(node.outputs) != 1 or node.outputs[0] in graph.outputs:
            return None
        users = consumers.get(node.outputs[0], [])
        if len(users) != 1 or graph.nodes[users[0]].op != op:
            return None
        chain.append(users[0])
    return chain


def group_partitions(graph: Graph, backend_of: Sequence[str]) -> list[int]:
    """The partition index of every node (by position), partitions numbered in a dependency
    order. (A pattern's chain stays together: each of its nodes joins its producer's partition.)"""
    producers = graph.producers()
    part_of: list[int] = [-1] * len(graph.nodes)
    upstream: list[int] = [0] * len(graph.nodes)  # bitset of partitions each node depends on
    part_backend: list[str] = []
    for i, node in enumerate(graph.nodes):
        preds = sorted({producers[n] for n in node.inputs if n is not None and n in producers})
        chosen = -1
        for p in sorted({part_of[j] for j in preds if backend_of[j] == backend_of[i]}):
            bit = 1 << p
            if all(part_of[j] == p or not upstream[j] & bit for j in preds):
                chosen = p
                break
        if chosen < 0:
            chosen = len(part_backend)
            part_backend.append(backend_of[i])
        part_of[i] = chosen
        deps = 1 << chosen
        for j in preds:
            deps |= upstream[j]
        upstream[i] = deps
    return _renumber_in_dependency_order(graph, part_of, producers)


def _renumber_in_dependency_order(
    graph: Graph, part_of: list[int], producers: dict[str, int]
) -> list[int]:
    count = max(part_of, default=-1) + 1
    edges: list[set[int]] = [set() for _ in range(count)]
    indegree = [0] * count
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name is None or name not in producers:
                continue
            a, b = part_of[producers[name]], part_of[i]
            if a != b and b not in edges[a]:
                edges[a].add(b)
                indegree[b] += 1
    ready = [p for p in range(count) if indegree[p] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        p = heapq.heappop(ready)
        order.append(p)
        for q in edges[p]:
            indegree[q] -= 1
            if indegree[q] == 0:
                heapq.heappush(ready, q)
    if len(order) != count:  # cannot happen for convex partitions
        raise RuntimeError("partitions form a cycle")
    rank = {p: r for r, p in enumerate(order)}
    return [rank[p] for p in part_of]


def assign(
    graph: Graph,
    backends: Sequence[Backend],
    mode: str = "first-claim",
    excluded: dict[str, set[str]] | None = None,
) -> list[Assignment]:
    """Assign every node to a backend, by first claim or (``mode="cost"``) by estimated cost."""
    first = assign_first_claim(graph, backends, excluded)
    if mode == "first-claim":
        return first
    if mode != "cost":
        raise ValueError(f"unknown planning mode {mode!r}: use 'first-claim' or 'cost'")
    return _assign_by_cost(graph, backends, first, excluded or {})


def _assign_by_cost(
    graph: Graph,
    backends: Sequence[Backend],
    first: list[Assignment],
    excluded: dict[str, set[str]],
) -> list[Assignment]:
    """Greedy in execution order: each node goes to the supporting backend with an estimate that
    minimizes its own estimated time plus the cost of fetching its inputs from other backends.
    Nodes that no estimating backend supports keep their first-claim backend."""
    producers = graph.producers()
    chosen: list[str] = []
    result = []
    for i, node in enumerate(graph.nodes):
        a = first[i]
        if a.pattern is not None:
            result.append(a)
            chosen.append(a.backend or "")
            continue
        best: tuple[float, int, str] | None = None
        single = graph.subgraph([i])
        for rank, backend in enumerate(backends):
            if backend.name in excluded.get(node.name, ()):
                continue
            if backend.name != a.backend and not safe_supports(backend, node, graph):
                continue
            try:
                estimate = backend.estimate(single)
            except Exception:
                estimate = None
            if estimate is None:
                continue
            cost = float(estimate.seconds)
            for name in node.inputs:
                if name is None or name not in producers:
                    continue
                if chosen[producers[name]] != backend.name:
                    cost += (
                        TRANSFER_SECONDS_FIXED
                        + TRANSFER_SECONDS_PER_BYTE * graph.tensor(name).nbytes
                    )
            if best is None or (cost, rank) < best[:2]:
                best = (cost, rank, backend.name)
        if best is None or best[2] == a.backend:
            result.append(a)
        else:
            result.append(Assignment(best[2], a.declined, None, first_claim=a.backend))
        chosen.append(result[-1].backend or "")
    return result
