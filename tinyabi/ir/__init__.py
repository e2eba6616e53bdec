"""The graph IR: tensors, nodes and graphs, the builder, and validation against the spec."""

from tinyabi.ir.builder import GraphBuilder, QuantLike
from tinyabi.ir.graph import DTYPES, Graph, Node, Quantization, Tensor, numpy_dtype
from tinyabi.ir.shapes import infer_shapes
from tinyabi.ir.shapes.pooling import PoolGeometry, pool_geometry
from tinyabi.ir.shapes.tensor import SlicePlan, strided_slice_plan
from tinyabi.ir.validate import NodeCheck, check_node, validate_graph, validate_node

__all__ = [
    "DTYPES",
    "Graph",
    "GraphBuilder",
    "Node",
    "NodeCheck",
    "PoolGeometry",
    "QuantLike",
    "Quantization",
    "SlicePlan",
    "Tensor",
    "check_node",
    "infer_shapes",
    "numpy_dtype",
    "pool_geometry",
    "strided_slice_plan",
    "validate_graph",
    "validate_node",
]
