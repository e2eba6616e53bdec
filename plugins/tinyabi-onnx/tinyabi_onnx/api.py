"""Everything the plugin takes from tinyabi, in one place: the graph IR, the spec's shape rules
and validation, the errors and the hook marker.

Every name comes from tinyabi's plugin API (``tinyabi.PLUGIN_API_MODULES``), so the plugin
keeps working within a spec minor version.
"""

from __future__ import annotations

from tinyabi import hookimpl
from tinyabi.errors import GraphError, ModelError
from tinyabi.ir import Graph, Node, Quantization, Tensor, infer_shapes, validate_node
from tinyabi.quantization.conv import bias_scales

__all__ = [
    "Graph",
    "GraphError",
    "ModelError",
    "Node",
    "Quantization",
    "Tensor",
    "bias_scales",
    "hookimpl",
    "infer_shapes",
    "validate_node",
]
