"""Lowerings of operators that move data: reshapes, transposes, concatenation, slices, padding,
and the mean over axes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx

from tinyabi_onnx.api import Quantization
from tinyabi_onnx.attributes import integer, ints
from tinyabi_onnx.converter import Converter
from tinyabi_onnx.layout import after_transpose, drop_axes, identity, keeps_order
from tinyabi_onnx.values import NotMapped, Value


def _ints(value: Value | None, what: str) -> list[int]:
    if value is None or value.const is None or value.const.ndim > 1:
        raise NotMapped(f"{what} is not a constant list")
    return [int(v) for v in value.const.reshape(-1)]


def reshape_to(c: Converter, node: onnx.NodeProto, x: Value, target: list[int]) -> None:
    """Emit a RESHAPE of ``x`` to the ONNX shape ``target`` (fully resolved)."""
    if math.prod(target) != math.prod(x.shape) or any(d < 0 for d in target):
        raise NotMapped(f"cannot reshape {list(x.shape)} to {target}")
    perm = x.perm if keeps_order(x.perm, x.shape) else identity(x.rank)
    source = c.int8(x, perm) if c.quantized else c.held(x, perm)
    shape = c.const(np.array(target, np.int32), "shape")
    dtype, quant = _type(x)
    c.finish(node, "RESHAPE", [source, shape], identity(len(target)), dtype=dtype, quant=quant)


def _type(x: Value) -> tuple[str, Quantization | None]:
    """Element type and quantization of an operator that moves ``x``'s values unchanged."""
    if x.source is not None:
        return "float32", None
    return x.dtype, x.quant


def reshape(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Reshape with a constant shape."""
    x = c.value(node.input[0])
    target = _ints(c.value(node.input[1]), "shape")
    allow_zero = integer(attrs, "allowzero", 0)
    resolved = []
    for i, d in enumerate(target):
        if d == 0 and not allow_zero:
            if i >= x.rank:
                raise NotMapped("a 0 in the shape has no input dimension to copy")
            d = x.shape[i]
        resolved.append(d)
    if resolved.count(-1) > 1:
        raise NotMapped("more than one -1 in the shape")
    if -1 in resolved:
        known = math.prod(d for d in resolved if d != -1)
        if known == 0 or math.prod(x.shape) % known:
            raise NotMapped("the -1 cannot be inferred")
        resolved[resolved.index(-1)] = math.prod(x.shape) // known
    reshape_to(c, node, x, resolved)


def flatten(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Flatten -> RESHAPE to two dimensions."""
    x = c.value(node.input[0])
    axis = integer(attrs, "axis", 1)
    if not -x.rank <= axis <= x.rank:
        raise NotMapped(f"axis {axis} is out of range")
    if axis < 0:
        axis += x.rank
    reshape_to(c, node, x, [math.prod(x.shape[:axis]), math.prod(x.shape[axis:])])


def squeeze(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Squeeze -> RESHAPE."""
    x = c.value(node.input[0])
    given = c.optional(node, 1)
    axes = [a % x.rank for a in _ints(given, "axes")] if given is not None else None
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    if any(x.shape[a] != 1 for a in axes):
        raise NotMapped("squeezing an axis longer than 1")
    reshape_to(c, node, x, [d for i, d in enumerate(x.shape) if i not in axes])


def unsqueeze(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Unsqueeze -> RESHAPE."""
    x = c.value(node.input[0])
    rank = x.rank + len(_ints(c.value(node.input[1]), "axes"))
    axes = sorted(a % rank for a in _ints(c.value(node.input[1]), "axes"))
    if len(set(axes)) != len(axes):
        raise NotMapped("repeated axes")
    dims = iter(x.shape)
    reshape_to(c, node, x, [1 if i in axes else next(dims) for i in range(rank)])


def transpose(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Transpose: no node; the output is the same IR tensor read through another
    permutation (a TRANSPOSE is made only where a reader needs other axes)."""
    x = c.value(node.input[0])
    perm = tuple(ints(attrs, "perm", list(reversed(range(x.rank)))))
    if sorted(perm) != list(range(x.rank)):
        raise NotMapped(f"perm {list(perm)} is not a permutation")
    shape = tuple(x.shape[p] for p in perm)
    c.check_declared(node.output[0], shape)
    if x.is_constant:
        value = Value(x.dtype, shape, const=np.transpose(x.real(), perm))
    elif x.source is not None:
        held = after_transpose(x.source.perm, perm)
        source = Value(x.source.dtype, shape, x.source.ir, held, quant=x.source.quant)
        value = Value("float32", shape, perm=held, source=source)
    else:
        value = Value(x.dtype, shape, x.ir, after_transpose(x.perm, perm), quant=x.quant)
    c.set_value(node.output[0], value)


def alias(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Identity (and inference Dropout): the output is the input."""
    if len([o for o in node.output if o]) > 1:
        raise NotMapped("a Dropout mask is asked for")
    c.set_value(node.output[0], c.value(node.input[0]))


def concat(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Concat -> CONCATENATION along the held axis."""
    values = [c.value(n) for n in node.input if n]
    rank = values[0].rank
    axis = integer(attrs, "axis", 0)
    if rank == 0 or not -rank <= axis < rank or any(v.rank != rank for v in values):
        raise NotMapped("inputs of different ranks or a bad axis")
    axis %= rank
    perms = {v.perm for v in values if not v.is_constant}
    perm = perms.pop() if len(perms) == 1 else identity(rank)
    inputs = []
    for v in values:
        if c.quantized and v.is_constant:
            q = c.weight(v)
            inputs.append(c.const(q.data.transpose(perm), "operand", q.quantization(perm)))
        elif c.quantized:
            inputs.append(c.int8(v, perm))
        else:
            inputs.append(c.held(v, perm))
    dtype, quant = _type(values[0])
    c.finish(node, "CONCATENATION", inputs, perm, axis=perm.index(axis), dtype=dtype, quant=quant)


def slice_(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Slice with constant starts, ends, axes and steps -> STRIDED_SLICE."""
    x = c.value(node.input[0])
    starts = _ints(c.value(node.input[1]), "starts")
    ends = _ints(c.value(node.input[2]), "ends")
    given = c.optional(node, 3)
    axes = _ints(given, "axes") if given is not None else list(range(len(starts)))
    steps_value = c.optional(node, 4)
    steps = _ints(steps_value, "steps") if steps_value is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise NotMapped("starts, ends, axes and steps do not fit together")
    begin, end, stride = [0] * x.rank, list(x.shape), [1] * x.rank
    end_mask = 0
    for a, s, e, st in zip(axes, starts, ends, steps):
        if not -x.rank <= a < x.rank:
            raise NotMapped(f"axis {a} is out of range")
        a %= x.rank
        b0, e0, s0 = slice(s, e, st).indices(x.shape[a])
        if len(range(b0, e0, s0)) == 0:
            raise NotMapped("an empty slice")
        begin[a], end[a], stride[a] = b0, e0, s0
    perm = x.perm
    ir_begin = [begin[p] for p in perm]
    ir_end = [end[p] for p in perm]
    ir_stride = [stride[p] for p in perm]
    for i, (e0, s0) in enumerate(zip(ir_end, ir_stride)):
        if e0 < 0 and s0 < 0:
            end_mask |= 1 << i
            ir_end[i] = 0
    source = c.int8(x, perm) if c.quantized else c.held(x, perm)
    operands = [c.const(np.array(v, np.int32), "slice") for v in (ir_begin, ir_end, ir_stride)]
    c.finish(node, "STRIDED_SLICE", [source, *operands], perm, end_mask=end_mask)


def pad(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Pad with zeros (constant mode) -> PAD."""
    x = c.value(node.input[0])
    if attrs.get("mode", "constant") != "constant" or c.optional(node, 3) is not None:
        raise NotMapped("only constant padding of every axis maps")
    amounts = _ints(c.value(node.input[1]), "pads")
    fill = c.optional(node, 2)
    if fill is not None and (not fill.is_constant or np.any(fill.real() != 0)):
        raise NotMapped("only padding with zeros maps")
    if len(amounts) != 2 * x.rank or any(p < 0 for p in amounts):
        raise NotMapped("pads must be two non-negative numbers per axis")
    rows = [[amounts[p], amounts[p + x.rank]] for p in x.perm]
    source = c.int8(x, x.perm) if c.quantized else c.held(x, x.perm)
    paddings = c.const(np.array(rows, np.int32), "paddings")
    dtype, quant = _type(x)
    c.finish(node, "PAD", [source, paddings], x.perm, dtype=dtype, quant=quant)


def reduce_mean(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """ReduceMean -> MEAN over the held axes."""
    x = c.value(node.input[0])
    if c.opset >= 18:
        given = c.optional(node, 1)
        axes = _ints(given, "axes") if given is not None else []
    else:
        axes = ints(attrs, "axes", [])
    if not axes:
        if integer(attrs, "noop_with_empty_axes", 0):
            raise NotMapped("a ReduceMean that reduces nothing")
        axes = list(range(x.rank))
    if any(not -x.rank <= a < x.rank for a in axes):
        raise NotMapped("an axis is out of range")
    axes = sorted({a % x.rank for a in axes})
    keep = bool(integer(attrs, "keepdims", 1))
    source = c.int8(x, x.perm) if c.quantized else c.held(x, x.perm)
    held_axes = c.const(np.array([x.perm.index(a) for a in axes], np.int32), "axes")
    perm = x.perm if keep else drop_axes(x.perm, axes)
    c.finish(node, "MEAN", [source, held_axes], perm, keep_dims=keep)


def constant(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Constant -> a constant value."""
    if "value" in attrs and isinstance(attrs["value"], np.ndarray):
        data = attrs["value"]
    elif "value_float" in attrs:
        data = np.array(attrs["value_float"], np.float32)
    elif "value_floats" in attrs:
        data = np.array(attrs["value_floats"], np.float32)
    elif "value_int" in attrs:
        data = np.array(attrs["value_int"], np.int64)
    elif "value_ints" in attrs:
        data = np.array(attrs["value_ints"], np.int64)
    else:
        raise NotMapped("a Constant without a dense value")
    c.set_value(node.output[0], Value(_name(data), tuple(data.shape), const=data))


def shape(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Shape: shapes are static, so it is a constant."""
    x = c.value(node.input[0])
    start, end = integer(attrs, "start", 0), integer(attrs, "end", x.rank)
    data = np.array(x.shape[slice(start, end)], np.int64)
    c.set_value(node.output[0], Value("int64", tuple(data.shape), const=data))


def _name(data: np.ndarray) -> str:
    return "bool" if data.dtype == np.bool_ else data.dtype.name
