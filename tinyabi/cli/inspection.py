"""``tinyabi inspect``: a model's operators, tensors, quantization, import notes and planned
arena."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from tinyabi.display import short_name
from tinyabi.errors import TinyABIError
from tinyabi.ir.graph import Graph

if TYPE_CHECKING:
    pass

__all__ = ["cmd_inspect", "inspect_dict", "planned_arena"]


def planned_arena(graph: Graph) -> str:
    """The arena a reference-only session plans for ``graph``, as text for ``inspect``."""
    from tinyabi.session import Session

    try:
        memory = Session(graph, backends=["reference"]).plan.memory
    except TinyABIError as exc:
        reason = " ".join(str(exc).split())
        return f"not planned ({reason[:120]}{'…' if len(reason) > 120 else ''})"
    if memory is None:
        return "not planned"
    return f"{memory.arena_bytes:,} (lower bound {memory.lower_bound_bytes:,})"


def cmd_inspect(args: argparse.Namespace) -> int:
    from tinyabi.session import as_graph

    graph = as_graph(args.model)
    if args.json:
        print(json.dumps(inspect_dict(graph), indent=2))
        return 0
    print(f"graph {graph.name!r}: {len(graph.nodes)} nodes, {len(graph.tensors)} tensors")
    print(f"inputs:  {', '.join(_tensor_line(graph, n) for n in graph.inputs)}")
    print(f"outputs: {', '.join(_tensor_line(graph, n) for n in graph.outputs)}")
    counts: dict[str, int] = {}
    for node in graph.nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
    print("operators: " + ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())))
    print(f"constant bytes: {graph.constant_bytes():,}")
    activations = [t for t in graph.tensors.values() if not t.is_state_or_constant]
    print(f"activation bytes (all tensors, no reuse): {sum(t.nbytes for t in activations):,}")
    persistent = [t for t in graph.tensors.values() if t.is_persistent]
    if persistent:
        names = ", ".join(short_name(t.name) for t in persistent)
        print(f"state and scratch bytes: {sum(t.nbytes for t in persistent):,} ({names})")
    print(f"planned arena bytes (reference backend): {planned_arena(graph)}")
    if graph.import_notes:
        print(f"import notes ({len(graph.import_notes)}):")
        for note in graph.import_notes:
            print(f"  {note}")
    print()
    print(f"{'#':>3}  {'node':<28} {'op':<20} outputs")
    for i, node in enumerate(graph.nodes):
        outs = ", ".join(_tensor_line(graph, n) for n in node.outputs)
        print(f"{i:>3}  {node.name:<28} {node.op:<20} {outs}")
    return 0


def _tensor_line(graph: Graph, name: str) -> str:
    t = graph.tensor(name)
    text = f"{short_name(name)} {t.dtype}{list(t.shape)}"
    if t.quant is not None and not t.quant.per_axis:
        text += f" q(scale={float(t.quant.scale[0]):.6g}, zp={int(t.quant.zero_point[0])})"
    elif t.quant is not None:
        text += f" q(per-axis {t.quant.axis}, {t.quant.scale.size} scales)"
    return text


def inspect_dict(graph: Graph) -> dict[str, object]:
    """The graph as plain data, for ``tinyabi inspect --json``."""
    return {
        "name": graph.name,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "constant_bytes": graph.constant_bytes(),
        "import_notes": graph.import_notes,
        "tensors": {
            name: {
                "dtype": t.dtype,
                "shape": list(t.shape),
                "constant": t.is_constant,
                "variable": t.variable,
                "scratch": t.scratch,
                "quantization": None if t.quant is None else t.quant.to_dict(),
            }
            for name, t in graph.tensors.items()
        },
        "nodes": [
            {
                "name": n.name,
                "op": n.op,
                "version": n.version,
                "inputs": n.inputs,
                "outputs": n.outputs,
                "attrs": {k: v for k, v in n.attrs.items() if not isinstance(v, bytes)},
            }
            for n in graph.nodes
        ],
    }
