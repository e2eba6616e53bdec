"""Input-independent products computed at generation time, so they live in flash.

CMSIS-NN's fully connected kernel on cores with the vector extension wants, per output unit,
``bias + input_offset * sum(weights of the unit)`` in its context buffer, the values
``arm_vector_sum_s8`` would write. They depend only on the weights, the bias and the offsets,
so :func:`kernel_sums` computes them here with the same int32 arithmetic (two's complement
wraparound) and the generated code keeps them as a ``const`` array instead of filling RAM in
``model_init``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kernel_sums"]


def _wrap_int32(values: np.ndarray) -> np.ndarray:
    """int64 values reduced to int32 as C's two's complement int32 arithmetic leaves them."""
    return ((values + 2**31) % 2**32 - 2**31).astype(np.int32)


def kernel_sums(
    weights: np.ndarray, bias: np.ndarray | None, lhs_offset: int, rhs_offset: int = 0
) -> np.ndarray:
    """What ``arm_vector_sum_s8(buf, cols, rows, weights, lhs_offset, rhs_offset, bias)``
    writes for int8 ``weights`` of shape ``(rows, cols)`` and an int32 ``bias`` of ``rows``
    values (or none): ``bias[r] + lhs_offset * (sum_j weights[r, j] + cols * rhs_offset)``,
    the sum taken only when ``lhs_offset`` is not zero, as int32."""
    w = np.asarray(weights, dtype=np.int8)
    rows, cols = w.shape
    out = np.zeros(rows, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(rows)
    if lhs_offset:
        sums = _wrap_int32(w.astype(np.int64).sum(axis=1))
        if rhs_offset:
            sums = _wrap_int32(sums.astype(np.int64) + _wrap_int32(np.int64(cols * rhs_offset)))
        product = _wrap_int32(sums.astype(np.int64) * int(lhs_offset))
        out = out + product
    return _wrap_int32(out)
