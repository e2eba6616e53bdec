"""TFLite Micro's int16 table-driven activations: LOGISTIC, TANH and SOFTMAX on int16 values.

* LOGISTIC and TANH read :data:`SIGMOID_TABLE`, sigmoid(i / 24) for i = 0..255 in unsigned
  Q0.16 (a constant of the spec: it is not any simple rounding of the formula), with linear
  interpolation on the input's fractional bits; tanh(x) = 2 sigmoid(2x) - 1 reads the same
  table at twice the step.
* SOFTMAX (int16) builds two 513-entry int16 tables in single precision, exp on [-10, 0] and
  1 / (1 + x) on [0, 1] (:func:`int16_lut`), and reads them with interpolation over the low 7
  bits (:func:`int16_lut_lookup`).

Everything works on int64 numpy arrays holding the C code's int32 / uint32 values; every
intermediate stays far inside int64, so no wrap-around needs emulating.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyabi.quantization.fixed_point import (
    count_leading_zeros_u32,
    multiply_by_quantized_multiplier,
)

__all__ = [
    "INT16_LUT_SIZE",
    "SIGMOID_TABLE",
    "exp_table",
    "int16_logistic",
    "int16_lut",
    "int16_lut_lookup",
    "int16_softmax",
    "int16_tanh",
    "reciprocal_table",
    "table_input",
]

#: sigmoid(i / 24) in unsigned Q0.16 for i = 0..255, the table TFLM's int16 LOGISTIC and TANH
#: interpolate (the last entry saturates at 65535).
# fmt: off
SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
], dtype=np.int64)
# fmt: on

#: Entries of SOFTMAX's int16 tables: 512 steps and the end point (read only for the slope).
INT16_LUT_SIZE = 513


def table_input(q: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    """The int16 input on the sigmoid table's scale: ``(q * multiplier + round) >> left_shift``
    (arithmetic shift, ``round = 2**(left_shift - 1)``, 0 for a shift of 0)."""
    rounding = (1 << (left_shift - 1)) if left_shift > 0 else 0
    return (np.asarray(q, dtype=np.int64) * multiplier + rounding) >> left_shift


def _interpolate(magnitude: np.ndarray, fraction_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(value, saturated)``: the table read at ``magnitude / 2**fraction_bits`` with linear
    interpolation, ``(ua << f) + frac * (ub - ua)``, and where the index reached 255."""
    index = magnitude >> fraction_bits
    saturated = index >= 255
    safe = np.where(saturated, 0, index)
    low = SIGMOID_TABLE[safe]
    high = SIGMOID_TABLE[safe + 1]
    fraction = magnitude & ((1 << fraction_bits) - 1)
    return (low << fraction_bits) + fraction * (high - low), saturated


def int16_logistic(x: np.ndarray) -> np.ndarray:
    """int16 LOGISTIC of table inputs ``x`` (:func:`table_input`), in Q0.15.

    ``r`` = table at ``|x| / 2**9`` interpolated on 9 bits (``0x7FFF << 10`` once the index
    reaches 255); ``out = (r + 2**9) >> 10`` for ``x >= 0``, else
    ``(2**25 - r + 2**9 - 1) >> 10``.
    """
    value, saturated = _interpolate(np.abs(x), 9)
    r = np.where(saturated, 0x7FFF << 10, value)
    r = np.where(x >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return r >> 10


def int16_tanh(x: np.ndarray) -> np.ndarray:
    """int16 TANH of table inputs ``x`` (:func:`table_input`), in Q0.15.

    ``r`` = table at ``|x| / 2**8`` interpolated on 8 bits (``0xFFFF << 8`` once the index
    reaches 255); ``out = (r - 2**23 + 2**7) >> 8`` for ``x >= 0``, else
    ``(2**23 - r + 2**7 - 1) >> 8`` (arithmetic shifts).
    """
    value, saturated = _interpolate(np.abs(x), 8)
    r = np.where(saturated, 0xFFFF << 8, value)
    r = np.where(x >= 0, r - (1 << 23) + (1 << 7), (1 << 23) - r + (1 << 7) - 1)
    return r >> 8


def _round_away(x: np.ndarray) -> np.ndarray:
    """C's ``roundf`` on float32 values (ties away from zero), as float32; the half is added in
    double precision, where it is exact."""
    wide = np.asarray(x, dtype=np.float64)
    return (np.sign(wide) * np.floor(np.abs(wide) + 0.5)).astype(np.float32)


def int16_lut(
    function: Callable[[np.ndarray], np.ndarray], input_min: float, input_max: float
) -> np.ndarray:
    """TFLM's int16 table of ``function`` on [input_min, input_max] with outputs in [-1, 1)
    (Q0.15), all arithmetic in float32.

    With ``step = (max - min) / 512`` and ``v(t) = function(t) * 32768``, entry i < 512 is
    ``clamp(round(v(a)) - round(e / 2))`` where ``a = min + i * step``, ``e =
    round((v(a + step) + round(v(a))) / 2) - round(v(a + step / 2))`` (``a + step`` written
    ``min + (i + 1) * step``); entry 512 is ``clamp(round(v(max)))``; rounding is half away from
    zero and the clamp is to the int16 range. ``function`` maps float32 arrays to float32.
    """
    f32 = np.float32
    low, high = f32(input_min), f32(input_max)
    steps = INT16_LUT_SIZE - 1
    step = f32((high - low) / f32(steps))
    half_step = f32(step / f32(2))
    scale = f32(65536.0) / f32(f32(1.0) - f32(-1.0))
    i = np.arange(steps, dtype=np.float32)
    start = (low + i * step).astype(np.float32)
    value = function(start) * scale
    midpoint = function((start + half_step).astype(np.float32)) * scale
    following = function((low + (i + f32(1)) * step).astype(np.float32)) * scale
    sample = _round_away(value)
    interpolated = _round_away(((following + sample) / f32(2)).astype(np.float32))
    bias = _round_away(((interpolated - _round_away(midpoint)) / f32(2)).astype(np.float32))
    table = np.empty(INT16_LUT_SIZE, dtype=np.int64)
    table[:steps] = np.clip(sample - bias, -32768, 32767).astype(np.int64)
    end = _round_away(function(np.array([high], dtype=np.float32)) * scale)
    table[steps] = int(np.clip(end[0], -32768, 32767))
    return table


def int16_lut_lookup(value: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Read an :func:`int16_lut` table at int16 ``value``: base ``table[256 + (value >> 7)]``
    plus ``(slope * (value & 127) + 64) >> 7``, with ``slope`` the difference to the next entry
    (wrapped to int16, as TFLM's int16 arithmetic), the sum wrapped to int16."""
    value = np.asarray(value, dtype=np.int64)
    index = 256 + (value >> 7)
    base = table[index]
    slope = _wrap16(table[index + 1] - base)
    return _wrap16(base + ((slope * (value & 0x7F) + 64) >> 7))


def _wrap16(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def exp_table() -> np.ndarray:
    """SOFTMAX's int16 exp table: :func:`int16_lut` of float32 ``exp`` on [-10, 0]."""
    return int16_lut(lambda t: np.exp(t.astype(np.float64)).astype(np.float32), -10.0, 0.0)


def reciprocal_table() -> np.ndarray:
    """SOFTMAX's int16 table of ``1 / (1 + x)`` on [0, 1], in float32."""
    return int16_lut(lambda t: (np.float32(1.0) / (np.float32(1.0) + t)).astype(np.float32), 0, 1)


def int16_softmax(
    rows: np.ndarray, multiplier: int, shift: int, exps: np.ndarray, reciprocals: np.ndarray
) -> np.ndarray:
    """int16 SOFTMAX of each row of ``rows`` (int64 array ``[n, depth]``), in Q0.15.

    Per row: ``d = q - max(row)`` requantized by ``(multiplier, shift)`` (TFLite's
    MultiplyByQuantizedMultiplier) so that [-10, 0] spans [-65535, 0]; ``e =
    lookup(exps, clamp16(d' + 32767))``; ``S = sum(e)`` (int32); with ``h = clz32(S)``,
    ``t = ((S << (h - 1)) + 2**13) >> 14``, ``r = lookup(reciprocals, clamp16(t - 98304))``;
    ``out = clamp((e * r + 2**(30 - h)) >> (31 - h), 0, 32767)``.
    """
    diffs = rows - rows.max(axis=1, keepdims=True)
    scaled = multiply_by_quantized_multiplier(diffs, multiplier, shift)
    e = int16_lut_lookup(np.clip(scaled + 32767, -32768, 32767), exps)
    sums = e.sum(axis=1, keepdims=True)
    headroom_plus_one = count_leading_zeros_u32(sums)
    shifted = ((sums << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    r = int16_lut_lookup(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), reciprocals)
    right_shift = 31 - headroom_plus_one
    out = (e * r + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(out, 0, 32767)
