"""The 16x8 output stage of the conv family (int16 activations, int8 weights), shared by
CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV.

The zero points are 0, so the accumulator is the plain sum of products plus the bias. With an
int64 bias (or none) it is 64-bit and requantized by :class:`WideRequantizer`; with an int32
bias it is 32-bit (wrapping) and requantized like int8's, to the int16 range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyabi.kernels.gemm import Array, FloatType, exact_dtype
from tinyabi.kernels.requantizer import Requantizer, WideRequantizer
from tinyabi.quantization.conv import ConvQuantParams

__all__ = ["INT16_MAX_INPUT", "int16_stage"]

#: The largest magnitude of an int16 activation.
INT16_MAX_INPUT = 2**15


def int16_stage(
    params: ConvQuantParams, abs_weight_sums: Array, bias: Array | None
) -> tuple[FloatType, Callable[[Array], Array]]:
    """``(dtype, finish)``: the float type in which sums of int16 x int8 products are exact
    (``abs_weight_sums[c]`` = ``sum(|w|)`` of output channel ``c``), and the function turning
    such sums (channels along the last axis) into int16 outputs, the bias included."""
    dtype = exact_dtype(abs_weight_sums, INT16_MAX_INPUT)
    channels = np.asarray(abs_weight_sums).size
    bias64 = np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64)
    if params.accumulator == "int64":
        requant = WideRequantizer(params)

        def finish_wide(acc: Array) -> Array:
            return requant(acc.astype(np.int64) + bias64)

        return dtype, finish_wide
    bound = np.asarray(abs_weight_sums, dtype=np.float64) * INT16_MAX_INPUT
    plan = Requantizer.from_params(params, np.int16).plan(bound, bias64, allow_scaled=False)
    return dtype, plan.finish
