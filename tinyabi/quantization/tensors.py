"""Reading a tensor's quantization: per-tensor scale and zero point, per-channel scales.

Every kernel, constraint and code generator reads quantization through these two functions, so
that "what counts as a valid per-tensor quantization" is decided in one place.
"""

from __future__ import annotations

import math

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor, numpy_dtype

__all__ = [
    "activation_name",
    "channel_scales",
    "float32_attribute",
    "per_tensor",
    "require_output_quantization",
]


def per_tensor(
    node: Node, t: Tensor, role: str, symmetric_int16: bool = False
) -> tuple[float, int]:
    """``(scale, zero_point)`` of a tensor quantized per tensor, checked for its type.

    The scale is the stored float32 value widened to a Python float. Raises
    :class:`GraphError` naming ``node``, the operand's ``role`` and the rule broken: no
    quantization, per-axis quantization, a scale that is not finite and positive, a zero point
    outside the tensor's integer type, or, with ``symmetric_int16``, an int16 zero point other
    than 0 (TFLite's int16 convention for QUANTIZE, DEQUANTIZE and data movement).
    """
    q = t.quant
    if q is None:
        raise GraphError(
            f"{node.describe()}: {role} {t.name!r} ({t.dtype}) has no quantization; it must be "
            "quantized with per-tensor quantization parameters (one scale, one zero point)"
        )
    if q.per_axis or q.scale.size != 1 or q.zero_point.size != 1:
        raise GraphError(
            f"{node.describe()}: {role} {t.name!r} must be quantized per tensor (per-tensor "
            "quantization: one scale, one zero point), not per axis"
        )
    scale = float(q.scale[0])
    zero_point = int(q.zero_point[0])
    if not (math.isfinite(scale) and scale > 0.0):
        raise GraphError(
            f"{node.describe()}: {role} {t.name!r} scale must be positive and finite, got {scale}"
        )
    if t.dtype in ("int8", "uint8", "int16", "int32"):
        info = np.iinfo(numpy_dtype(t.dtype))
        if not info.min <= zero_point <= info.max:
            raise GraphError(
                f"{node.describe()}: {role} {t.name!r} zero point {zero_point} is outside the "
                f"{t.dtype} range"
            )
    if symmetric_int16 and t.dtype == "int16" and zero_point != 0:
        raise GraphError(
            f"{node.describe()}: {role} {t.name!r} is int16 with zero point {zero_point}; "
            "it must be 0"
        )
    return scale, zero_point


def channel_scales(node: Node, w: Tensor, channels: int, axis: int) -> np.ndarray:
    """The filter scale of each of ``channels`` output channels, as float64 (the float32 values
    widened): the per-axis scales along ``axis``, or the one per-tensor scale repeated.

    Raises :class:`GraphError` for a filter without quantization, per-axis scales along
    another axis or of the wrong count, non-zero zero points (filters are symmetric), or scales
    that are not finite and positive.
    """
    q = w.quant
    if q is None:
        raise GraphError(f"{node.describe()}: int8 filter {w.name!r} has no quantization")
    if np.any(q.zero_point != 0):
        raise GraphError(
            f"{node.describe()}: int8 filter {w.name!r} must be symmetric (zero points 0)"
        )
    if q.per_axis and (q.axis != axis or q.scale.size != channels):
        raise GraphError(
            f"{node.describe()}: per-channel filter scales must run along axis {axis} "
            f"({channels} scales), got {q.scale.size} along axis {q.axis}"
        )
    if not np.all(np.isfinite(q.scale)) or np.any(q.scale <= 0):
        raise GraphError(f"{node.describe()}: filter scales must be finite and positive")
    return np.broadcast_to(q.scale.astype(np.float64), (channels,)).copy()


def activation_name(node: Node) -> str:
    """The node's fused activation (``NONE`` when absent)."""
    return str(node.attrs.get("fused_activation", "NONE"))


def float32_attribute(node: Node, name: str) -> float:
    """A required float attribute, as the float32 value TFLite stores; :class:`GraphError` when
    it is missing or not finite."""
    if name not in node.attrs:
        raise GraphError(f"{node.describe()}: missing required attribute {name}")
    value = float(np.float32(node.attrs[name]))
    if not math.isfinite(value):
        raise GraphError(f"{node.describe()}: attribute {name} must be finite, got {value}")
    return value


def require_output_quantization(
    node: Node, graph: Graph, wanted: tuple[float, int], why: str
) -> None:
    """Raise :class:`GraphError` unless the node's output is quantized exactly as ``wanted``."""
    got = per_tensor(node, graph.tensor(node.outputs[0]), "output")
    if got != wanted:
        raise GraphError(
            f"{node.describe()}: the {graph.tensor(node.outputs[0]).dtype} output must be "
            f"quantized with scale {wanted[0]!r} and "
            f"zero point {wanted[1]} ({why}), got scale {got[0]!r} and zero point {got[1]}"
        )
