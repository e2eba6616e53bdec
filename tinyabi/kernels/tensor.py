"""Reference kernels of the tensor operator family.

Data movement (RESHAPE, SQUEEZE, CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE) copies element
values unchanged, so every element type is exact; the quantized ones require the output to
carry the input's quantization (no requantization happens, as in TFLite Micro). QUANTIZE and
DEQUANTIZE convert between real and quantized values with TFLite Micro's exact arithmetic:
single-precision division and round-half-away-from-zero for quantization, the double-rounding
fixed-point multiplier for requantization, and one single-precision multiply for
dequantization. 8- and 16-bit inputs go through lookup tables built in prepare.

The operator limits (types, ranks, masks) follow what TFLite Micro runs; anything else is
declined with a :class:`GraphError` naming the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyabi.ir.graph import Graph, Node, Tensor, numpy_dtype
from tinyabi.ir.shapes.registry import Shape
from tinyabi.ir.shapes.tensor import (
    concat_axis,
    concatenation_shape,
    node_error,
    pad_amounts,
    reshape_shape,
    same_shape,
    squeeze_shape,
    strided_slice_plan,
    transpose_perm,
)
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.quantization import requantize as requantize_quant
from tinyabi.quantization.fixed_point import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    wrap_int32,
)
from tinyabi.quantization.tensors import per_tensor

_ALL = ("float32", "int8", "uint8", "int16", "int32", "int64", "bool")

#: Element types each data-movement operator moves (what TFLite Micro's kernels accept).
MOVED_TYPES: dict[str, tuple[str, ...]] = {
    "RESHAPE": _ALL,
    "SQUEEZE": _ALL,
    "CONCATENATION": ("float32", "int8", "int16", "int32", "int64", "bool"),
    "PAD": ("float32", "int8", "int16", "int32"),
    "TRANSPOSE": ("float32", "int8", "int16"),
    "STRIDED_SLICE": ("float32", "int8", "int16", "int32", "bool"),
}

#: (input, output) element types QUANTIZE supports.
QUANTIZE_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("float32", "int8"),
        ("float32", "int16"),
        ("int8", "int8"),
        ("int8", "uint8"),
        ("int8", "int16"),
        ("int8", "int32"),
        ("uint8", "int8"),
        ("int16", "int8"),
        ("int16", "int16"),
        ("int16", "int32"),
        ("int32", "int8"),
        ("int32", "int16"),
    }
)

#: Input element types DEQUANTIZE supports (the output is float32).
DEQUANTIZE_INPUTS = ("int8", "uint8", "int16")

_QUANTIZED = ("int8", "uint8", "int16")


# --------------------------------------------------------------------------------------------
# Checks shared by the kernels


def _arity(node: Node, graph: Graph, inputs: tuple[int, int]) -> tuple[list[Tensor | None], Tensor]:
    """The node's inputs and its single output, after checking their number."""
    lo, hi = inputs
    if not lo <= len(node.inputs) <= hi:
        expected = str(lo) if lo == hi else f"{lo} to {hi}"
        raise node_error(node, f"takes {expected} inputs, got {len(node.inputs)}")
    if len(node.outputs) != 1:
        raise node_error(node, f"has 1 output, got {len(node.outputs)}")
    return graph.node_inputs(node), graph.tensor(node.outputs[0])


def _first(node: Node, tensors: Sequence[Tensor | None]) -> Tensor:
    if not tensors or tensors[0] is None:
        raise node_error(node, "missing input 0 (input)")
    return tensors[0]


def _moved_dtype(node: Node, inputs: Sequence[Tensor], output: Tensor) -> str:
    """The element type a data-movement node moves: supported, and the same everywhere."""
    dtype = output.dtype
    allowed = MOVED_TYPES[node.op]
    if dtype not in allowed:
        raise node_error(
            node, f"element type {dtype} is not supported (supported: {list(allowed)})"
        )
    for t in inputs:
        if t.dtype != dtype:
            raise node_error(
                node, f"input {t.name!r} is {t.dtype} but the output {output.name!r} is {dtype}"
            )
    return dtype


def _same_quantization(node: Node, inputs: Sequence[Tensor], output: Tensor) -> None:
    """Quantized data movement: every input must carry the output's quantization."""
    if output.dtype not in _QUANTIZED:
        return
    per_tensor(node, output, "output", symmetric_int16=True)
    for t in inputs:
        if t.quant != output.quant:
            raise node_error(
                node,
                f"input {t.name!r} and output {output.name!r} must have the same quantization "
                f"(got {None if t.quant is None else t.quant.to_dict()} and "
                f"{None if output.quant is None else output.quant.to_dict()})",
            )


def _declared(node: Node, output: Tensor, shape: Shape) -> None:
    """Raise when the declared output shape differs from the one the shape rule gives."""
    if output.shape != shape:
        raise node_error(
            node,
            f"output {output.name!r} is declared with shape {list(output.shape)}, "
            f"but the operands give {list(shape)}",
        )


def _data_movement(
    node: Node, graph: Graph, inputs: tuple[int, int], data_inputs: int = 1
) -> tuple[list[Tensor | None], Tensor, str]:
    """Arity, type and quantization checks of a data-movement node."""
    tensors, output = _arity(node, graph, inputs)
    moved = [t for t in tensors[:data_inputs] if t is not None]
    if len(moved) != data_inputs:
        raise node_error(node, "an input that carries data is omitted")
    dtype = _moved_dtype(node, moved, output)
    _same_quantization(node, moved, output)
    return tensors, output, dtype


# --------------------------------------------------------------------------------------------
# RESHAPE, SQUEEZE


@kernel("RESHAPE")
def prepare_reshape(node: Node, graph: Graph) -> Eval:
    """RESHAPE: the same elements in row-major order under the declared output shape."""
    tensors, output, _ = _data_movement(node, graph, (1, 2))
    x = _first(node, tensors)
    _declared(node, output, reshape_shape(node, graph)[0])
    if output.size != x.size:
        raise node_error(node, f"output has {output.size} elements, the input {x.size}")
    shape = output.shape

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.array(inputs[0]).reshape(shape)]

    return run


@kernel("SQUEEZE")
def prepare_squeeze(node: Node, graph: Graph) -> Eval:
    """SQUEEZE: drop size-1 dimensions."""
    _, output, _ = _data_movement(node, graph, (1, 1))
    shape = squeeze_shape(node, graph)[0]
    _declared(node, output, shape)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.array(inputs[0]).reshape(shape)]

    return run


# --------------------------------------------------------------------------------------------
# CONCATENATION


@kernel("CONCATENATION")
def prepare_concatenation(node: Node, graph: Graph) -> Eval:
    """CONCATENATION along ``axis``; quantized inputs must share the output's parameters."""
    count = max(len(node.inputs), 1)
    _, output, _ = _data_movement(node, graph, (1, count), data_inputs=count)
    activation = node.attrs.get("fused_activation", "NONE") or "NONE"
    if activation != "NONE":
        raise node_error(node, f"fused activation {activation} is not supported (only NONE)")
    shape = concatenation_shape(node, graph)[0]
    _declared(node, output, shape)
    axis = concat_axis(node, len(shape))

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.concatenate([np.asarray(x) for x in inputs], axis=axis)]

    return run


# --------------------------------------------------------------------------------------------
# PAD


@kernel("PAD")
def prepare_pad(node: Node, graph: Graph) -> Eval:
    """PAD with zeros: 0 for float32/int16/int32, the output zero point for int8."""
    tensors, output, dtype = _data_movement(node, graph, (2, 2))
    x = _first(node, tensors)
    paddings = pad_amounts(node, graph)
    shape = tuple(int(d + p.sum()) for d, p in zip(x.shape, paddings))
    _declared(node, output, shape)
    value: Any = 0
    if dtype == "int8":
        value = per_tensor(node, output, "output", symmetric_int16=True)[1]
    fill = np.full(shape, value, dtype=numpy_dtype(dtype))
    fill.setflags(write=False)
    window = tuple(slice(int(p[0]), int(p[0]) + d) for d, p in zip(x.shape, paddings))

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        out = fill.copy()
        out[window] = inputs[0]
        return [out]

    return run


# --------------------------------------------------------------------------------------------
# TRANSPOSE, STRIDED_SLICE


@kernel("TRANSPOSE")
def prepare_transpose(node: Node, graph: Graph) -> Eval:
    """TRANSPOSE: output axis ``i`` is input axis ``perm[i]``."""
    tensors, output, _ = _data_movement(node, graph, (2, 2))
    x = _first(node, tensors)
    perm = transpose_perm(node, graph)
    _declared(node, output, tuple(x.shape[p] for p in perm))

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.ascontiguousarray(np.transpose(np.asarray(inputs[0]), perm))]

    return run


@kernel("STRIDED_SLICE")
def prepare_strided_slice(node: Node, graph: Graph) -> Eval:
    """STRIDED_SLICE: a gather with flat indices computed in prepare."""
    tensors, output, _ = _data_movement(node, graph, (4, 4))
    x = _first(node, tensors)
    plan = strided_slice_plan(node, graph)
    _declared(node, output, plan.output_shape)
    flat = np.ravel_multi_index(np.ix_(*plan.indices), x.shape).reshape(plan.output_shape)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0]).reshape(-1)
        return [np.take(x, flat) if flat.ndim else x[flat.reshape(1)].reshape(())]

    return run


# --------------------------------------------------------------------------------------------
# QUANTIZE, DEQUANTIZE


def _table_eval(table: np.ndarray, offset: int) -> Eval:
    """An Eval that maps an 8- or 16-bit input through ``table`` (index = value - offset)."""

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0]).astype(np.int32)
        return [table[x - offset]]

    return run


def _input_range(dtype: str) -> np.ndarray:
    info = np.iinfo(numpy_dtype(dtype))
    return np.arange(int(info.min), int(info.max) + 1, dtype=np.int64)


def round_to_int32(values: np.ndarray) -> np.ndarray:
    """C's ``(int32_t)roundf(v)`` for float32 ``values``, as int64.

    Ties round away from zero. A rounded value outside the int32 range, and NaN, become
    ``INT32_MIN``: what the conversion instruction of x86-64 (where TFLite Micro's reference
    build runs) produces for the out-of-range conversion C leaves undefined.
    """
    v = np.asarray(values, dtype=np.float32).astype(np.float64)
    rounded = np.copysign(np.floor(np.abs(v) + 0.5), v)
    with np.errstate(invalid="ignore"):
        fits = (rounded >= INT32_MIN) & (rounded <= INT32_MAX)
    return np.where(fits, np.nan_to_num(rounded), INT32_MIN).astype(np.int64)


def affine_quantize(values: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """float32 ``values`` quantized as TFLite Micro does:
    ``clamp(roundf(v / scale) + zero_point)``, dividing in single precision."""
    with np.errstate(all="ignore"):
        quotient = np.asarray(values, dtype=np.float32) / np.float32(scale)
    q = wrap_int32(round_to_int32(quotient) + zero_point)
    info = np.iinfo(numpy_dtype(dtype))
    return np.clip(q, int(info.min), int(info.max)).astype(numpy_dtype(dtype))


def requantize(
    values: np.ndarray,
    multiplier: int,
    shift: int,
    in_zero_point: int,
    out_zero_point: int,
    dtype: str,
) -> np.ndarray:
    """Integer ``values`` requantized as TFLite Micro does: the input zero point is subtracted
    in int32, the quantized multiplier applied, the output zero point added, and the result
    saturated to ``dtype``."""
    centered = wrap_int32(np.asarray(values, dtype=np.int64) - in_zero_point)
    scaled = multiply_by_quantized_multiplier(centered, multiplier, shift)
    q = wrap_int32(scaled + out_zero_point)
    info = np.iinfo(numpy_dtype(dtype))
    return np.clip(q, int(info.min), int(info.max)).astype(numpy_dtype(dtype))


@kernel("QUANTIZE")
def prepare_quantize(node: Node, graph: Graph) -> Eval:
    """QUANTIZE: float32 to int8/int16, or requantization between integer types."""
    tensors, output = _arity(node, graph, (1, 1))
    x = _first(node, tensors)
    pair = (x.dtype, output.dtype)
    if pair not in QUANTIZE_PAIRS:
        raise node_error(
            node,
            f"{x.dtype} -> {output.dtype} is not supported "
            f"(supported: {sorted(f'{a}->{b}' for a, b in QUANTIZE_PAIRS)})",
        )
    _declared(node, output, same_shape(node, graph)[0])
    p = requantize_quant.quantize_params(node, graph)
    dtype = output.dtype
    if x.dtype == "float32":
        out_scale, out_zp = p.output_scale, p.output_zero_point

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [affine_quantize(np.asarray(inputs[0]), out_scale, out_zp, dtype)]

        return run

    assert p.multiplier is not None and p.shift is not None and p.input_zero_point is not None
    multiplier, shift = p.multiplier, p.shift
    in_zp, out_zp = p.input_zero_point, p.output_zero_point
    if x.dtype == "int32":

        def run_int32(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [requantize(np.asarray(inputs[0]), multiplier, shift, in_zp, out_zp, dtype)]

        return run_int32
    domain = _input_range(x.dtype)
    table = requantize(domain, multiplier, shift, in_zp, out_zp, dtype)
    return _table_eval(table, int(domain[0]))


@kernel("DEQUANTIZE")
def prepare_dequantize(node: Node, graph: Graph) -> Eval:
    """DEQUANTIZE: ``float32(scale) * float32(q - zero_point)``, one single-precision
    multiply."""
    tensors, output = _arity(node, graph, (1, 1))
    x = _first(node, tensors)
    if x.dtype not in DEQUANTIZE_INPUTS or output.dtype != "float32":
        raise node_error(
            node,
            f"{x.dtype} -> {output.dtype} is not supported "
            f"(supported: {[f'{t}->float32' for t in DEQUANTIZE_INPUTS]})",
        )
    _declared(node, output, same_shape(node, graph)[0])
    p = requantize_quant.dequantize_params(node, graph)
    domain = _input_range(x.dtype)
    table = dequantize(domain, p.scale, p.zero_point)
    return _table_eval(table, int(domain[0]))


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Quantized ``values`` as float32, computed as TFLite Micro does:
    ``float32(scale) * float32(q - zero_point)``."""
    centered = (np.asarray(values, dtype=np.int64) - zero_point).astype(np.float32)
    return (np.float32(scale) * centered).astype(np.float32)


__all__: list[str] = [
    "DEQUANTIZE_INPUTS",
    "MOVED_TYPES",
    "QUANTIZE_PAIRS",
    "affine_quantize",
    "dequantize",
    "requantize",
    "round_to_int32",
]
