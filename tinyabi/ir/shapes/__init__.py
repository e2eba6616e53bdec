"""Shape rules of the spec operators, one module per operator family."""

from tinyabi.ir.shapes import activations, conv, elementwise, pooling, tensor  # noqa: F401
from tinyabi.ir.shapes.registry import Shape, has_shape_rule, infer_shapes, shape_rule

__all__ = ["Shape", "has_shape_rule", "infer_shapes", "shape_rule"]
