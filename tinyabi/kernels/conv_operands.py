"""Operands and signatures of the conv family (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED):
binding the node's tensors, deciding the signature (int8, int16, int16_int32_bias, float32 or
hybrid), and the shape checks every kernel of the family makes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.quantization.tensors import channel_scales

__all__ = ["ACTIVATIONS", "Operands", "check_bias", "check_output", "conv_operands"]

#: The fused activations of the conv family.
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")


@dataclass(frozen=True)
class Operands:
    """The tensors of a conv-family node, with the signature they form."""

    signature: str  # "int8", "int16", "int16_int32_bias", "float32" or "hybrid"
    x: Tensor
    w: Tensor
    bias: Tensor | None
    y: Tensor


def conv_operands(node: Node, graph: Graph, weights_axis: int, constant_weights: bool) -> Operands:
    """Bind and check the node's tensors; ``constant_weights`` demands a constant filter and
    bias (convolutions). Raises :class:`GraphError` for anything no signature covers."""
    if not 2 <= len(node.inputs) <= 3 or len(node.outputs) != 1:
        raise GraphError(
            f"{node.describe()}: takes input, filter and an optional bias, and has one output"
        )
    tensors = graph.node_inputs(node)
    x, w = tensors[0], tensors[1]
    bias = tensors[2] if len(tensors) > 2 else None
    y = graph.tensor(node.outputs[0])
    if x is None or w is None:
        raise GraphError(f"{node.describe()}: input and filter are required")
    activation = node.attrs.get("fused_activation", "NONE")
    if activation not in ACTIVATIONS:
        raise GraphError(
            f"{node.describe()}: fused activation {activation!r} is not supported "
            f"(supported: {', '.join(ACTIVATIONS)})"
        )
    kinds = (x.dtype, w.dtype, None if bias is None else bias.dtype, y.dtype)
    if kinds in (("int8", "int8", "int32", "int8"), ("int8", "int8", None, "int8")):
        signature = "int8"
    elif kinds in (("int16", "int8", "int64", "int16"), ("int16", "int8", None, "int16")):
        signature = "int16"
    elif kinds == ("int16", "int8", "int32", "int16"):
        signature = "int16_int32_bias"
    elif kinds in (("float32",) * 4, ("float32", "float32", None, "float32")):
        signature = "float32"
    elif kinds in (("float32", "int8", "float32", "float32"), ("float32", "int8", None, "float32")):
        signature = "hybrid"
    else:
        raise GraphError(
            f"{node.describe()}: no signature takes input {kinds[0]}, filter {kinds[1]}, "
            f"bias {kinds[2]}, output {kinds[3]} (supported: int8 x int8 [+ int32] -> int8, "
            "int16 x int8 [+ int64 or int32] -> int16, float32 x float32 [+ float32] -> float32, "
            "hybrid float32 x int8 [+ float32] -> float32)"
        )
    if (constant_weights or signature == "hybrid") and not w.is_constant:
        raise GraphError(f"{node.describe()}: the filter must be a constant tensor")
    if constant_weights and bias is not None and not bias.is_constant:
        raise GraphError(f"{node.describe()}: the bias must be a constant tensor")
    if signature != "float32" and len(w.shape) > weights_axis:
        # The filter's quantization is checked here, before any shape rule, as TFLite does.
        channel_scales(node, w, w.shape[weights_axis], weights_axis)
    return Operands(signature, x, w, bias, y)


def check_output(node: Node, y: Tensor, expected: tuple[int, ...]) -> None:
    """:class:`GraphError` unless the output has the ``expected`` shape."""
    if y.shape != expected:
        raise GraphError(
            f"{node.describe()}: output shape {list(y.shape)} should be {list(expected)}"
        )


def check_bias(node: Node, bias: Tensor | None, channels: int) -> None:
    """:class:`GraphError` unless the bias (if any) has one value per output channel."""
    if bias is not None and bias.shape != (channels,):
        raise GraphError(f"{node.describe()}: bias shape {list(bias.shape)} should be [{channels}]")
