"""The graph as an SVG drawing: partition bands, edges, and one box per node.

Every node box is coloured by its backend, carries its partition number and, when backends
declined it, a badge with their count; its ``<title>`` (the hover tooltip) holds the op,
signature, operand types and every decline with its hint. ``data-node`` attributes link boxes
to the details panel. All model-derived text goes through :func:`esc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tinyabi.dispatch.plan import PartitionPlan
from tinyabi.dispatch.plan_view.colors import NEUTRAL, tint
from tinyabi.dispatch.plan_view.facts import NodeFacts
from tinyabi.dispatch.plan_view.layout import Box, Edge, GraphLayout
from tinyabi.dispatch.plan_view.text import esc, shorten

__all__ = ["graph_svg"]


def _edge(edge: Edge, title: str) -> str:
    cls = "e x" if edge.crossing else "e"
    if edge.lane is None:
        x1, y1 = edge.src.cx, edge.src.bottom
        x2, y2 = edge.dst.cx, edge.dst.y - 2
        bend = max(18.0, (y2 - y1) / 2)
        d = (
            f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} "
            f"{x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}"
        )
    else:
        # Out of the source's right side, down the lane, into the target's right side.
        lane, r = edge.lane, 8.0
        x1, y1 = edge.src.x + edge.src.w, edge.src.y + edge.src.h / 2
        x2, y2 = edge.dst.x + edge.dst.w + 2, edge.dst.y + edge.dst.h / 2
        d = (
            f"M{x1:.1f},{y1:.1f} H{lane - r:.1f} Q{lane:.1f},{y1:.1f} {lane:.1f},{y1 + r:.1f} "
            f"V{y2 - r:.1f} Q{lane:.1f},{y2:.1f} {lane - r:.1f},{y2:.1f} H{x2:.1f}"
        )
    return (
        f'<path class="{cls}" d="{d}" marker-end="url(#arrow)"><title>{esc(title)}</title></path>'
    )


def _pill(box: Box, label: str, title: str, kind: str) -> str:
    return (
        f'<g class="pill {kind}"><title>{esc(title)}</title>'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" '
        f'rx="{box.h / 2:.1f}"/>'
        f'<text x="{box.cx:.1f}" y="{box.y + box.h / 2 + 4:.1f}" text-anchor="middle">'
        f"{esc(kind)}: {esc(shorten(label, 22))}</text></g>"
    )


def _node(box: Box, facts: NodeFacts, colour: str) -> str:
    parts = [
        f'<g class="n" data-node="{facts.index}" tabindex="0">',
        f"<title>{esc(facts.title())}</title>",
        f'<rect class="box" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" '
        f'height="{box.h:.1f}" rx="6" fill="{tint(colour, 0.78)}" stroke="{colour}"/>',
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="7" height="{box.h:.1f}" rx="3" '
        f'fill="{colour}"/>',
        f'<text class="nm" x="{box.x + 13:.1f}" y="{box.y + 17:.1f}">'
        f"{esc(shorten(facts.name, 23))}</text>",
        f'<text class="op" x="{box.x + 13:.1f}" y="{box.y + 33:.1f}">'
        f"{esc(shorten(facts.op, 20))}</text>",
        f'<text class="pb" x="{box.x + box.w - 6:.1f}" y="{box.y + 33:.1f}" '
        f'text-anchor="end">P{facts.partition}</text>',
    ]
    if facts.declined:
        cx, cy = box.x + box.w - 2, box.y + 2
        parts.append(
            f'<circle class="dc" cx="{cx:.1f}" cy="{cy:.1f}" r="8"/>'
            f'<text class="dct" x="{cx:.1f}" y="{cy + 3.5:.1f}" text-anchor="middle">'
            f"{len(facts.declined)}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _band(box: Box, part: PartitionPlan | None, index: int, colour: str) -> str:
    backend = part.backend if part else "?"
    title = f"partition {index}: {backend}"
    if part is not None:
        title += (
            f", {len(part.nodes)} node(s)\ninputs: {', '.join(part.inputs) or '-'}"
            f"\noutputs: {', '.join(part.outputs) or '-'}"
        )
        if part.estimated_seconds is not None:
            title += f"\nestimated {part.estimated_seconds * 1e3:.3g} ms"
    return (
        f'<g class="band"><title>{esc(title)}</title>'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" '
        f'rx="8" fill="{tint(colour, 0.93)}" stroke="{tint(colour, 0.35)}"/>'
        f'<text class="bl" x="{box.x + 8:.1f}" y="{box.y + 17:.1f}">partition {index}</text>'
        f'<text class="bb" x="{box.x + 8:.1f}" y="{box.y + 31:.1f}" fill="{colour}">'
        f"{esc(shorten(backend, 17))}</text></g>"
    )


def graph_svg(
    layout: GraphLayout,
    nodes: Sequence[NodeFacts],
    partitions: Sequence[PartitionPlan],
    colours: Mapping[str, str],
    tensor_types: Mapping[str, str],
) -> str:
    """The SVG drawing of ``layout``; ``nodes`` are the facts of the laid-out nodes."""
    by_index = {p.index: p for p in partitions}
    out = [
        f'<svg class="graph" width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" role="img" '
        'aria-label="the graph, partitioned">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#5f6b7a"/></marker>'
        "</defs>",
    ]
    for band in layout.bands:
        part = by_index.get(band.partition)
        colour = colours.get(part.backend, NEUTRAL) if part else NEUTRAL
        out.append(_band(band.box, part, band.partition, colour))
    for edge in layout.edges:
        title = f"{edge.tensor}: {tensor_types.get(edge.tensor, '?')}"
        if edge.crossing:
            title += "\n(handed over between partitions)"
        out.append(_edge(edge, title))
    for name, box in layout.inputs.items():
        out.append(_pill(box, name, f"graph input {name}: {tensor_types.get(name, '?')}", "in"))
    for name, box in layout.outputs.items():
        out.append(_pill(box, name, f"graph output {name}: {tensor_types.get(name, '?')}", "out"))
    for box, facts in zip(layout.boxes, nodes):
        out.append(_node(box, facts, colours.get(facts.backend, NEUTRAL)))
    out.append("</svg>")
    return "\n".join(out)
