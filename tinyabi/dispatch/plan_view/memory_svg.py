"""The memory plan as an SVG picture: execution step across, arena offset up.

Each placed tensor is a rectangle spanning the steps it lives (graph inputs from the ``in``
column, graph outputs to the ``out`` column) and the bytes it occupies. Dashed lines mark the
arena size and the lower bound (the largest sum of simultaneously live tensors). A strip below
the steps shows which backend runs each step. ``data-tensor`` and ``data-node`` attributes link
the shapes to the details panel; model-derived text goes through :func:`esc`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tinyabi.dispatch.plan import MemoryPlan
from tinyabi.dispatch.plan_view.colors import NEUTRAL, tint
from tinyabi.dispatch.plan_view.facts import NodeFacts, TensorFacts
from tinyabi.dispatch.plan_view.text import esc, fmt_bytes

__all__ = [
    "FIT_W",
    "LEFT",
    "MIN_PLOT_W",
    "PLOT_H",
    "RIGHT",
    "STRIP_H",
    "TARGET_W",
    "TOP",
    "memory_svg",
    "nice_step",
]

LEFT = 70
RIGHT = 14
TOP = 28
PLOT_H = 320
STRIP_H = 12
TARGET_W = 680
MIN_PLOT_W = 300
#: Pictures up to this wide shrink to fit their panel; wider ones scroll.
FIT_W = 1100


def nice_step(span: float, most: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that cuts ``span`` into at most ``most``
    pieces."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if span / (step * factor) <= most:
                return step * factor
        step *= 10


def memory_svg(
    memory: MemoryPlan,
    nodes: Sequence[NodeFacts],
    tensors: Sequence[TensorFacts],
    colours: Mapping[str, str],
    total_steps: int,
) -> str:
    """The picture of ``memory``. ``nodes`` are the steps drawn (maybe fewer than
    ``total_steps`` when the view is capped); ``tensors`` the placements drawn."""
    steps = len(nodes)
    capped = steps < total_steps
    columns = steps + (1 if capped else 2)  # "in", the steps, and "out" unless capped
    step_w = max(4.0, min(36.0, TARGET_W / columns), MIN_PLOT_W / columns)
    plot_w = step_w * columns
    top_bytes = max([memory.arena_bytes, memory.lower_bound_bytes, 1])
    top_bytes = max([top_bytes] + [t.offset + t.size for t in tensors])
    scale = PLOT_H / top_bytes
    width = LEFT + plot_w + RIGHT
    height = TOP + PLOT_H + STRIP_H + 48

    def x(step: int) -> float:
        return LEFT + (step + 1) * step_w

    def y(offset: float) -> float:
        return TOP + PLOT_H - offset * scale

    fit = " fit" if width <= FIT_W else ""
    out = [
        f'<svg class="memory{fit}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'aria-label="the memory plan: arena offset against execution step">',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w:.1f}" height="{PLOT_H}"/>',
    ]
    tick = nice_step(top_bytes, 6)
    for value in range(0, top_bytes + 1, tick):
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w:.1f}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/><text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value:,}</text>'
        )
    last_column = steps if not capped else steps - 1
    for t in tensors:
        end = min(t.last, last_column)
        h = max(1.0, t.size * scale)
        colour = colours.get(t.backend, NEUTRAL) if t.producer is not None else NEUTRAL
        out.append(
            f'<rect class="t" data-tensor="{t.index}" x="{x(t.first):.1f}" '
            f'y="{y(t.offset + t.size):.1f}" width="{x(end + 1) - x(t.first):.1f}" '
            f'height="{h:.1f}" fill="{tint(colour, 0.25)}"><title>{esc(t.title())}</title></rect>'
        )
    out += _limit_lines(memory, y, LEFT + plot_w)
    strip_y = TOP + PLOT_H + 4
    for n in nodes:
        colour = colours.get(n.backend, NEUTRAL)
        out.append(
            f'<rect class="s" data-node="{n.index}" x="{x(n.index):.1f}" y="{strip_y}" '
            f'width="{step_w:.1f}" height="{STRIP_H}" fill="{colour}">'
            f"<title>{esc(f'step {n.index}: {n.name} ({n.op}) on {n.backend}')}</title></rect>"
        )
    label_y = strip_y + STRIP_H + 14
    every = nice_step(columns, max(1, int(plot_w // 44)))
    ends = [-1] if capped else [-1, steps]
    labels = [(-1, "in")] + [
        (s, str(s)) for s in range(0, steps, every) if all(abs(s - e) * step_w >= 24 for e in ends)
    ]
    if not capped:
        labels.append((steps, "out"))
    for step, text in labels:
        out.append(
            f'<text class="tick" x="{x(step) + step_w / 2:.1f}" y="{label_y}" '
            f'text-anchor="middle">{text}</text>'
        )
    out.append(
        f'<text class="axis" x="{LEFT + plot_w / 2:.1f}" y="{label_y + 16}" '
        'text-anchor="middle">execution step (colour: backend)</text>'
        f'<text class="axis" transform="translate(14,{TOP + PLOT_H / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">arena offset (bytes)</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _limit_lines(memory: MemoryPlan, y: Callable[[float], float], right: float) -> list[str]:
    """Dashed lines at the arena size and at the lower bound, labelled on the right."""
    arena, bound = memory.arena_bytes, memory.lower_bound_bytes
    if arena == bound:
        marks = [(arena, f"arena = lower bound = {fmt_bytes(arena)}", "arena")]
    else:
        marks = [
            (arena, f"arena {fmt_bytes(arena)}", "arena"),
            (bound, f"lower bound {fmt_bytes(bound)}", "bound"),
        ]
    out = []
    previous: float | None = None
    for value, label, cls in marks:
        ly = y(value)
        text_y = ly - 4
        if previous is not None and abs(text_y - previous) < 13:
            text_y = previous + 13
        previous = text_y
        out.append(
            f'<line class="{cls}" x1="{LEFT}" x2="{right:.1f}" y1="{ly:.1f}" y2="{ly:.1f}"/>'
            f'<text class="lim {cls}" x="{right - 4:.1f}" y="{text_y:.1f}" text-anchor="end">'
            f"{esc(label)}</text>"
        )
    return out
