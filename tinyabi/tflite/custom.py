"""Custom operators tinyabi recognizes but no backend here runs, and what to tell the user."""

from __future__ import annotations

from tinyabi.ir.graph import Graph

__all__ = ["CUSTOM_PREFIX", "KNOWN_CUSTOM_OPS", "custom_op_hint", "custom_op_hints"]

#: The prefix of a custom operator's node ``op`` (``tflite.custom.<code>``).
CUSTOM_PREFIX = "tflite.custom."

#: Custom code -> what the node is and what to do instead.
KNOWN_CUSTOM_OPS: dict[str, str] = {
    "ethos-u": "compiled by Vela for Ethos-U: run the original, uncompiled model",
}


def custom_op_hint(op: str) -> str:
    """The hint for a node ``op`` that is a known custom operator, else ``""``."""
    if not op.startswith(CUSTOM_PREFIX):
        return ""
    return KNOWN_CUSTOM_OPS.get(op.removeprefix(CUSTOM_PREFIX), "")


def custom_op_hints(graph: Graph) -> list[str]:
    """``node 'NAME' (OP): HINT`` for every node of ``graph`` that is a known custom operator."""
    return [
        f"{node.describe()}: {hint}" for node in graph.nodes if (hint := custom_op_hint(node.op))
    ]
