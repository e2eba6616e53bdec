"""The activation arena of the generated code: tinyabi's memory plan, or a smaller one with
overlapping layers.

tinyabi's plan (:func:`tinyabi.dispatch.plan_memory`) keeps a layer's input and output apart.
Layers the generated code runs in row bands (:mod:`.banding`) need not: when the input dies at
such a layer, :func:`plan` places its output :func:`~.banding.overlap` bytes below it (rows
first to last) or :func:`~.banding.overlap_above` bytes above its start (rows last to first),
whichever keeps the block smaller; the two form one block, with the RESHAPE/SQUEEZE outputs
that share their input's bytes. Blocks are then placed first-fit as tinyabi's planner does
(largest first, and a few other orders, the smallest arena kept). Each layer's scratch buffer
is placed too, as a block live only while its layer runs, so it takes bytes no live tensor
holds then (the layers share those bytes with each other and with the activations), in
tinyabi's plan as in the banded one; the smaller arena wins.

A banded layer may offer several bands (coarse first: fewer calls, larger overlap; only the
coarse ones unless the arena is optimised for size, :data:`.banding.Optimise`). The plan
tries each fineness everywhere, then layer by layer the option giving the smallest arena,
the coarsest among equals, so finer bands (more calls) are used only where they save bytes.

:func:`layer_bound` is what layer-at-a-time execution needs at least: the most bytes live at
once over the layers (the tensors a layer reads, writes and that stay live across it, plus its
scratch buffer), which no plan keeping every tensor whole can go below; the banded plan goes
below it because a banded layer's output overlaps its input.

:func:`plan_buffer_free` may also drop some layers' scratch buffers, for layers that have a
buffer-free alternative (a depthwise convolution through ``arm_depthwise_conv_s8`` instead of
its wrapper): only those whose buffer sets the arena's peak, i.e. only when dropping them
makes the arena smaller, and no more of them than that needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tinyabi.dispatch import align, plan_memory
from tinyabi.ir import Graph

__all__ = ["ArenaPlan", "layer_bound", "plan", "plan_buffer_free"]

#: Operators whose output shares its input's bytes when the input dies there (as in tinyabi's
#: plan; the generated code does nothing for them).
IN_PLACE_OPS = frozenset({"RESHAPE", "SQUEEZE"})


@dataclass(frozen=True)
class ArenaPlan:
    """Tensor offsets, the arena's size (activations and scratch buffers), each layer's
    scratch buffer (node index -> offset, bytes) and the layers (node index -> rows last to
    first) whose output overlaps their input (those must run in bands, in that order)."""

    offsets: dict[str, int]
    size: int
    scratch: dict[int, tuple[int, int]] = field(default_factory=dict)
    overlapping: dict[int, bool] = field(default_factory=dict)
    #: Bytes of each tensor.
    sizes: dict[str, int] = field(default_factory=dict)
    #: Which of its band options (index into ``options[layer]``) each overlapping layer runs.
    choice: dict[int, int] = field(default_factory=dict)
    #: :func:`layer_bound` of the graph with the same scratch buffers.
    bound: int = 0

    @property
    def activations(self) -> int:
        """One past the last byte of any activation tensor."""
        return max((self.offsets[t] + self.sizes[t] for t in self.offsets), default=0)


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


#: Names of the scratch region's stand-ins in a plan (not tensor names: they hold a NUL).
_SCRATCH = "\0scratch"


def _scratch_blocks(scratch: Mapping[int, int], alignment: int) -> list[_Block]:
    """Each layer's scratch buffer as a block live at the layer's step only."""
    return [
        _Block({name: 0}, {name: align(need, alignment)}, {name: (step, step)}, step, step)
        for step, need in sorted(scratch.items())
        if need > 0
        for name in [f"{_SCRATCH}{step}"]
    ]


def plan(
    graph: Graph,
    options: Mapping[int, Sequence[tuple[int, int]]],
    scratch: Mapping[int, int] | None = None,
    alignment: int = 16,
) -> ArenaPlan:
    """The smallest arena among tinyabi's plan and one where a node index of ``options``
    whose input dies there writes its output ``below`` bytes below its input or ``above``
    bytes above its start, ``(below, above)`` being one of ``options[index]`` (its bands,
    coarse first; see the module docstring for the choice), each with the scratch buffer
    every layer asks for (``scratch``: node index -> bytes) placed where nothing live at that
    layer lies: the layers share those bytes with each other and the activations."""
    base = plan_memory(graph, alignment=alignment)
    sizes = {p.tensor: align(p.size, alignment) for p in base.tensors}
    scratch = scratch or {}
    buffers = _scratch_blocks(scratch, alignment)
    first, last = _lifetimes(graph)
    fixed = [
        _Block({t: o}, {t: sizes[t]}, {t: (first[t], last[t])}, first[t], last[t])
        for t, o in ((p.tensor, p.offset) for p in base.tensors)
    ]
    size, offsets = _place([*fixed, *buffers], _ORDERS[0], pinned=len(fixed))
    best: _Candidate = (size, offsets, {}, {})
    options = {i: list(o) for i, o in options.items() if o}
    if options:
        best = min(best, _choose(graph, options, buffers, alignment), key=lambda c: c[0])
    size, offsets, merged, choice = best
    regions = {
        int(t[len(_SCRATCH) :]): (o, int(scratch[int(t[len(_SCRATCH) :])]))
        for t, o in offsets.items()
        if t.startswith(_SCRATCH)
    }
    tensors = {t: o for t, o in offsets.items() if not t.startswith(_SCRATCH)}
    return ArenaPlan(
        tensors,
        size,
        regions,
        merged,
        {t: graph.tensor(t).nbytes for t in tensors},
        {i: choice[i] for i in merged},
        layer_bound(graph, scratch, alignment),
    )


#: A plan: arena size, offsets, overlapping layers (-> backwards), band choice per layer.
_Candidate = tuple[int, dict[str, int], dict[int, bool], dict[int, int]]
#: Passes of :func:`_choose` over the layers at most.
PASSES = 2


def _choose(
    graph: Graph,
    options: Mapping[int, Sequence[tuple[int, int]]],
    buffers: list[_Block],
    alignment: int,
) -> _Candidate:
    """The bands of each layer: first the same fineness everywhere (the coarsest of the
    smallest arenas), then, layer by layer, the option that gives the smallest arena, the
    coarsest of equals (fewer calls), for at most :data:`PASSES` passes."""
    levels = max(len(o) for o in options.values())
    best: _Candidate | None = None
    for level in range(levels):
        choice = {i: min(level, len(o) - 1) for i, o in options.items()}
        trial = _banded(graph, options, choice, buffers, alignment)
        if best is None or trial[0] < best[0]:
            best = trial
    assert best is not None
    for _ in range(PASSES):
        before = best[0]
        for i in sorted(i for i, o in options.items() if len(o) > 1):
            for k in range(len(options[i])):
                if k == best[3][i]:
                    continue
                trial = _banded(graph, options, {**best[3], i: k}, buffers, alignment)
                if trial[0] < best[0] or (trial[0] == best[0] and k < best[3][i]):
                    best = trial
        if best[0] == before:
            break
    return best


def _banded(
    graph: Graph,
    options: Mapping[int, Sequence[tuple[int, int]]],
    choice: Mapping[int, int],
    buffers: list[_Block],
    alignment: int,
) -> _Candidate:
    """The smallest of the placement orders with the bands ``choice`` picks."""
    overlaps = {i: options[i][k] for i, k in choice.items()}
    blocks, merged = _blocks(graph, overlaps, alignment)
    size, offsets = min((_place([*blocks, *buffers], key) for key in _ORDERS), key=lambda c: c[0])
    return size, offsets, merged, dict(choice)


def plan_buffer_free(
    graph: Graph,
    options: Mapping[int, Sequence[tuple[int, int]]],
    scratch: Mapping[int, int],
    candidates: Iterable[int],
    alignment: int = 16,
) -> tuple[ArenaPlan, frozenset[int]]:
    """:func:`plan`, with the scratch buffers of some ``candidates`` (node indices that can
    run without their buffer) dropped when that makes the arena smaller: the plan and the
    layers that go without. A candidate is dropped (in the order of decreasing buffer size)
    while the arena does not grow; then each dropped one gets its buffer back unless that
    makes the arena grow; when the result is no smaller than :func:`plan`'s, none goes
    without. So every layer that goes without is one whose buffer the arena's peak needs."""
    base = plan(graph, options, scratch, alignment)
    pending = sorted(
        (i for i in set(candidates) if scratch.get(i, 0) > 0), key=lambda i: (-scratch[i], i)
    )

    def without(dropped: frozenset[int]) -> ArenaPlan:
        kept = {i: n for i, n in scratch.items() if i not in dropped}
        return plan(graph, options, kept, alignment)

    best, dropped = base, frozenset[int]()
    for i in pending:
        trial = without(dropped | {i})
        if trial.size <= best.size:
            best, dropped = trial, dropped | {i}
    for i in sorted(dropped, key=lambda i: (scratch[i], -i)):
        trial = without(dropped - {i})
        if trial.size <= best.size:
            best, dropped = trial, dropped - {i}
    if best.size >= base.size:
        return base, frozenset()
    return best, dropped


def layer_bound(graph: Graph, scratch: Mapping[int, int] | None = None, alignment: int = 16) -> int:
    """The layer-by-layer bound: the largest, over the layers, of the bytes live while the
    layer runs (every activation written before it and read at or after it, graph inputs
    from the start and outputs to the end, each rounded up to ``alignment``; a RESHAPE or
    SQUEEZE output not counted at its own step when its input dies there, as they share
    bytes) plus the layer's scratch buffer (``scratch``: node index -> bytes)."""
    scratch = scratch or {}
    first, last = _lifetimes(graph)
    alias = {
        node.outputs[0]
        for step, node in enumerate(graph.nodes)
        if node.op in IN_PLACE_OPS
        and node.inputs
        and node.inputs[0] is not None
        and last.get(str(node.inputs[0])) == step
    }
    peak = 0
    for step in range(len(graph.nodes)):
        live = sum(
            align(graph.tensor(t).nbytes, alignment)
            for t in first
            if first[t] <= step <= last[t] and not (t in alias and first[t] == step)
        )
        peak = max(peak, live + align(scratch.get(step, 0), alignment))
    return peak


def _lifetimes(graph: Graph) -> tuple[dict[str, int], dict[str, int]]:
    """Each activation's first and last step (graph inputs from -1, outputs to the end)."""
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
    for name, start in first.items():
        last.setdefault(name, start)
    return first, last


def _blocks(
    graph: Graph, overlaps: Mapping[int, tuple[int, int]], alignment: int
) -> tuple[list[_Block], dict[int, bool]]:
    """Every activation in a block of its own, then each banded layer's output (and each
    RESHAPE/SQUEEZE output) joined to its input's block when the input dies there, below or
    above it, whichever keeps the block smaller."""
    first, last = _lifetimes(graph)
    owner: dict[str, _Block] = {}
    for name, start in first.items():
        size = align(graph.tensor(name).nbytes, alignment)
        life = (start, last[name])
        owner[name] = _Block({name: 0}, {name: size}, {name: life}, *life)
    merged: dict[int, bool] = {}
    for step, node in enumerate(graph.nodes):
        source = node.inputs[0] if node.inputs else None
        if source is None or source not in owner:
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
        base, size = block.members[source], out.sizes[name]
        at, backwards = min(choices, key=lambda c: _span(block, base + c[0], size))
        block.members[name] = base + at
        block.sizes[name] = size
        block.lives[name] = out.lives[name]
        low = min(block.members.values())
        if low < 0:
            block.shift(-low)
        block.last = max(block.last, out.last)
        owner[name] = block
        if node.op not in IN_PLACE_OPS:
            merged[step] = backwards
    return list({id(b): b for b in owner.values()}.values()), merged


def _span(block: _Block, at: int, size: int) -> int:
    """The block's size with a tensor of ``size`` bytes added at offset ``at``."""
    low = min(at, *block.members.values())
    high = max(at + size, block.size)
    return high - low


def _place(
    blocks: list[_Block], key: Callable[[_Block], tuple[int, ...]], pinned: int = 0
) -> tuple[int, dict[str, int]]:
    """First fit in the order of ``key``: each block at the lowest offset where none of its
    tensors overlaps, in bytes and in lifetime, a tensor already placed. The first ``pinned``
    blocks keep their offsets (their members' offsets are absolute) and go first."""
    placed: list[tuple[int, int, int, int]] = []  # start, stop, first, last of placed tensors
    offsets: dict[str, int] = {}
    arena = 0
    for b in blocks[:pinned]:
        for t, at in b.members.items():
            offsets[t] = at
            placed.append((at, at + b.sizes[t], *b.lives[t]))
            arena = max(arena, at + b.sizes[t])
    for b in sorted(blocks[pinned:], key=key):
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
