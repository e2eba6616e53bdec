"""Quantization parameters of QUANTIZE (float to integer, or integer requantization) and
DEQUANTIZE.

Requantization from ``(s_in, zp_in)`` to ``(s_out, zp_out)``:
``(m, e) = quantize_multiplier(s_in / s_out)`` (double precision from the float32 scales,
``e <= 30``) and ``out = sat(MBQM(q - zp_in, m, e) + zp_out)``. Quantization from float32:
``out = sat(round(x / s_out) + zp_out)``; dequantization: ``float32(s) * float32(q - zp)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.quantization.fixed_point import quantize_multiplier
from tinyabi.quantization.tensors import per_tensor

__all__ = ["DequantizeParams", "QuantizeParams", "dequantize_params", "quantize_params"]


@dataclass(frozen=True)
class QuantizeParams:
    """QUANTIZE: the output's ``(scale, zero_point)``; for an integer input also its zero point
    and the quantized multiplier of ``s_in / s_out`` (``None`` for a float32 input)."""

    output_scale: float
    output_zero_point: int
    input_zero_point: int | None = None
    multiplier: int | None = None
    shift: int | None = None


@dataclass(frozen=True)
class DequantizeParams:
    """DEQUANTIZE: the input's ``(scale, zero_point)``."""

    scale: float
    zero_point: int


def _io(node: Node, graph: Graph) -> tuple[Tensor, Tensor]:
    if len(node.inputs) != 1 or node.inputs[0] is None or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: takes exactly one input and one output")
    return graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])


def quantize_params(node: Node, graph: Graph) -> QuantizeParams:
    """QUANTIZE: the output's scale and zero point; from an integer input also
    ``(m, e) = quantize_multiplier(s_in / s_out)``, which must not shift left beyond 30."""
    x, y = _io(node, graph)
    out_scale, out_zp = per_tensor(node, y, "output", symmetric_int16=True)
    if x.dtype == "float32":
        return QuantizeParams(out_scale, out_zp)
    in_scale, in_zp = per_tensor(node, x, "input", symmetric_int16=True)
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    if shift > 30:
        raise GraphError(
            f"{node.describe()}: input/output scale ratio {in_scale / out_scale:g} is too large "
            "(>= 2**30)"
        )
    return QuantizeParams(out_scale, out_zp, in_zp, multiplier, shift)


def dequantize_params(node: Node, graph: Graph) -> DequantizeParams:
    """DEQUANTIZE: the input's per-tensor scale and zero point."""
    x, _ = _io(node, graph)
    scale, zero_point = per_tensor(node, x, "input", symmetric_int16=True)
    return DequantizeParams(scale, zero_point)
