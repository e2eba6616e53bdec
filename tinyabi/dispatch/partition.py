"""Assign nodes to backends and group them into partitions.

Assignment (first claim): each node goes to the first backend in preference order whose
:meth:`~tinyabi.backends.Backend.supports` says yes; earlier backends' refusals are kept as the
node's reasons. In its turn, a backend's patterns are matched before its single nodes, so a
chain it wants as a unit is claimed whole (but never taken from a preferred backend). In cost
mode, backends that give estimates compete on estimated time instead, including the cost of
moving tensors across partition boundaries.

Grouping: nodes are visited in execution order, and a node joins the partition of one of its
producers that belongs to the same backend when the partitions stay acyclic (hence convex: no
path leaves a partition and comes back); otherwise it starts a new partition. Each partition
carries the set of partitions upstream of it as a bitset, so the test costs a few integer
operations and planning stays linear in practice.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field

from tinyabi.backends.base import Backend, Pattern, Verdict
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.validate import NodeCheck, check_node

__all__ = [
    "TRANSFER_SECONDS_FIXED",
    "TRANSFER_SECONDS_PER_BYTE",
    "Assignment",
    "assign",
    "assign_first_claim",
    "group_partitions",
    "safe_accept",
    "safe_supports",
    "split_partitions",
]

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
    #: The number of the pattern match that claimed this node (one number per matched chain).
    chain: int | None = None


def safe_supports(
    backend: Backend, node: Node, graph: Graph, check: NodeCheck | None = None
) -> Verdict:
    """``backend.supports`` with any exception turned into a refusal that quotes it: the one
    place the contract's "supports never raises" is enforced. ``check`` is the node's spec
    check (computed here when not given)."""
    if check is None:
        check = check_node(node, graph)
    try:
        verdict = backend.supports(node, graph, check)
    except Exception as exc:
        return Verdict.no(f"{backend.name}.supports raised {type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict.no(f"{backend.name}.supports returned {verdict!r}, not a Verdict")
    return verdict


def safe_accept(backend: Backend, partition: Graph) -> Verdict:
    """``backend.accept`` with any exception turned into a refusal that quotes it."""
    try:
        verdict = backend.accept(partition)
    except Exception as exc:
        return Verdict.no(f"{backend.name}.accept raised {type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict.no(f"{backend.name}.accept returned {verdict!r}, not a Verdict")
    return verdict


def assign_first_claim(
    graph: Graph,
    backends: Sequence[Backend],
    excluded: dict[str, dict[str, str]] | None = None,
    checks: Sequence[NodeCheck] | None = None,
) -> list[Assignment]:
    """First-claim assignment of every node (by position in ``graph.nodes``).

    Backends take their turns in preference order. In its turn a backend first claims the
    chains its patterns match among the nodes still unclaimed (a chain is claimed whole or not
    at all), then every other unclaimed node it supports. So a backend's pattern never takes a
    node from a backend the user preferred. ``excluded`` maps a node name to the backends that
    must not take it, each with the reason (e.g. the error it failed to compile the node with);
    they are recorded as refusals with that reason. ``checks`` are the nodes' spec checks (by
    position; computed once here when not given) handed to every backend.
    """
    excluded = excluded or {}
    checks = _checks(graph, checks)
    result: list[Assignment | None] = [None] * len(graph.nodes)
    declined: list[list[tuple[str, Verdict]]] = [[] for _ in graph.nodes]
    consumers = graph.consumers()
    chains = 0
    for backend in backends:
        verdict = _Verdicts(graph, backend, excluded, checks)
        for pattern, chain in _pattern_matches(graph, backend, consumers, result):
            if not all(verdict(i) for i in chain):
                continue
            nodes = [graph.nodes[i] for i in chain]
            try:
                if pattern.check is not None and not pattern.check(nodes, graph):
                    continue
            except Exception:
                continue
            for i in chain:
                result[i] = Assignment(backend.name, list(declined[i]), pattern.name, chain=chains)
            chains += 1
        for i in range(len(graph.nodes)):
            if result[i] is None:
                v = verdict(i)
                if v:
                    result[i] = Assignment(backend.name, declined[i])
                else:
                    declined[i].append((backend.name, v))
    return [Assignment(None, declined[i]) if a is None else a for i, a in enumerate(result)]


class _Verdicts:
    """One backend's verdicts on the nodes of a graph, each asked for at most once."""

    def __init__(
        self,
        graph: Graph,
        backend: Backend,
        excluded: dict[str, dict[str, str]],
        checks: Sequence[NodeCheck],
    ) -> None:
        self.graph, self.backend, self.excluded, self.checks = graph, backend, excluded, checks
        self.cache: dict[int, Verdict] = {}

    def __call__(self, i: int) -> Verdict:
        if i not in self.cache:
            node = self.graph.nodes[i]
            reason = self.excluded.get(node.name, {}).get(self.backend.name)
            if reason is not None:
                self.cache[i] = Verdict.no(reason)
            else:
                self.cache[i] = safe_supports(self.backend, node, self.graph, self.checks[i])
        return self.cache[i]


def _checks(graph: Graph, checks: Sequence[NodeCheck] | None) -> Sequence[NodeCheck]:
    return [check_node(node, graph) for node in graph.nodes] if checks is None else checks


def _pattern_matches(
    graph: Graph,
    backend: Backend,
    consumers: dict[str, list[int]],
    claimed: Sequence[Assignment | None],
) -> Iterator[tuple[Pattern, list[int]]]:
    """The chains of ``backend``'s patterns over unclaimed nodes, in pattern then node order.

    A chain is yielded only if none of its nodes is claimed when it is reached, so the caller
    sees later chains after claiming earlier ones.
    """
    try:
        patterns = [p for p in backend.patterns() if isinstance(p, Pattern) and p.ops]
    except Exception:
        return
    for pattern in patterns:
        for start in range(len(graph.nodes)):
            chain = _match_chain(graph, start, pattern.ops, consumers)
            if chain is not None and all(claimed[i] is None for i in chain):
                yield pattern, chain


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


def group_partitions(
    graph: Graph,
    backend_of: Sequence[str],
    chains: Sequence[Sequence[int]] = (),
    breaks: Collection[int] = (),
) -> list[int]:
    """The partition index of every node (by position), partitions numbered in a dependency
    order.

    Each node in ``chains`` (pattern matches: node positions, each chain in order, each node
    feeding only the next) lands in the same partition as the rest of its chain. A node in
    ``breaks`` (or a chain holding one) starts a new partition (later nodes may join it).

    Nodes (a chain counts as one unit, visited where its last node is) join the partition of one
    of their producers run by the same backend when the partitions stay acyclic (which also
    makes each one convex: no path leaves a partition and comes back); otherwise they start a
    new partition. Each partition keeps the set of partitions upstream of it as a bitset. To
    keep those sets exact without updating downstream partitions, a partition that already
    feeds another one only takes nodes whose producers are all in it or upstream of it.
    """
    producers = graph.producers()
    n = len(graph.nodes)
    chain_of = [-1] * n
    for c, chain in enumerate(chains):
        for i in chain:
            chain_of[i] = c
    part_of: list[int] = [-1] * n
    part_backend: list[str] = []
    upstream: list[int] = []  # bitset of the partitions upstream of each partition
    feeds_others: list[bool] = []
    for i in range(n):
        c = chain_of[i]
        if c >= 0 and chains[c][-1] != i:
            continue  # visited with the chain's last node
        unit = list(chains[c]) if c >= 0 else [i]
        members = set(unit)
        preds = {
            producers[name]
            for j in unit
            for name in graph.nodes[j].inputs
            if name is not None and name in producers and producers[name] not in members
        }
        pred_parts = sorted({part_of[j] for j in preds})
        backend = backend_of[unit[0]]
        above = 0
        for q in pred_parts:
            above |= upstream[q] | (1 << q)
        chosen = -1
        for p in pred_parts if members.isdisjoint(breaks) else ():
            if part_backend[p] != backend:
                continue
            if not feeds_others[p] or above & ~upstream[p] & ~(1 << p) == 0:
                chosen = p
                break
        if chosen < 0:
            chosen = len(part_backend)
            part_backend.append(backend)
            upstream.append(0)
            feeds_others.append(False)
        upstream[chosen] |= above & ~(1 << chosen)
        for q in pred_parts:
            if q != chosen:
                feeds_others[q] = True
        for j in unit:
            part_of[j] = chosen
    return _renumber_in_dependency_order(graph, part_of, producers)


def split_partitions(
    graph: Graph,
    part_of: Sequence[int],
    name: Callable[[int], str] | None = None,
) -> list[Graph]:
    """The subgraph of every partition, in one pass over the graph.

    Each is what ``graph.subgraph(members, name)`` returns for the partition's members (nodes in
    stored order; inputs: non-constant tensors read but not produced inside; outputs: tensors
    produced inside that are graph outputs or read outside), without that method's scan of the
    whole graph per partition. ``name(p)`` names partition ``p`` (default: ``graph[first:]``).
    """
    count = max(part_of, default=-1) + 1
    members: list[list[int]] = [[] for _ in range(count)]
    for i, p in enumerate(part_of):
        members[p].append(i)
    reader: dict[str, int] = {}  # the partition reading each tensor, -1 when several do
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t is not None and reader.setdefault(t, part_of[i]) != part_of[i]:
                reader[t] = -1
    graph_outputs = set(graph.outputs)
    result = []
    for p, idx in enumerate(members):
        nodes = [graph.nodes[i] for i in idx]
        produced = {out for node in nodes for out in node.outputs}
        used: dict[str, Tensor] = {}
        inputs: list[str] = []
        seen_inputs: set[str] = set()
        outputs: list[str] = []
        for node in nodes:
            for t in node.inputs:
                if t is None:
                    continue
                tensor = used[t] = graph.tensor(t)
                if t not in produced and not tensor.is_state_or_constant and t not in seen_inputs:
                    seen_inputs.add(t)
                    inputs.append(t)
            for t in node.outputs:
                used[t] = graph.tensor(t)
                if t in graph_outputs or reader.get(t, p) != p:
                    outputs.append(t)
        label = name(p) if name is not None else f"{graph.name}[{idx[0] if idx else ''}:]"
        result.append(Graph(used, nodes, inputs, outputs, label))
    return result


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
    excluded: dict[str, dict[str, str]] | None = None,
    checks: Sequence[NodeCheck] | None = None,
) -> list[Assignment]:
    """Assign every node to a backend, by first claim or (``mode="cost"``) by estimated cost.
    ``excluded`` and ``checks`` are as for :func:`assign_first_claim`."""
    if mode not in ("first-claim", "cost"):
        raise ValueError(f"unknown planning mode {mode!r}: use 'first-claim' or 'cost'")
    checks = _checks(graph, checks)
    first = assign_first_claim(graph, backends, excluded, checks)
    if mode == "first-claim":
        return first
    return _assign_by_cost(graph, backends, first, excluded or {}, checks)


def _assign_by_cost(
    graph: Graph,
    backends: Sequence[Backend],
    first: list[Assignment],
    excluded: dict[str, dict[str, str]],
    checks: Sequence[NodeCheck],
) -> list[Assignment]:
    """Greedy in execution order: each node goes to the supporting backend with an estimate that
    minimizes its own estimated time plus the cost of fetching its inputs from other backends.
    Nodes that no estimating backend supports keep their first-claim backend."""
    producers = graph.producers()
    singles = split_partitions(graph, range(len(graph.nodes)))
    chosen: list[str] = []
    result = []
    for i, node in enumerate(graph.nodes):
        a = first[i]
        if a.pattern is not None:
            result.append(a)
            chosen.append(a.backend or "")
            continue
        best: tuple[float, int, str] | None = None
        single = singles[i]
        for rank, backend in enumerate(backends):
            if backend.name in excluded.get(node.name, ()):
                continue
            if backend.name != a.backend and not safe_supports(backend, node, graph, checks[i]):
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
