"""Requantization of int32 accumulators to int8 (or int16), and of int64 accumulators to int16,
exact and vectorized (the conv family's output stage).

The parameters (Q31 multipliers and shifts, offsets, clamp) come from
:mod:`tinyabi.quantization.conv`; this module only decides how to apply them fast:
:class:`Requantizer` folds TFLite's double-rounding fixed-point multiply into an int64
multiply-add and shifts, or, where the activation clamps negative results anyway (RELU, RELU6)
and the magnitudes allow it, into float64 weights (see :class:`RequantPlan`).
:class:`WideRequantizer` applies TFLite's 64-bit requantization of 16x8 accumulators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyabi.kernels.gemm import FLOAT64_EXACT, Array, FloatType
from tinyabi.quantization.conv import ConvQuantParams
from tinyabi.quantization.fixed_point import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    wrap_int32,
)

__all__ = ["RequantPlan", "Requantizer", "WideRequantizer"]

_INT32_LIMIT = 2**31


@dataclass(frozen=True)
class RequantPlan:
    """How one node turns its accumulators into int8 outputs.

    When ``scale`` is set, the caller multiplies its weights by it (per output channel) and
    accumulates in float64: the products then arrive already multiplied by the fixed-point
    multiplier and divided by the final power of two, exactly, and :attr:`finish` only adds a
    constant and takes the floor. Otherwise the caller accumulates plain integer products (in
    the float type :func:`tinyabi.kernels.gemm.exact_dtype` picks) and :attr:`finish` does the
    integer arithmetic.
    """

    finish: Callable[[Array], Array]
    scale: Array | None = None

    def weights(self, weights: Array, dtype: FloatType, channels: tuple[int, ...] = (-1,)) -> Array:
        """``weights`` as the accumulation wants them; ``channels`` is the shape that lays the
        per-channel scale out along the weights' output-channel axes (broadcasting)."""
        if self.scale is None:
            return weights.astype(dtype)
        return weights.astype(np.float64) * self.scale.reshape(channels)

    def dtype(self, exact: FloatType) -> FloatType:
        """The accumulation type: float64 for a scaled plan, else the exact integer type."""
        return exact if self.scale is None else np.float64


class Requantizer:
    """TFLite's requantization of int32 accumulators to int8, exact and vectorized.

    For a real multiplier ``M`` encoded as ``(m, e)`` (Q31 ``m``, ``left = max(e, 0)``,
    ``right = max(-e, 0)``) TFLite computes, for an int32 accumulator ``v``::

        a = v * 2**left                      (wrapped to int32)
        h = (a * m + nudge) / 2**31          (rounding doubling high multiply)
        q = round_half_away(h / 2**right)    (rounding divide by a power of two)
        out = clamp(q + zp_out, lo, hi)

    With ``m >= 0`` the high multiply is ``floor((a * m + 2**30) / 2**31)`` for both signs of
    ``a``, and the rounding divide is ``floor((h + half - [h < 0]) / 2**right)`` with
    ``half = 2**(right - 1)`` (no correction when ``right == 0``); adding the output zero point
    before the last floor changes nothing. So, with ``M' = m << left`` and the per-channel
    ``offset`` (bias and zero-point correction) folded into constants::

        h = (acc * M' + offset * M' + 2**30) >> 31
        out = (h + (h >> 63) + half + zp_out * 2**right) >> right

    The sign correction ``h >> 63`` (-1 for negative ``h``) only ever lowers a non-positive
    ``q``; when the activation clamps everything below the output zero point anyway (RELU,
    RELU6) it cannot change an output, and the two shifts merge into one::

        out = (acc * M' + B) >> (31 + right)
        B = offset * M' + 2**30 + (half + zp * 2**right) * 2**31

    If moreover every ``|acc * M' + B|`` stays below 2**53, that is exact in float64: the
    weights are pre-multiplied by ``M' / 2**(31 + right)`` (a power-of-two rescaling, exact), the
    products accumulate exactly, and only ``floor(y + B / 2**(31 + right))`` remains.

    Everything fits in int64 as long as ``|v| * 2**left < 2**31`` (TFLite's int32 arithmetic
    does not wrap); :meth:`plan` checks that from a bound on the accumulator and falls back to
    the literal algorithm (:func:`multiply_by_quantized_multiplier`) otherwise.
    """

    def __init__(
        self,
        multipliers: Array,
        shifts: Array,
        zero_point: int,
        lo: int,
        hi: int,
        out_dtype: type[np.integer[Any]] = np.int8,
    ) -> None:
        self.out_dtype = out_dtype
        mult = np.asarray(multipliers, dtype=np.int64).reshape(-1)
        shift = np.asarray(shifts, dtype=np.int64).reshape(-1)
        self.mult, self.shift = mult, shift
        self.zero_point, self.lo, self.hi = int(zero_point), int(lo), int(hi)
        self.left = np.maximum(shift, 0)
        self.right = np.maximum(-shift, 0)
        self.scaled_mult = mult << self.left
        half = np.where(self.right > 0, np.left_shift(1, np.maximum(self.right - 1, 0)), 0)
        self.rounding = half + self.zero_point * (np.int64(1) << self.right)
        self.uniform = bool(np.all(mult == mult[0]) and np.all(shift == shift[0]))
        # The sign correction only matters when outputs below the zero point survive.
        self.signed = self.lo < self.zero_point and bool(np.any(self.right))

    @classmethod
    def from_params(
        cls, params: ConvQuantParams, out_dtype: type[np.integer[Any]] = np.int8
    ) -> Requantizer:
        """The requantizer of a conv-family node's parameters (``out_dtype`` outputs)."""
        return cls(
            params.multipliers,
            params.shifts,
            params.output_offset,
            params.act_min,
            params.act_max,
            out_dtype,
        )

    def plan(self, raw_bound: Array, offset: Array, allow_scaled: bool = True) -> RequantPlan:
        """The plan for raw accumulators ``acc`` (exact integers, channels along the last axis)
        whose int8 outputs are those of ``acc + offset``.

        ``raw_bound[c]`` bounds ``|acc[..., c]|``; ``offset`` (int64, per channel) is added in
        int32 arithmetic like TFLite's bias. ``allow_scaled`` permits a scaled plan (see
        :class:`RequantPlan`), for callers that can pre-multiply their weights.
        """
        offset = np.asarray(offset, dtype=np.int64)
        raw_bound = np.asarray(raw_bound, dtype=np.float64)
        bound = (raw_bound + np.abs(offset)) * (2.0 ** self.left.astype(np.float64))
        if not bool(np.all(bound < _INT32_LIMIT)):
            return RequantPlan(self._literal(offset))
        if self.signed or int(self.right.max()) > 22:
            return RequantPlan(self._two_shifts(offset))
        # One shift: the rounding term joins the multiply-add (it stays below 2**30).
        base = offset * self.scaled_mult + (1 << 30) + (self.rounding << 31)
        total = self.right + 31
        reach = raw_bound * self.scaled_mult.astype(np.float64) + np.abs(base.astype(np.float64))
        if allow_scaled and bool(np.all(reach < FLOAT64_EXACT / 2)):
            return self._scaled(base, total)
        return RequantPlan(self._one_shift(base, total))

    def _scaled(self, base: Array, total: Array) -> RequantPlan:
        lo, hi, out_dtype = self.lo, self.hi, self.out_dtype
        unit = np.ldexp(1.0, -total)
        shift = base.astype(np.float64) * unit

        def floor(acc: Array) -> Array:
            acc += shift
            np.floor(acc, out=acc)
            np.maximum(acc, lo, out=acc)
            np.minimum(acc, hi, out=acc)
            return acc.astype(out_dtype)

        return RequantPlan(floor, self.scaled_mult.astype(np.float64) * unit)

    def _one_shift(self, base: Array, total: Array) -> Callable[[Array], Array]:
        lo, hi, out_dtype = self.lo, self.hi, self.out_dtype
        mult: Any = int(self.scaled_mult[0]) if self.uniform else self.scaled_mult
        shift: Any = int(total[0]) if self.uniform else total

        def one_shift(acc: Array) -> Array:
            t = acc.astype(np.int64)
            t *= mult
            t += base
            t >>= shift
            np.maximum(t, lo, out=t)
            np.minimum(t, hi, out=t)
            return t.astype(out_dtype)

        return one_shift

    def _two_shifts(self, offset: Array) -> Callable[[Array], Array]:
        lo, hi, out_dtype = self.lo, self.hi, self.out_dtype
        uniform, signed = self.uniform, self.signed
        mult: Any = int(self.scaled_mult[0]) if uniform else self.scaled_mult
        right: Any = int(self.right[0]) if uniform else self.right
        rounding: Any = int(self.rounding[0]) if uniform else self.rounding
        base = offset * self.scaled_mult + (1 << 30)
        # Channels without a rounding divide (right == 0) take no sign correction.
        mask: Any = None if np.all(self.right) else np.where(self.right > 0, -1, 0)

        def two_shifts(acc: Array) -> Array:
            t = acc.astype(np.int64)
            t *= mult
            t += base
            t >>= 31
            if signed:
                sign = t >> 63
                if mask is not None:
                    sign &= mask
                t += sign
            t += rounding
            t >>= right
            np.maximum(t, lo, out=t)
            np.minimum(t, hi, out=t)
            return t.astype(out_dtype)

        return two_shifts

    def _literal(self, offset: Array) -> Callable[[Array], Array]:
        lo, hi, out_dtype = self.lo, self.hi, self.out_dtype
        mult, shift, zero_point = self.mult, self.shift, self.zero_point

        def literal(acc: Array) -> Array:
            v = wrap_int32(acc.astype(np.int64) + offset)
            q = multiply_by_quantized_multiplier(v, mult, shift) + zero_point
            return np.minimum(np.maximum(q, lo), hi).astype(out_dtype)

        return literal


class WideRequantizer:
    """TFLite's requantization of 64-bit accumulators (int16 activations, int8 weights)::

        out = clamp(MBQM64(acc, m[c], e[c]), act_min, act_max)

    with :func:`~tinyabi.quantization.fixed_point.multiply_by_quantized_multiplier_int64`
    (the Q31 multiplier reduced to Q15, one rounding shift). The output zero point is 0.
    """

    def __init__(self, params: ConvQuantParams) -> None:
        self.mult = np.asarray(params.multipliers, dtype=np.int64)
        self.shift = np.asarray(params.shifts, dtype=np.int64)
        self.lo, self.hi = params.act_min, params.act_max

    def __call__(self, acc: Array) -> Array:
        """int16 outputs of int64 accumulators (channels along the last axis)."""
        q = multiply_by_quantized_multiplier_int64(acc, self.mult, self.shift)
        return np.clip(q, self.lo, self.hi).astype(np.int16)
