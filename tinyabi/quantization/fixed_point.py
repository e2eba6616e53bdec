"""Fixed-point primitives of the TinyABI quantization rules, vectorized over numpy arrays.

These are the rules TFLite and TFLite Micro apply (the "double rounding" convention): a real
multiplier is stored as a Q31 integer and a power-of-two exponent, and applied to an int32
accumulator as a rounding, saturating doubling high multiply followed by a rounding
arithmetic right shift. All functions take and return ``int64`` arrays that hold int32 values,
so no intermediate product can overflow.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "activation_range",
    "count_leading_zeros_u32",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_int64",
    "multiply_by_quantized_multiplier_single_rounding",
    "quantize_multiplier",
    "quantize_multiplier_single_rounding",
    "quantize_multipliers",
    "reduce_multiplier",
    "round_half_away",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
    "wrap_int32",
]

#: The int32 range the fixed-point arithmetic stays in.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Split ``real`` into a Q31 multiplier and a shift (positive = left) with
    ``real ≈ multiplier * 2**(shift - 31)``, rounding as TFLite does."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    multiplier = round_half_away(fraction * (1 << 31))
    if multiplier == 1 << 31:
        multiplier //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return multiplier, shift


def quantize_multiplier_single_rounding(real: float) -> tuple[int, int]:
    """:func:`quantize_multiplier` as TFLite builds it for single rounding: the same Q31
    multiplier, but a shift above 30 saturates to ``(INT32_MAX, 30)``, as the single-rounding
    multiply (:func:`multiply_by_quantized_multiplier_single_rounding`) cannot shift further."""
    multiplier, shift = quantize_multiplier(real)
    if shift > 30:
        return INT32_MAX, 30
    return multiplier, shift


def round_half_away(value: float) -> int:
    """Round to nearest, ties away from zero (C's ``round``; Python's ``round`` goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array: ``(multipliers, shifts)`` as int64 arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).reshape(-1)]
    mult = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    return mult, shift


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values into the int32 range (what C int32 arithmetic does)."""
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """``round(a * b / 2**31)`` with ties away from zero, truncating as C integer division does;
    saturates the one overflowing case ``a == b == INT32_MIN``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """``x / 2**exponent`` rounded to nearest, ties away from zero (``exponent`` in 0..31)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """Apply a quantized multiplier to int32 accumulators ``x`` (TFLite's double rounding).

    ``multiplier`` and ``shift`` broadcast against ``x`` (per-channel along the last axis).
    """
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    scaled = wrap_int32(np.asarray(x, dtype=np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, multiplier), right)


def reduce_multiplier(multiplier: np.ndarray | int) -> np.ndarray:
    """A Q31 multiplier reduced to Q15, as TFLite does for 64-bit accumulators:
    ``(m + 2**15) >> 16``, saturated to 32767 when ``m >= 0x7FFF0000``."""
    m = np.asarray(multiplier, dtype=np.int64)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)


def multiply_by_quantized_multiplier_int64(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """Apply a quantized multiplier to 64-bit accumulators ``x`` (TFLite's int16 activations):
    with the Q15 ``r = reduce_multiplier(m)`` and ``t = 15 - shift``, one rounding::

        (x * r + 2**(t - 1)) >> t

    in wrapping int64 arithmetic, the result wrapped to int32 (C's narrowing cast).
    ``multiplier`` and ``shift`` broadcast against ``x``."""
    total = 15 - np.asarray(shift, dtype=np.int64)
    product = np.asarray(x, dtype=np.int64) * reduce_multiplier(multiplier)
    return wrap_int32((product + (np.int64(1) << (total - 1))) >> total)


def multiply_by_quantized_multiplier_single_rounding(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """Apply a quantized multiplier with one rounding (TFLite's ``TFLITE_SINGLE_ROUNDING``):
    ``(x * multiplier + 2**(30 - shift)) >> (31 - shift)``, saturated to int32 (``shift`` in
    -31..30). Not what TFLM or CMSIS-NN do by default; kept to show the difference."""
    total = 31 - np.asarray(shift, dtype=np.int64)
    product = np.asarray(x, dtype=np.int64) * np.asarray(multiplier, dtype=np.int64)
    result = (product + (np.int64(1) << (total - 1))) >> total
    return np.clip(result, INT32_MIN, INT32_MAX)


def activation_range(
    activation: str, dtype: str, scale: float = 1.0, zero_point: int = 0
) -> tuple[float, float]:
    """The clamp range ``(lo, hi)`` of a fused activation, in the output's own units.

    For float outputs the range is in real values; for quantized outputs it is the quantized
    range, intersected with the type's range (as TFLite's ``CalculateActivationRangeQuantized``).
    """
    if dtype == "float32":
        return {
            "NONE": (-math.inf, math.inf),
            "RELU": (0.0, math.inf),
            "RELU6": (0.0, 6.0),
            "RELU_N1_TO_1": (-1.0, 1.0),
        }[activation]
    info = np.iinfo(np.dtype(dtype))
    lo, hi = int(info.min), int(info.max)

    def quantize(value: float) -> int:
        # TFLite divides in single precision before rounding.
        return zero_point + round_half_away(float(np.float32(value) / np.float32(scale)))

    if activation == "RELU":
        return max(lo, quantize(0.0)), hi
    if activation == "RELU6":
        return max(lo, quantize(0.0)), min(hi, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    if activation == "NONE":
        return lo, hi
    raise ValueError(f"unsupported fused activation {activation}")


def count_leading_zeros_u32(x: np.ndarray) -> np.ndarray:
    """Leading zero bits of values in [0, 2**32) read as uint32 (32 for zero)."""
    _, exponent = np.frexp(np.asarray(x, dtype=np.int64).astype(np.float64))
    return 32 - exponent.astype(np.int64)
