"""``tinyabi plan``: which backend runs each node, as text, JSON or HTML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyabi.ir.graph import Graph

if TYPE_CHECKING:
    from tinyabi.session import Session

__all__ = ["cmd_plan"]


def cmd_plan(args: argparse.Namespace) -> int:
    from tinyabi.dispatch.html import render_plan_html
    from tinyabi.errors import UnsupportedOperatorError
    from tinyabi.session import as_graph

    graph = as_graph(args.model)
    try:
        session = _plan_session(graph, args.backends, args.fallback, args.mode)
    except UnsupportedOperatorError as exc:
        # Show the plan as far as it goes (the nodes no backend takes marked), then fail.
        if exc.plan is not None:
            print(exc.plan)
            if args.json:
                Path(args.json).write_text(exc.plan.to_json() + "\n")
        raise
    print(session.plan)
    if args.json:
        Path(args.json).write_text(session.plan.to_json() + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        Path(args.html).write_text(render_plan_html(session.plan, session.graph), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _plan_session(graph: Graph, backends: list[Any], fallback: str, mode: Any) -> Session:
    """The session ``plan`` shows; when a node no backend runs is a custom operator tinyabi
    knows (Vela's ``ethos-u``), the error says what it is and what to do instead."""
    from tinyabi.errors import UnsupportedOperatorError
    from tinyabi.session import Session
    from tinyabi.tflite.custom import custom_op_hints

    try:
        return Session(graph, backends=backends, fallback=fallback, mode=mode)
    except UnsupportedOperatorError as exc:
        hints = [h for h in custom_op_hints(graph) if h.split(": ")[0] in str(exc)]
        if not hints:
            raise
        raise UnsupportedOperatorError(f"{exc}; hint: {'; '.join(hints)}", exc.plan) from None
