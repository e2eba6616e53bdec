"""Axis permutations: how an ONNX value's axes are laid out in the IR tensor that holds it.

A value with permutation ``perm`` is held by an IR tensor equal to ``onnx_value.transpose(perm)``
(IR axis ``i`` is ONNX axis ``perm[i]``). Rank-4 activations of convolutional graphs are held in
NHWC, ``(0, 2, 3, 1)``; everything else starts in ONNX order (the identity).
"""

from __future__ import annotations

from collections.abc import Sequence

Perm = tuple[int, ...]

#: ONNX's NCHW held as the spec's NHWC.
NHWC: Perm = (0, 2, 3, 1)


def identity(rank: int) -> Perm:
    """The permutation that keeps ONNX order."""
    return tuple(range(rank))


def inverse(perm: Sequence[int]) -> Perm:
    """``inv`` with ``inv[perm[i]] == i``."""
    result = [0] * len(perm)
    for i, p in enumerate(perm):
        result[p] = i
    return tuple(result)


def permute(shape: Sequence[int], perm: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``array.transpose(perm)`` for an array of ``shape``."""
    return tuple(int(shape[p]) for p in perm)


def between(held: Sequence[int], wanted: Sequence[int]) -> Perm:
    """The TRANSPOSE permutation taking a tensor held in ``held`` to one held in ``wanted``."""
    inv = inverse(held)
    return tuple(inv[w] for w in wanted)


def after_transpose(held: Sequence[int], onnx_perm: Sequence[int]) -> Perm:
    """How ``Transpose(x, onnx_perm)`` is held when ``x`` is held in ``held``: the same IR
    tensor, read through another permutation (no data moves)."""
    return between(onnx_perm, held)


def keeps_order(perm: Sequence[int], shape: Sequence[int]) -> bool:
    """Whether the IR tensor's elements are in ONNX row-major order (only axes of extent 1 are
    moved), so that a reshape may read it directly."""
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def drop_axes(perm: Sequence[int], axes: Sequence[int]) -> Perm:
    """The permutation left when the ONNX ``axes`` are removed (as a reduction without kept
    dimensions does), renumbered."""
    kept = [p for p in perm if p not in set(axes)]
    order = sorted(kept)
    return tuple(order.index(p) for p in kept)
