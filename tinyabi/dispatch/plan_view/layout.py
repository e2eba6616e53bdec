"""A layered layout of a planned graph: partitions as horizontal bands, nodes in layers.

Nodes are placed in execution order. A node's layer is one below its deepest producer, and
never above the first layer of its band: each run of consecutive nodes of one partition gets a
band of its own, below the previous band, so the bands read top to bottom in the order the
partitions run and every edge points down. Inside a layer, nodes are sorted by the mean
position of their producers (one barycentre pass), which keeps most edges short and uncrossed.
Graph inputs sit in a row above the first band, graph outputs in a row below the last.
Edges that skip rows run down lanes to the right of the rows they pass, so they never cross
a box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tinyabi.ir.graph import Graph

__all__ = [
    "BAND_GAP",
    "BAND_PAD",
    "BOX_H",
    "BOX_W",
    "GUTTER",
    "LANE_GAP",
    "LANE_STEP",
    "MARGIN",
    "PILL_H",
    "PITCH_X",
    "ROW_H",
    "Band",
    "Box",
    "Edge",
    "GraphLayout",
    "layered_layout",
]

BOX_W = 184
BOX_H = 42
PITCH_X = BOX_W + 24
ROW_H = BOX_H + 26
PILL_H = 24
BAND_GAP = 10
BAND_PAD = 10
GUTTER = 132
MARGIN = 12
LANE_GAP = 14
LANE_STEP = 10


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        """The horizontal centre."""
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        """The bottom edge."""
        return self.y + self.h


@dataclass(frozen=True)
class Band:
    """A run of consecutive nodes (``first``..``last`` inclusive) of one partition."""

    partition: int
    first: int
    last: int
    box: Box


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from one box to another."""

    tensor: str
    src: Box
    dst: Box
    #: Whether the tensor crosses a partition boundary (it is handed over between partitions).
    crossing: bool
    #: For an edge that skips rows: the x of the vertical lane it runs down, right of the boxes.
    lane: float | None = None


@dataclass(frozen=True)
class GraphLayout:
    """Where everything goes, in SVG user units."""

    boxes: list[Box]
    inputs: dict[str, Box]
    outputs: dict[str, Box]
    bands: list[Band]
    edges: list[Edge]
    width: float
    height: float


def _layers(graph: Graph, partition_of: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """The layer of each node, and the first node and first layer of each band."""
    producer: dict[str, int] = {}
    layer: list[int] = []
    band_start: list[int] = []
    band_first_layer: list[int] = []
    deepest = -1
    floor = 0
    for i, node in enumerate(graph.nodes[: len(partition_of)]):
        if i == 0 or partition_of[i] != partition_of[i - 1]:
            floor = deepest + 1
            band_start.append(i)
            band_first_layer.append(floor)
        parents = [producer[n] for n in node.inputs if n is not None and n in producer]
        layer.append(max([floor] + [layer[p] + 1 for p in parents]))
        deepest = max(deepest, layer[i])
        for name in node.outputs:
            producer.setdefault(name, i)
    return layer, band_start, band_first_layer


def layered_layout(graph: Graph, partition_of: Sequence[int]) -> GraphLayout:
    """Lay out the first ``len(partition_of)`` nodes of ``graph`` (in execution order), where
    ``partition_of[i]`` is the partition of node ``i``."""
    count = len(partition_of)
    nodes = graph.nodes[:count]
    layer, band_start, band_first_layer = _layers(graph, partition_of)
    rows: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for i, k in enumerate(layer):
        rows[k].append(i)
    band_of_row = [0] * len(rows)
    for b, start in enumerate(band_first_layer):
        for k in range(start, len(rows)):
            band_of_row[k] = b

    graph_inputs = [n for n in graph.inputs if any(n in node.inputs for node in nodes)]
    widest = max([len(r) for r in rows] + [len(graph_inputs), 1])
    span = widest * PITCH_X
    top = MARGIN + (PILL_H + BAND_GAP * 2 if graph_inputs else 0)

    def centred(k: int, n: int) -> float:
        return GUTTER + (span - n * PITCH_X) / 2 + k * PITCH_X + (PITCH_X - BOX_W) / 2

    inputs = {
        name: Box(centred(k, len(graph_inputs)), MARGIN, BOX_W, PILL_H)
        for k, name in enumerate(graph_inputs)
    }
    producer = {name: i for i, node in enumerate(nodes) for name in node.outputs}
    boxes: list[Box | None] = [None] * count
    for k, row in enumerate(rows):
        y = top + k * ROW_H + band_of_row[k] * (BAND_GAP + 2 * BAND_PAD) + BAND_PAD

        def key(i: int) -> tuple[float, int]:
            xs = []
            for name in nodes[i].inputs:
                p = producer.get(name) if name is not None else None
                placed = boxes[p] if p is not None else inputs.get(name or "")
                if placed is not None:
                    xs.append(placed.cx)
            return (sum(xs) / len(xs) if xs else 0.0, i)

        for slot, i in enumerate(sorted(row, key=key)):
            boxes[i] = Box(centred(slot, len(row)), y, BOX_W, BOX_H)
    placed = [b for b in boxes if b is not None]  # every node is in one row: all are placed
    bottom = max([b.bottom for b in placed] + [top]) + BAND_PAD

    outputs: dict[str, Box] = {}
    next_free = 0.0
    for name in graph.outputs:
        p = producer.get(name)
        if p is None or name in outputs:
            continue
        x = max(placed[p].x, next_free)
        outputs[name] = Box(x, bottom + BAND_GAP * 2, BOX_W, PILL_H)
        next_free = x + PITCH_X
    height = max([b.bottom for b in outputs.values()] + [bottom]) + MARGIN
    width = max([GUTTER + span] + [b.x + b.w for b in outputs.values()]) + MARGIN

    bands = []
    for b, first in enumerate(band_start):
        last = band_start[b + 1] - 1 if b + 1 < len(band_start) else count - 1
        members = placed[first : last + 1]
        y0 = min(m.y for m in members) - BAND_PAD
        y1 = max(m.bottom for m in members) + BAND_PAD
        bands.append(Band(partition_of[first], first, last, Box(4, y0, width - 8, y1 - y0)))

    edges = []
    row_of = {id(b): layer[i] for i, b in enumerate(placed)}
    row_of.update({id(b): -1 for b in inputs.values()})
    row_of.update({id(b): len(rows) for b in outputs.values()})
    for i, node in enumerate(nodes):
        for name in dict.fromkeys(n for n in node.inputs if n is not None):
            p = producer.get(name)
            if p is not None and p != i:
                crossing = partition_of[p] != partition_of[i]
                edges.append(Edge(name, placed[p], placed[i], crossing))
            elif name in inputs:
                edges.append(Edge(name, inputs[name], placed[i], False))
    for name, box in outputs.items():
        edges.append(Edge(name, placed[producer[name]], box, False))
    edges = _route_lanes(edges, row_of, rows, placed)
    right = max([width] + [e.lane + LANE_GAP + MARGIN for e in edges if e.lane is not None])
    if right > width:
        bands = [
            Band(b.partition, b.first, b.last, Box(b.box.x, b.box.y, right - 8, b.box.h))
            for b in bands
        ]
    return GraphLayout(placed, inputs, outputs, bands, edges, right, height)


def _route_lanes(
    edges: list[Edge], row_of: dict[int, int], rows: list[list[int]], placed: list[Box]
) -> list[Edge]:
    """Give every edge that skips rows a lane right of the rows it passes, apart from the
    lanes of other edges running alongside."""
    row_right = [max(placed[i].x + placed[i].w for i in row) for row in rows]
    taken: dict[int, list[tuple[float, float]]] = {}  # lane slot -> vertical spans in use
    routed = []
    for edge in edges:
        first, last = row_of[id(edge.src)] + 1, row_of[id(edge.dst)] - 1
        if first > last:
            routed.append(edge)
            continue
        base = max(row_right[first : last + 1]) + LANE_GAP
        y0, y1 = edge.src.y, edge.dst.bottom
        slot = int(base // LANE_STEP)
        while any(a < y1 and y0 < b for a, b in taken.get(slot, ())):
            slot += 1
        taken.setdefault(slot, []).append((y0, y1))
        routed.append(
            Edge(edge.tensor, edge.src, edge.dst, edge.crossing, lane=(slot + 1) * LANE_STEP)
        )
    return routed
