"""The plan as one self-contained HTML page: the partitioned graph and the memory plan.

:func:`render_plan_html` draws the graph as a layered DAG (partitions as bands, nodes coloured
by backend, declines and signatures on hover and in a details panel on click) and the memory
plan as a picture (execution step across, arena offset up). Everything is inline: CSS, SVG and
a small script; the page loads nothing. Node and tensor names come from untrusted model files:
they are HTML-escaped in the markup and embedded for the script only as JSON with ``<``, ``>``
and ``&`` escaped. Graphs bigger than ``max_nodes`` are cut to their first ``max_nodes`` nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from tinyabi.dispatch.plan import MemoryPlan, Plan
from tinyabi.dispatch.plan_view.assets import CSS, JS
from tinyabi.dispatch.plan_view.colors import backend_colours
from tinyabi.dispatch.plan_view.facts import PlanFacts, gather_facts
from tinyabi.dispatch.plan_view.graph_svg import graph_svg
from tinyabi.dispatch.plan_view.layout import layered_layout
from tinyabi.dispatch.plan_view.memory_svg import memory_svg
from tinyabi.dispatch.plan_view.text import esc, fmt_bytes, json_for_script, shorten
from tinyabi.dispatch.planner import execution_graph
from tinyabi.ir.graph import Graph

__all__ = ["MAX_DECLINE_ROWS", "MAX_NODES", "render_plan_html"]

#: Graphs with more nodes are drawn up to this many (the page stays a few megabytes at most).
MAX_NODES = 1500
#: At most this many rows in the table of decline reasons.
MAX_DECLINE_ROWS = 60


def render_plan_html(plan: Plan, graph: Graph, max_nodes: int = MAX_NODES) -> str:
    """The page for ``plan`` of ``graph`` (the session's graph; drawn in the plan's execution
    order)."""
    graph = execution_graph(graph, plan)
    facts = gather_facts(plan, graph, max_nodes)
    colours = backend_colours([*plan.backends, *(n.backend for n in plan.nodes)])
    layout = layered_layout(graph, [n.partition for n in facts.nodes])
    types = {name: f"{t.dtype}{list(t.shape)}" for name, t in graph.tensors.items()}
    drawing = graph_svg(layout, facts.nodes, plan.partitions, colours, types)
    if plan.memory is not None:
        picture = memory_svg(plan.memory, facts.nodes, facts.tensors, colours, len(graph.nodes))
    else:
        picture = '<p class="muted">This plan has no memory plan.</p>'
    title = f"tinyabi plan: {plan.model}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
{_header(plan, graph, facts, colours)}
<main>
<section class="panel" id="graph-panel">
<div class="bar"><h2>Graph</h2><span class="help">hover a node for details, click to select</span>
<input id="find" type="search" placeholder="find a node or tensor" aria-label="find"></div>
<div class="scroll">
{drawing}
</div>
</section>
<div id="side">
<section class="panel" id="memory-panel">
<div class="bar"><h2>Memory plan</h2>{_memory_line(plan.memory)}</div>
<div class="scroll">
{picture}
</div>
</section>
<section class="panel" id="details-panel">
<div class="bar"><h2>Details</h2></div>
<div class="scroll">
<div id="details"><p class="placeholder">Click a node, a tensor or a step to see it here.</p></div>
{_declines_table(plan, colours)}
</div>
</section>
</div>
</main>
<script type="application/json" id="plan-data">{json_for_script(facts.to_data())}</script>
<script>{JS}</script>
</body>
</html>
"""


def _memory_line(memory: MemoryPlan | None) -> str:
    if memory is None:
        return ""
    return (
        f'<span class="help">arena <b>{fmt_bytes(memory.arena_bytes)}</b>, lower bound '
        f"{fmt_bytes(memory.lower_bound_bytes)}, scratch {fmt_bytes(memory.scratch_bytes)}, "
        f"persistent {fmt_bytes(memory.persistent_bytes)}, alignment {memory.alignment}</span>"
    )


def _header(plan: Plan, graph: Graph, facts: PlanFacts, colours: Mapping[str, str]) -> str:
    nodes = Counter(n.backend for n in plan.nodes)
    parts = Counter(p.backend for p in plan.partitions)
    legend = "".join(
        f'<li><span class="sw" style="background:{colour}"></span>{esc(name)}'
        f' <span class="count">{nodes[name]} node(s), {parts[name]} partition(s)</span></li>'
        for name, colour in colours.items()
    )
    order = " → ".join(esc(b) for b in plan.backends)
    summary = (
        f"backends <b>{order}</b> · fallback <b>{esc(plan.fallback)}</b> · mode "
        f"<b>{esc(plan.mode)}</b> · <b>{len(plan.nodes)}</b> nodes in "
        f"<b>{len(plan.partitions)}</b> partition(s)"
    )
    if plan.memory is not None:
        summary += f" · arena <b>{fmt_bytes(plan.memory.arena_bytes)}</b>"
    notes = "".join(f'<p class="notes">{esc(note)}</p>' for note in plan.notes)
    if len(facts.nodes) < len(graph.nodes):
        notes += (
            f'<p class="cap">The graph has {len(graph.nodes):,} nodes: the drawings show the '
            f"first {len(facts.nodes):,} (the JSON plan has them all).</p>"
        )
    return (
        f"<header><h1>Plan for {esc(plan.model)}</h1>"
        f'<p class="summary">{summary}</p>'
        f'<ul class="legend" aria-label="backends">{legend}</ul>{notes}</header>'
    )


def _declines_table(plan: Plan, colours: Mapping[str, str]) -> str:
    """Why nodes were declined, grouped by backend, reason and hint."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for n in plan.nodes:
        for d in n.declined:
            groups.setdefault((d.backend, d.reason, d.hint), []).append(n.node)
    if not groups:
        return '<h4>Declines</h4><p class="muted">No backend declined any node.</p>'
    rows = []
    for (backend, reason, hint), names in list(groups.items())[:MAX_DECLINE_ROWS]:
        shown = ", ".join(shorten(name, 40) for name in names[:3])
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        colour = colours.get(backend, "#9aa0a6")
        rows.append(
            f'<tr><td><span class="sw" style="background:{colour}"></span> {esc(backend)}</td>'
            f'<td>{esc(reason)}</td><td class="hint">{esc(hint)}</td>'
            f"<td>{len(names)}: {esc(shown)}{more}</td></tr>"
        )
    extra = len(groups) - MAX_DECLINE_ROWS
    tail = f'<p class="muted">and {extra} more reasons</p>' if extra > 0 else ""
    return (
        "<h4>Declines</h4>"
        '<table class="declines"><thead><tr><th>backend</th><th>reason</th><th>hint</th>'
        f"<th>nodes</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{tail}"
    )
