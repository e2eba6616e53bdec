"""Exact integer matrix products through floating-point BLAS, for the conv-family kernels.

Every product of int8 values and every partial sum is an integer, so a float32 (float64)
product is exact as long as the largest possible sum of absolute products stays below 2**24
(2**53): :func:`exact_dtype` picks the narrowest type that is exact for the actual weights.
:func:`matmul` splits the product into row blocks that BLAS runs on one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyabi.errors import GraphError

__all__ = [
    "FLOAT32_EXACT",
    "FLOAT64_EXACT",
    "Array",
    "FloatType",
    "abs_sums",
    "exact_dtype",
    "matmul",
    "matmul_for",
]

Array = np.ndarray
FloatType = type[np.floating[Any]]

#: Every integer of magnitude below this is exact in float32 / float64.
FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53

#: Products are split into row blocks of at most this many multiply-adds. OpenBLAS hands
#: larger products to several threads, which for matrices this small costs more than it gains
#: and stalls badly when the cores are busy; other BLAS libraries are unaffected.
_GEMM_BLOCK = 1 << 18


def matmul(a: Array, b: Array) -> Array:
    """``a @ b`` for 2-D operands, computed in row blocks that BLAS runs on one thread."""
    m, k = a.shape
    n = b.shape[1]
    step = max(1, _GEMM_BLOCK // max(1, k * n))
    if m <= step:
        return a @ b
    out = np.empty((m, n), dtype=np.result_type(a, b))
    for start in range(0, m, step):
        np.matmul(a[start : start + step], b, out=out[start : start + step])
    return out


def matmul_for(m: int, k: int, n: int) -> Callable[[Array, Array], Array]:
    """:func:`matmul` for operands of shapes ``[m, k]`` and ``[k, n]`` known when a kernel is
    prepared: ``np.matmul`` itself when one block holds the product (nothing to decide per
    call), else :func:`matmul`."""
    step = max(1, _GEMM_BLOCK // max(1, k * n))
    return np.matmul if m <= step else matmul


def exact_dtype(abs_column_sums: Array, max_input: float) -> FloatType:
    """float32 when every ``max_input * sum(|w|)`` of an output channel is below 2**24 (every
    partial sum of the products is then an exactly representable integer), else float64."""
    bound = float(np.max(abs_column_sums, initial=0.0)) * max_input
    if bound < FLOAT32_EXACT:
        return np.float32
    if bound >= FLOAT64_EXACT:  # pragma: no cover - would need > 2**37 products
        raise GraphError("accumulation too deep to compute exactly")
    return np.float64


def abs_sums(weights: Array, axis: int | tuple[int, ...]) -> Array:
    """``sum(|w|)`` over ``axis``, in int64."""
    return np.abs(weights.astype(np.int64)).sum(axis=axis)
