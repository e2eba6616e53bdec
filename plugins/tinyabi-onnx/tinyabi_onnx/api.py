"""Everything the plugin takes from tinyabi, in one place: the graph IR, the spec's shape rules
and validation, the errors and the hook marker.

Newer tinyabi states a plugin API (``tinyabi.PLUGIN_API_MODULES``: ``tinyabi.ir`` re-exports the
IR and validation, ``tinyabi.hookimpl`` the marker); this tinyabi has none yet, so the names
come from their defining modules here, and only this file changes when they move.
"""

from __future__ import annotations

from tinyabi.errors import GraphError, ModelError
from tinyabi.hookspecs import hookimpl
from tinyabi.ir.graph import Graph, Node, Quantization, Tensor
from tinyabi.ir.shapes import infer_shapes
from tinyabi.ir.validate import validate_node

__all__ = [
    "Graph",
    "GraphError",
    "ModelError",
    "Node",
    "Quantization",
    "Tensor",
    "hookimpl",
    "infer_shapes",
    "validate_node",
]
