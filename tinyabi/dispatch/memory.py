"""One arena for the whole partitioned model.

Every non-constant tensor gets an offset in one arena. Lifetimes come from the execution order
(a tensor lives from the step that writes it to the last step that reads it; graph inputs from
the start, graph outputs to the end). RESHAPE and SQUEEZE outputs share their input's bytes when
the input dies there, as the tensor ABI allows. Offsets are chosen greedily, trying a few
placement orders (largest first, as TFLM's greedy planner does; longest-lived first; earliest
first) and keeping the smallest arena. The lower bound is the largest sum of sizes of tensors
live at one step.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tinyabi.dispatch.plan import MemoryPlan, TensorPlacement
from tinyabi.ir.graph import Graph

#: Operators whose output may reuse their input's bytes (tensor ABI, "Arena and memory rules").
IN_PLACE_OPS = frozenset({"RESHAPE", "SQUEEZE"})


@dataclass
class _Buffer:
    tensors: list[str]
    size: int
    first: int
    last: int


def align(size: int, alignment: int) -> int:
    """``size`` rounded up to a multiple of ``alignment``."""
    return (size + alignment - 1) // alignment * alignment


def _buffers(graph: Graph, alignment: int) -> list[_Buffer]:
    end = len(graph.nodes)
    first: dict[str, int] = {name: -1 for name in graph.inputs}
    last: dict[str, int] = {}
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name is not None and not graph.tensor(name).is_constant:
                last[name] = step
        for name in node.outputs:
            first.setdefault(name, step)
            last.setdefault(name, step)
    for name in graph.outputs:
        if name in first:
            last[name] = end
    owner: dict[str, _Buffer] = {}
    buffers: list[_Buffer] = []
    for name, start in sorted(first.items(), key=lambda kv: kv[1]):
        owner[name] = _Buffer(
            [name], align(graph.tensor(name).nbytes, alignment), start, last.get(name, start)
        )
        buffers.append(owner[name])
    for step, node in enumerate(graph.nodes):
        if node.op not in IN_PLACE_OPS or node.inputs[0] is None:
            continue
        src, dst = owner[node.inputs[0]], owner[node.outputs[0]]
        if src.last == step and src is not dst and node.inputs[0] not in graph.inputs:
            src.tensors += dst.tensors
            src.last = max(src.last, dst.last)
            src.size = max(src.size, dst.size)
            for name in dst.tensors:
                owner[name] = src
            buffers.remove(dst)
    return buffers


def lower_bound(buffers: Sequence[_Buffer]) -> int:
    """The largest sum of sizes of buffers live at the same step."""
    events: dict[int, int] = {}
    for b in buffers:
        events[b.first] = events.get(b.first, 0) + b.size
        events[b.last + 1] = events.get(b.last + 1, 0) - b.size
    peak = live = 0
    for step in sorted(events):
        live += events[step]
        peak = max(peak, live)
    return peak


def _place(
    buffers: Sequence[_Buffer], key: Callable[[_Buffer], tuple[int, ...]]
) -> tuple[int, dict[int, int]]:
    placed: list[tuple[int, int, _Buffer]] = []  # (offset, end, buffer)
    offsets: dict[int, int] = {}
    for b in sorted(buffers, key=key):
        busy = sorted(
            (off, end) for off, end, o in placed if not (o.last < b.first or b.last < o.first)
        )
        offset = 0
        for off, end in busy:
            if offset + b.size <= off:
                break
            offset = max(offset, end)
        placed.append((offset, offset + b.size, b))
        offsets[id(b)] = offset
    arena = max((end for _, end, _ in placed), default=0)
    return arena, offsets


_ORDERS: list[Callable[[_Buffer], tuple[int, ...]]] = [
    lambda b: (-b.size, b.first),
    lambda b: (-(b.last - b.first), -b.size),
    lambda b: (b.first, -b.size),
    lambda b: (-b.size * (b.last - b.first + 1), b.first),
]


def plan_memory(
    graph: Graph,
    alignment: int = 16,
    scratch_bytes: int = 0,
    persistent_bytes: int = 0,
) -> MemoryPlan:
    """Offsets for every activation tensor of ``graph`` in its node order."""
    buffers = _buffers(graph, alignment)
    arena, offsets = min((_place(buffers, key) for key in _ORDERS), key=lambda r: r[0])
    tensors = [
        TensorPlacement(
            tensor=name,
            offset=offsets[id(b)],
            size=graph.tensor(name).nbytes,
            first=b.first,
            last=b.last,
        )
        for b in buffers
        for name in b.tensors
    ]
    tensors.sort(key=lambda t: (t.offset, t.first))
    return MemoryPlan(
        arena_bytes=arena,
        lower_bound_bytes=lower_bound(buffers),
        scratch_bytes=scratch_bytes,
        persistent_bytes=persistent_bytes,
        alignment=alignment,
        tensors=tensors,
    )


def peak_for_order(graph: Graph, order: Sequence[int], alignment: int = 16) -> int:
    """The lower bound of the arena if the nodes ran in ``order``."""
    reordered = Graph(
        graph.tensors, [graph.nodes[i] for i in order], graph.inputs, graph.outputs, graph.name
    )
    return lower_bound(_buffers(reordered, alignment))


def memory_aware_order(graph: Graph, alignment: int = 16) -> list[int]:
    """A topological order that greedily runs next the ready node that frees the most memory
    (or allocates the least), with the stored order breaking ties."""
    producers = graph.producers()
    consumers = graph.consumers()
    remaining_uses = {name: len(users) for name, users in consumers.items()}
    pending = [0] * len(graph.nodes)
    for i, node in enumerate(graph.nodes):
        pending[i] = len({producers[n] for n in node.inputs if n is not None and n in producers})

    def delta(i: int) -> int:
        node = graph.nodes[i]
        grow = sum(align(graph.tensor(n).nbytes, alignment) for n in node.outputs)
        free = sum(
            align(graph.tensor(n).nbytes, alignment)
            for n in set(node.inputs)
            if n is not None
            and remaining_uses.get(n) == 1
            and n in producers
            and n not in graph.outputs
        )
        return grow - free

    ready = [(delta(i), i) for i, c in enumerate(pending) if c == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        node = graph.nodes[i]
        for n in set(node.inputs):
            if n is not None and n in remaining_uses:
                remaining_uses[n] -= 1
        for j in sorted({j for out in node.outputs for j in consumers.get(out, [])}):
            pending[j] -= 1
            if pending[j] == 0:
                heapq.heappush(ready, (delta(j), j))
    return order if len(order) == len(graph.nodes) else list(range(len(graph.nodes)))
