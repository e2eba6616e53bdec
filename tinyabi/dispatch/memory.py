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
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tinyabi.dispatch.plan import MemoryPlan, TensorPlacement
from tinyabi.ir.graph import Graph, Tensor, numpy_dtype

__all__ = [
    "IN_PLACE_OPS",
    "align",
    "lower_bound",
    "memory_aware_order",
    "peak_for_order",
    "plan_memory",
]

#: Operators whose output may reuse their input's bytes (tensor ABI, "Arena and memory rules").
IN_PLACE_OPS = frozenset({"RESHAPE", "SQUEEZE"})


@dataclass
class _Buffer:
    tensors: list[str]
    size: int
    first: int
    last: int


@dataclass
class _Lifetimes:
    """The buffers of a graph, and each tensor's own first and last step."""

    buffers: list[_Buffer]
    first: dict[str, int]
    last: dict[str, int]


def align(size: int, alignment: int) -> int:
    """``size`` rounded up to a multiple of ``alignment``."""
    return (size + alignment - 1) // alignment * alignment


def _nbytes(tensor: Tensor) -> int:
    """``tensor.nbytes`` without numpy's per-call overhead (planning calls it per tensor)."""
    return math.prod(tensor.shape) * numpy_dtype(tensor.dtype).itemsize


def _lifetimes(graph: Graph, alignment: int) -> _Lifetimes:
    end = len(graph.nodes)
    first: dict[str, int] = {name: -1 for name in graph.inputs}
    last: dict[str, int] = {}
    # Constants live in the model; state and scratch live for the session, outside the arena.
    constant = {n for n, t in graph.tensors.items() if t.is_constant or t.is_persistent}
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name is not None and name not in constant:
                last[name] = step
        for name in node.outputs:
            first.setdefault(name, step)
            last.setdefault(name, step)
    for name in graph.outputs:
        if name in first:
            last[name] = end
    for name, start in first.items():
        last.setdefault(name, start)
    owner: dict[str, _Buffer] = {}
    buffers: list[_Buffer] = []
    for name, start in sorted(first.items(), key=lambda kv: kv[1]):
        owner[name] = _Buffer(
            [name], align(_nbytes(graph.tensor(name)), alignment), start, last[name]
        )
        buffers.append(owner[name])
    merged: set[int] = set()
    for step, node in enumerate(graph.nodes):
        if node.op not in IN_PLACE_OPS or node.inputs[0] is None:
            continue
        if node.inputs[0] not in owner:  # a constant operand
            continue
        src, dst = owner[node.inputs[0]], owner[node.outputs[0]]
        if src.last == step and src is not dst and node.inputs[0] not in graph.inputs:
            src.tensors += dst.tensors
            src.last = max(src.last, dst.last)
            src.size = max(src.size, dst.size)
            for name in dst.tensors:
                owner[name] = src
            merged.add(id(dst))
    return _Lifetimes([b for b in buffers if id(b) not in merged], first, last)


def _buffers(graph: Graph, alignment: int) -> list[_Buffer]:
    return _lifetimes(graph, alignment).buffers


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
    """First fit, in the order of ``key``: each buffer takes the lowest offset where it does not
    overlap any already placed buffer whose lifetime overlaps its own.

    Placed buffers are indexed by the steps they are live at and by their first step, so
    finding the ones that overlap a lifetime costs its length, not the number of buffers.
    """
    if not buffers:
        return 0, {}
    lo = min(b.first for b in buffers)
    steps = max(b.last for b in buffers) - lo + 1
    live_at: list[list[int]] = [[] for _ in range(steps)]  # placed buffers live at each step
    born_at: list[list[int]] = [[] for _ in range(steps)]  # placed buffers starting at each step
    placed: list[tuple[int, int]] = []  # (offset, end) of each placed buffer
    offsets: dict[int, int] = {}
    arena = 0
    for b in sorted(buffers, key=key):
        f, last = b.first - lo, b.last - lo
        overlapping = set(live_at[f])
        for s in range(f + 1, last + 1):
            overlapping.update(born_at[s])
        offset = 0
        for off, end in sorted(placed[k] for k in overlapping):
            if offset + b.size <= off:
                break
            offset = max(offset, end)
        k = len(placed)
        placed.append((offset, offset + b.size))
        born_at[f].append(k)
        for s in range(f, last + 1):
            live_at[s].append(k)
        offsets[id(b)] = offset
        arena = max(arena, offset + b.size)
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
    """Offsets for every activation tensor of ``graph`` in its node order.

    State (variable) and scratch tensors are not activations: they live for the whole session,
    so they are listed as persistent tensors and their bytes (aligned) added to
    ``persistent_bytes``.
    """
    persistent = [n for n, t in graph.tensors.items() if t.is_persistent]
    persistent_bytes += sum(align(_nbytes(graph.tensor(n)), alignment) for n in persistent)
    lifetimes = _lifetimes(graph, alignment)
    buffers = lifetimes.buffers
    bound = lower_bound(buffers)
    best: tuple[int, dict[int, int]] | None = None
    for key in _ORDERS:
        arena, offsets = _place(buffers, key)
        if best is None or arena < best[0]:
            best = (arena, offsets)
        if arena == bound:  # cannot do better
            break
    assert best is not None
    arena, offsets = best
    tensors = [
        TensorPlacement(
            tensor=name,
            offset=offsets[id(b)],
            size=_nbytes(graph.tensor(name)),
            first=lifetimes.first[name],
            last=lifetimes.last[name],
            shares_with=None if name == b.tensors[0] else b.tensors[0],
        )
        for b in buffers
        for name in b.tensors
    ]
    tensors.sort(key=lambda t: (t.offset, t.first))
    return MemoryPlan(
        arena_bytes=arena,
        lower_bound_bytes=bound,
        scratch_bytes=scratch_bytes,
        persistent_bytes=persistent_bytes,
        alignment=alignment,
        tensors=tensors,
        persistent_tensors=persistent,
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

    outputs = set(graph.outputs)
    sizes = {name: align(_nbytes(t), alignment) for name, t in graph.tensors.items()}

    def delta(i: int) -> int:
        node = graph.nodes[i]
        grow = sum(sizes[n] for n in node.outputs)
        free = sum(
            sizes[n]
            for n in set(node.inputs)
            if n is not None and remaining_uses.get(n) == 1 and n in producers and n not in outputs
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
