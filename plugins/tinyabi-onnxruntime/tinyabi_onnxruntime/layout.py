"""Permutations: the axis order an ONNX value holds an IR tensor in.

A value held in ``perm`` is ``ir_array.transpose(perm)``: axis ``i`` of the ONNX value is axis
``perm[i]`` of the IR tensor. NHWC tensors held as NCHW use :data:`NCHW`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "NCHW",
    "Perm",
    "axis_in",
    "identity",
    "is_identity",
    "moves_only_unit_axes",
    "relative",
    "remaining",
]

Perm = tuple[int, ...]

#: An NHWC tensor held in ONNX's NCHW order.
NCHW: Perm = (0, 3, 1, 2)


def identity(rank: int) -> Perm:
    """The natural order of a tensor of ``rank`` axes."""
    return tuple(range(rank))


def is_identity(perm: Sequence[int]) -> bool:
    """Whether ``perm`` keeps every axis in place."""
    return all(i == p for i, p in enumerate(perm))


def relative(held: Perm, wanted: Perm) -> Perm:
    """The ONNX ``Transpose`` perm that turns a value held in ``held`` into one held in
    ``wanted``."""
    position = {axis: i for i, axis in enumerate(held)}
    return tuple(position[axis] for axis in wanted)


def axis_in(perm: Perm, axis: int) -> int:
    """Where IR axis ``axis`` lies in a value held in ``perm``."""
    return perm.index(axis % len(perm))


def remaining(perm: Perm, reduced: Sequence[int]) -> Perm:
    """The perm of a value held in ``perm`` after the IR axes ``reduced`` are dropped (the kept
    axes renumbered)."""
    gone = {a % len(perm) for a in reduced}
    kept = sorted(a for a in perm if a not in gone)
    number = {axis: i for i, axis in enumerate(kept)}
    return tuple(number[a] for a in perm if a not in gone)


def moves_only_unit_axes(perm: Perm, shape: Sequence[int]) -> bool:
    """Whether a value held in ``perm`` has its elements in the IR tensor's order (only axes of
    extent 1 are out of place), so a reshape can read it directly."""
    moved = [axis for axis in perm if shape[axis] != 1]
    return moved == sorted(moved)
