"""The activation arena of the generated code: tinyabi's memory plan, or a smaller one with
overlapping layers.

tinyabi's plan (:func:`tinyabi.dispatch.plan_memory`) keeps a layer's input and output apart.
Layers the generated code runs in row bands (:mod:`.banding`) need not: when the input dies at
such a layer, :func:`plan` places its output :func:`~.banding.overlap` bytes below it (rows
first to last) or :func:`~.banding.overlap_above` bytes above its start (rows last to first),
whichever keeps the block smaller; the two form one block, with the RESHAPE/SQUEEZE outputs
that share their input's bytes. Blocks are then placed first-fit as tinyabi's planner does
(largest first, and a few other orders, the smallest arena kept). The result is used only
when it is smaller than tinyabi's plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tinyabi.dispatch import align, plan_memory
from tinyabi.ir import Graph

__all__ = ["ArenaPlan", "plan"]

#: Operators whose output shares its input's bytes when the input dies there (as in tinyabi's
#: plan; the generated code does nothing for them).
IN_PLACE_OPS = frozenset({"RESHAPE", "SQUEEZE"})


@dataclass(frozen=True)
class ArenaPlan:
    """Tensor offsets, the arena's size and the layers (node index -> rows last to first)
    whose output overlaps their input (those must run in bands, in that order)."""

    offsets: dict[str, int]
    size: int
    overlapping: dict[int, bool] = field(default_factory=dict)


@dataclass
class _Block:
    """Tensors at fixed offsets from each other; each keeps its own lifetime."""

    members: dict[str, int] = field(default_factory=dict)  # tensor -> offset in the block
    sizes: dict[str, int] = field(default_factory=dict)
    lives: dict[str, tuple[int, int]] = field(default_factory=dict)  # tensor -> first, last
    first: int = 0
    last: int = 0

    @property
    def size(self) -> int:
        return max(self.members[t] + self.sizes[t] for t in self.members)

    def shift(self, by: int) -> None:
        for t in self.members:
            self.members[t] += by


def plan(graph: Graph, overlaps: Mapping[int, tuple[int, int]], alignment: int = 16) -> ArenaPlan:
    """The smaller of tinyabi's plan and one where each node index of ``overlaps`` whose
    input dies there writes its output ``below`` bytes below its input or ``above`` bytes
    above its start (``overlaps[index] = (below, above)``)."""
    base = plan_memory(graph, alignment=alignment)
    tinyabi_plan = ArenaPlan({p.tensor: p.offset for p in base.tensors}, base.arena_bytes)
    if not overlaps:
        return tinyabi_plan
    blocks, merged = _blocks(graph, overlaps, alignment)
    best: tuple[int, dict[str, int]] | None = None
    for key in _ORDERS:
        size, offsets = _place(blocks, key)
        if best is None or size < best[0]:
            best = (size, offsets)
    assert best is not None
    if best[0] >= base.arena_bytes:
        return tinyabi_plan
    return ArenaPlan(best[1], best[0], merged)


def _blocks(
    graph: Graph, overlaps: Mapping[int, tuple[int, int]], alignment: int
) -> tuple[list[_Block], dict[int, bool]]:
    end = len(graph.nodes)
    constant = {n for n, t in graph.tensors.items() if t.is_constant or t.is_persistent}
    first: dict[str, int] = {name: -1 for name in graph.inputs}
    last: dict[str, int] = {}
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
    owner: dict[str, _Block] = {}
    for name, start in first.items():
        size = align(graph.tensor(name).nbytes, alignment)
        life = (start, last.get(name, start))
        owner[name] = _Block({name: 0}, {name: size}, {name: life}, *life)
    merged: dict[int, bool] = {}
    for step, node in enumerate(graph.nodes):
        source = node.inputs[0] if node.inputs else None
        if source is None or source not in owner or source in graph.inputs:
            continue
        if last[source] != step or len(node.outputs) != 1:
            continue
        if node.op in IN_PLACE_OPS:
            choices = [(0, False)]
        elif step in overlaps:
            below, above = overlaps[step]
            choices = [(-below, False), (above, True)]
        else:
            continue
        block, out = owner[source], owner[node.outputs[0]]
        if block is out:
            continue
        (name,) = out.members
        at, backwards = min(
            choices, key=lambda c: _span(block, block.members[source] + c[0], out.sizes[name])
        )
        block.members[name] = block.members[source] + at
        block.sizes[name] = out.sizes[name]
        block.lives[name] = out.lives[name]
        low = min(block.members.values())
        if low < 0:
            block.shift(-low)
        block.last = max(block.last, out.last)
        owner[name] = block
        if node.op not in IN_PLACE_OPS:
            merged[step] = backwards
    unique = list({id(b): b for b in owner.values()}.values())
    return unique, merged


def _span(block: _Block, at: int, size: int) -> int:
    """The block's size with a tensor of ``size`` bytes added at offset ``at``."""
    low = min(at, *block.members.values())
    high = max(at + size, block.size)
    return high - low


def _place(
    blocks: list[_Block], key: Callable[[_Block], tuple[int, ...]]
) -> tuple[int, dict[str, int]]:
    """First fit in the order of ``key``: each block at the lowest offset where none of its
    tensors overlaps, in bytes and in lifetime, a tensor already placed."""
    placed: list[tuple[int, int, int, int]] = []  # start, stop, first, last of placed tensors
    offsets: dict[str, int] = {}
    arena = 0
    for b in sorted(blocks, key=key):
        # Each member's (offset in block, size, lifetime), against the placed tensors it meets.
        clashes = [
            (
                b.members[t],
                b.sizes[t],
                [(s0, s1) for s0, s1, f, la in placed if f <= l1 and f1 <= la],
            )
            for t in b.members
            for f1, l1 in [b.lives[t]]
        ]
        candidates = sorted({0, *(s1 - rel for rel, _, busy in clashes for _, s1 in busy)})
        offset = next(
            x
            for x in candidates
            if x >= 0
            and all(
                x + rel + size <= s0 or s1 <= x + rel
                for rel, size, busy in clashes
                for s0, s1 in busy
            )
        )
        for t, rel in b.members.items():
            offsets[t] = offset + rel
            f1, l1 = b.lives[t]
            placed.append((offset + rel, offset + rel + b.sizes[t], f1, l1))
        arena = max(arena, offset + b.size)
    return arena, offsets


_ORDERS: list[Callable[[_Block], tuple[int, ...]]] = [
    lambda b: (-b.size, b.first),
    lambda b: (-(b.last - b.first), -b.size),
    lambda b: (b.first, -b.size),
    lambda b: (-b.size * (b.last - b.first + 1), b.first),
]
