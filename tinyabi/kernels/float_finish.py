"""The float32 and hybrid output stages of the conv family.

* float32: the float64 accumulator plus the bias, rounded to float32 once, then the fused
  activation's clamp.
* hybrid (float32 activations, int8 weights): LiteRT's default CPU path (XNNPACK) quantizes
  the activations to int8 on the fly, one scale and zero point per row
  (:func:`dynamic_quantize_rows`), and rescales the exact integer accumulator in float32 by the
  row scale and the filter scale (:func:`hybrid_finish`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyabi.ir.graph import Node
from tinyabi.kernels.gemm import Array
from tinyabi.quantization.fixed_point import activation_range

__all__ = ["HYBRID_MAX_INPUT", "dynamic_quantize_rows", "float_finish", "hybrid_finish"]

#: After the zero point is removed, dynamically quantized inputs lie in [-255, 255].
HYBRID_MAX_INPUT = 255


def _activation_clamp(node: Node) -> tuple[float, float] | None:
    lo, hi = activation_range(node.attrs.get("fused_activation", "NONE"), "float32")
    return None if (lo, hi) == (-np.inf, np.inf) else (lo, hi)


def float_finish(node: Node) -> Callable[[Array, Array | None], Array]:
    """float64 accumulators + optional bias -> float32 outputs with the fused activation."""
    clamp = _activation_clamp(node)

    def finish(acc: Array, bias: Array | None) -> Array:
        if bias is not None:
            acc += bias
        out = acc.astype(np.float32)
        if clamp is not None:
            np.maximum(out, clamp[0], out=out)
            np.minimum(out, clamp[1], out=out)
        return out

    return finish


def dynamic_quantize_rows(rows: Array) -> tuple[Array, Array]:
    """Quantize each row of a float32 ``[R, K]`` matrix to int8, asymmetrically.

    Returns ``(d, scale)``: ``d`` holds ``quantized - zero_point`` (integers, as float32, so
    padding with 0 means the real value 0) and ``scale`` the float32 dequantization scale of
    each row. In float32 arithmetic, per row: the range ``[lo, hi] = [min(0, min), max(0, max)]``
    is mapped onto [-128, 127] with ``k = 255 / (hi - lo)`` (1 for an all-zero row); the zero
    point is ``-128 - lo * k`` if ``(-128 + lo * k) + (127 + hi * k) > 0`` else ``127 - hi * k``,
    clamped to [-128, 127] and rounded to an integer (ties to even); values are multiplied by
    ``k``, clamped to the int8 range around the zero point and rounded to nearest, ties to even;
    the dequantization scale is ``1 / k``.
    """
    f32 = np.float32
    rows = np.asarray(rows, dtype=f32)
    lo = np.minimum(rows.min(axis=1, initial=np.inf), f32(0)).astype(f32)
    hi = np.maximum(rows.max(axis=1, initial=-np.inf), f32(0)).astype(f32)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        k = np.where(lo == hi, f32(1), f32(255) / (hi - lo)).astype(f32)
    descaled_lo = (lo * k).astype(f32)
    descaled_hi = (hi * k).astype(f32)
    low_side = (f32(-128) + descaled_lo) + (f32(127) + descaled_hi) > 0
    zero_point = np.where(low_side, f32(-128) - descaled_lo, f32(127) - descaled_hi).astype(f32)
    zero_point = np.rint(np.clip(zero_point, f32(-128), f32(127)))
    scale = (f32(1) / k).astype(f32)
    scaled = rows * k[:, None]
    np.clip(scaled, (f32(-128) - zero_point)[:, None], (f32(127) - zero_point)[:, None], out=scaled)
    return np.rint(scaled, out=scaled), scale


def hybrid_finish(node: Node, w_scales: Array) -> Callable[[Array, Array, Array | None], Array]:
    """Exact integer accumulators -> float32: ``acc * row_scale * w_scale + bias``, clamped."""
    clamp = _activation_clamp(node)
    w_scales32 = w_scales.astype(np.float32)

    def finish(acc: Array, row_scale: Array, bias: Array | None) -> Array:
        """``acc``: exact integer sums ``[rows, ..., O]``; ``row_scale`` broadcasts to it."""
        out = acc.astype(np.float32)
        out *= row_scale
        out *= w_scales32
        if bias is not None:
            out += bias
        if clamp is not None:
            np.maximum(out, clamp[0], out=out)
            np.minimum(out, clamp[1], out=out)
        return out

    return finish
