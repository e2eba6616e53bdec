"""Constant folding: operators whose inputs are all constants are computed at import time.

Exporters write shape arithmetic (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) even for
static shapes; folding it leaves the Reshape a constant shape, as the spec needs. Every result is
size-checked like a tensor of the model file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from tinyabi_onnx.attributes import integer, ints
from tinyabi_onnx.converter import DEFAULT_DOMAINS, Converter
from tinyabi_onnx.reader import ELEMENT_TYPES, check_shape
from tinyabi_onnx.values import NotMapped, Value

Fold = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]


def _int_division(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.any(b == 0):
        raise NotMapped("integer division by zero")
    quotient = np.abs(a) // np.abs(b)  # ONNX integer division truncates toward zero
    return (quotient * np.sign(a) * np.sign(b)).astype(np.result_type(a, b))


def _divide(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    check_shape("result", np.broadcast_shapes(x[0].shape, x[1].shape), "int64")
    if x[0].dtype.kind in "iu" and x[1].dtype.kind in "iu":
        return _int_division(x[0], x[1])
    with np.errstate(all="ignore"):
        return np.asarray(x[0] / x[1]).astype(x[0].dtype)


def _cast(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    target = ELEMENT_TYPES.get(integer(attrs, "to", 0))
    if target is None:
        raise NotMapped("Cast to an unsupported type")
    with np.errstate(all="ignore"):
        return x[0].astype(np.bool_ if target == "bool" else target)


def _gather(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    data, indices = x
    axis = integer(attrs, "axis", 0)
    if not -data.ndim <= axis < data.ndim:
        raise NotMapped("Gather axis out of range")
    extent = data.shape[axis]
    check_shape("Gather", (indices.size, data.size // max(extent, 1)), data.dtype.name)
    if np.any(indices < -extent) or np.any(indices >= extent):
        raise NotMapped("Gather index out of range")
    return np.take(data, indices.astype(np.int64), axis=axis)


def _unsqueeze(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    rank = x[0].ndim + x[1].size
    axes = sorted(int(a) % rank for a in x[1].reshape(-1))
    return x[0].reshape(_fill(x[0].shape, axes))


def _fill(shape: tuple[int, ...], axes: list[int]) -> list[int]:
    dims = iter(shape)
    return [1 if i in axes else next(dims) for i in range(len(shape) + len(axes))]


def _squeeze(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    axes = None if len(x) < 2 else tuple(int(a) for a in x[1].reshape(-1))
    return np.squeeze(x[0], axis=axes)


def _reshape(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    target = [int(d) for d in x[1].reshape(-1)]
    if not integer(attrs, "allowzero", 0):
        target = [x[0].shape[i] if d == 0 and i < x[0].ndim else d for i, d in enumerate(target)]
    return x[0].reshape(target)


def _slice(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    data = x[0]
    starts, ends = x[1].reshape(-1), x[2].reshape(-1)
    axes = x[3].reshape(-1) if len(x) > 3 else np.arange(starts.size)
    steps = x[4].reshape(-1) if len(x) > 4 else np.ones(starts.size, np.int64)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise NotMapped("Slice step 0")
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


def _constant_of_shape(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    value = attrs.get("value")
    fill = value.reshape(-1)[:1] if isinstance(value, np.ndarray) else np.zeros(1, np.float32)
    shape = [int(d) for d in x[0].reshape(-1)]
    check_shape("ConstantOfShape", shape, "bool" if fill.dtype == np.bool_ else fill.dtype.name)
    return np.full(shape, fill[0], fill.dtype)


def _concat(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    return np.concatenate(x, axis=integer(attrs, "axis", 0))


def _transpose(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    return np.transpose(x[0], ints(attrs, "perm", list(reversed(range(x[0].ndim)))))


def _flatten(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    axis = integer(attrs, "axis", 1) % (x[0].ndim + 1)
    return x[0].reshape(math.prod(x[0].shape[:axis]), -1)


def _arithmetic(ufunc: Any) -> Fold:
    def fold(x: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
        # Broadcasting can make a result far larger than its operands: check it first.
        check_shape("result", np.broadcast_shapes(x[0].shape, x[1].shape), "int64")
        with np.errstate(all="ignore"):
            return np.asarray(ufunc(x[0], x[1])).astype(np.result_type(x[0], x[1]))

    return fold


FOLDS: dict[str, Fold] = {
    "Add": _arithmetic(np.add),
    "Sub": _arithmetic(np.subtract),
    "Mul": _arithmetic(np.multiply),
    "Div": _divide,
    "Cast": _cast,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Slice": _slice,
    "Concat": _concat,
    "Transpose": _transpose,
    "ConstantOfShape": _constant_of_shape,
    "Identity": lambda x, attrs: x[0],
}


def fold_constant(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> bool:
    """Compute ``node`` now when it is foldable and every input is a plain constant; returns
    whether it did."""
    fold = FOLDS.get(node.op_type)
    if fold is None or node.domain not in DEFAULT_DOMAINS or len(node.output) != 1:
        return False
    values = [c.values.get(n) for n in node.input if n]
    if not values or any(v is None or v.const is None for v in values):
        return False
    arrays = [v.const for v in values if v is not None and v.const is not None]
    if any(a.size > 2**16 for a in arrays) and node.op_type != "Identity":
        return False  # big constants are the weights of real operators, not shape arithmetic
    try:
        result = np.asarray(fold(arrays, attrs))
    except (NotMapped, ValueError, IndexError, TypeError, OverflowError):
        return False
    dtype = "bool" if result.dtype == np.bool_ else result.dtype.name
    if dtype not in ELEMENT_TYPES.values():
        return False
    check_shape(f"value {node.output[0]!r}", result.shape, dtype)
    result.setflags(write=False)
    c.values[node.output[0]] = Value(dtype, tuple(result.shape), const=result)
    return True
