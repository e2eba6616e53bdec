"""Each spec operator, and ``onnx.*`` extension nodes, as ONNX nodes of an :class:`Exporter`.

:func:`lowering_problem` says, without exporting anything, why a node cannot be lowered (the
backend's ``supports`` uses it); :func:`lower_node` adds the node's ONNX nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tinyabi.errors import GraphError
from tinyabi.ir import Graph, Node, numpy_dtype, pool_geometry, strided_slice_plan
from tinyabi.kernels import conv_window
from tinyabi_onnxruntime.export import Exporter, element_type, is_quantized
from tinyabi_onnxruntime.layout import (
    NCHW,
    Perm,
    axis_in,
    identity,
    moves_only_unit_axes,
    relative,
    remaining,
)

__all__ = ["LOWERINGS", "lower_node", "lowering_problem", "onnx_operator"]

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


def _activate(e: Exporter, node: Node, real: str) -> str:
    """``real`` after the node's fused activation."""
    act = node.attrs.get("fused_activation", "NONE")
    if act in (None, "NONE"):
        return real
    if act == "RELU":
        return e.emit("Relu", [real], f"{node.name}_relu")
    low, high = {"RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[act]
    return _clip(e, node, real, low, high, f"{node.name}_clip")


def _clip(e: Exporter, node: Node, real: str, low: int, high: int, base: str) -> str:
    """``Clip`` with bounds of the computed value's type (float unless the output is an
    unquantized integer)."""
    out = e.graph.tensor(node.outputs[0])
    dtype = np.float32 if is_quantized(out) else numpy_dtype(out.dtype)
    bounds = [e.constant(np.asarray(v, dtype=dtype), f"{node.name}_clip") for v in (low, high)]
    return e.emit("Clip", [real, *bounds], base)


def _finish(e: Exporter, node: Node, real: str, perm: Perm) -> None:
    e.write(node.outputs[0], _activate(e, node, real), perm)


def _conv(e: Exporter, node: Node) -> None:
    g = e.graph
    x, w = g.tensor(node.inputs[0] or ""), g.tensor(node.inputs[1] or "")
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    kh, kw = w.shape[1], w.shape[2]
    win = conv_window(node, x, kh, kw)
    # OHWI -> OIHW; a depthwise [1, H, W, C*m] filter -> [C*m, 1, H, W]
    w_perm = (3, 0, 1, 2) if depthwise else NCHW
    group = x.shape[3] if depthwise else x.shape[3] // w.shape[3]
    inputs = [e.real(node.inputs[0] or "", NCHW), e.real(node.inputs[1] or "", w_perm)]
    if len(node.inputs) > 2 and node.inputs[2]:
        inputs.append(e.real(node.inputs[2], (0,)))
    real = e.emit(
        "Conv",
        inputs,
        node.name,
        kernel_shape=[kh, kw],
        strides=[win.sh, win.sw],
        dilations=[win.dh, win.dw],
        pads=[win.top, win.left, win.bottom, win.right],
        group=group,
    )
    _finish(e, node, real, NCHW)


def _pool(e: Exporter, node: Node) -> None:
    geo = pool_geometry(node, e.graph)
    bottom = max(geo.span_h - geo.in_h - geo.pad_top, 0)
    right = max(geo.span_w - geo.in_w - geo.pad_left, 0)
    common: dict[str, Any] = {
        "kernel_shape": [geo.filter_h, geo.filter_w],
        "strides": [geo.stride_h, geo.stride_w],
        "pads": [geo.pad_top, geo.pad_left, bottom, right],
    }
    if node.op == "AVERAGE_POOL_2D":
        common["count_include_pad"] = 0  # TFLite averages over the cells inside the input
    op = "AveragePool" if node.op == "AVERAGE_POOL_2D" else "MaxPool"
    real = e.emit(op, [e.real(node.inputs[0] or "", NCHW)], node.name, **common)
    _finish(e, node, real, NCHW)


def _fully_connected(e: Exporter, node: Node) -> None:
    g = e.graph
    x, w = g.tensor(node.inputs[0] or ""), g.tensor(node.inputs[1] or "")
    out = g.tensor(node.outputs[0])
    k = w.shape[1]
    real = e.real(x.name, identity(len(x.shape)))
    if len(x.shape) != 2 or x.shape[-1] != k:
        real = e.emit("Reshape", [real, e.ints([-1, k], "shape")], f"{node.name}_rows")
    inputs = [real, e.real(w.name, (0, 1))]
    if len(node.inputs) > 2 and node.inputs[2]:
        inputs.append(e.real(node.inputs[2], (0,)))
    result = _activate(e, node, e.emit("Gemm", inputs, node.name, transB=1))
    if len(out.shape) != 2:
        result = e.emit("Reshape", [result, e.ints(out.shape, "shape")], f"{node.name}_shape")
    e.write(out.name, result, identity(len(out.shape)))


def _common_perm(e: Exporter, node: Node) -> Perm:
    """The perm an elementwise node computes in: that of its first computed operand of the
    output's rank, unless another computed operand is broadcast from a lower rank."""
    g = e.graph
    rank = len(g.tensor(node.outputs[0]).shape)
    computed = [n for n in node.inputs if n and g.tensor(n).data is None]
    if any(len(g.tensor(n).shape) != rank for n in computed):
        return identity(rank)
    return e.perm_of(computed[0]) if computed else identity(rank)


def _operand(e: Exporter, name: str, perm: Perm) -> str:
    """An elementwise operand in ``perm``; a constant of lower rank is broadcast to it first."""
    t = e.graph.tensor(name)
    rank = len(perm)
    if len(t.shape) == rank:
        return e.real(name, perm)
    if perm == identity(rank):  # ONNX broadcasts like numpy, as the spec does
        return e.real(name, identity(len(t.shape)))
    shape = (1,) * (rank - len(t.shape)) + tuple(t.shape)
    if not is_quantized(t):
        return e.constant(np.asarray(t.data).reshape(shape).transpose(perm), name)
    real = e.real(name, identity(len(t.shape)))
    real = e.emit("Reshape", [real, e.ints(shape, "shape")], f"{name}_rank")
    if perm == identity(rank):
        return real
    return e.emit("Transpose", [real], f"{name}_t", perm=list(perm))


_BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul"}
_UNARY = {"RELU": "Relu", "LOGISTIC": "Sigmoid", "TANH": "Tanh"}


def _binary(e: Exporter, node: Node) -> None:
    perm = _common_perm(e, node)
    a, b = (_operand(e, n or "", perm) for n in node.inputs[:2])
    _finish(e, node, e.emit(_BINARY[node.op], [a, b], node.name), perm)


def _unary(e: Exporter, node: Node) -> None:
    perm = e.perm_of(node.inputs[0] or "")
    x = e.real(node.inputs[0] or "", perm)
    if node.op == "RELU6":
        real = _clip(e, node, x, 0, 6, node.name)
    elif node.op == "HARD_SWISH":
        # x * relu6(x + 3) / 6 as HardSigmoid, which every opset the importer reads has
        gate = e.emit("HardSigmoid", [x], f"{node.name}_gate", alpha=1.0 / 6.0, beta=0.5)
        real = e.emit("Mul", [x, gate], node.name)
    elif node.op == "LEAKY_RELU":
        real = e.emit("LeakyRelu", [x], node.name, alpha=float(node.attrs["alpha"]))
    else:
        real = e.emit(_UNARY[node.op], [x], node.name)
    _finish(e, node, real, perm)


def _softmax(e: Exporter, node: Node) -> None:
    perm = e.perm_of(node.inputs[0] or "")
    x = e.real(node.inputs[0] or "", perm)
    beta = float(node.attrs.get("beta", 1.0))
    if beta != 1.0:
        x = e.emit("Mul", [x, e.constant(np.float32(beta), "beta")], f"{node.name}_beta")
    real = e.emit("Softmax", [x], node.name, axis=axis_in(perm, len(perm) - 1))
    _finish(e, node, real, perm)


def _constant_ints(e: Exporter, node: Node, index: int) -> list[int]:
    name = node.inputs[index] if index < len(node.inputs) else None
    t = e.graph.tensor(name) if name else None
    if t is None or t.data is None:
        raise GraphError(f"{node.describe()}: operand {index} must be constant")
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def _mean(e: Exporter, node: Node) -> None:
    perm = e.perm_of(node.inputs[0] or "")
    rank = len(perm)
    axes = sorted({a % rank for a in _constant_ints(e, node, 1)})
    held_axes = [axis_in(perm, a) for a in axes]
    keep = bool(node.attrs.get("keep_dims", False))
    x = e.real(node.inputs[0] or "", perm)
    if e.opsets[""] >= 18:
        real = e.emit("ReduceMean", [x, e.ints(held_axes, "axes")], node.name, keepdims=int(keep))
    else:
        real = e.emit("ReduceMean", [x], node.name, axes=held_axes, keepdims=int(keep))
    _finish(e, node, real, perm if keep else remaining(perm, axes))


def _concatenation(e: Exporter, node: Node) -> None:
    first = node.inputs[0] or ""
    perm = (
        e.perm_of(first)
        if e.graph.tensor(first).data is None
        else identity(len(e.graph.tensor(first).shape))
    )
    parts = [e.real(n or "", perm) for n in node.inputs]
    axis = axis_in(perm, int(node.attrs.get("axis", 0)))
    _finish(e, node, e.emit("Concat", parts, node.name, axis=axis), perm)


def _pad(e: Exporter, node: Node) -> None:
    perm = e.perm_of(node.inputs[0] or "")
    pads = np.asarray(_constant_ints(e, node, 1)).reshape(len(perm), 2)
    held = [int(pads[a][0]) for a in perm] + [int(pads[a][1]) for a in perm]
    x = e.real(node.inputs[0] or "", perm)
    real = e.emit("Pad", [x, e.ints(held, "pads")], node.name, mode="constant")
    _finish(e, node, real, perm)


def _reshape(e: Exporter, node: Node) -> None:
    name = node.inputs[0] or ""
    x = e.graph.tensor(name)
    out = e.graph.tensor(node.outputs[0])
    perm = e.perm_of(name)
    if not moves_only_unit_axes(perm, x.shape):
        perm = identity(len(x.shape))
    real = e.emit("Reshape", [e.real(name, perm), e.ints(out.shape, "shape")], node.name)
    e.write(out.name, real, identity(len(out.shape)))


def _transpose(e: Exporter, node: Node) -> None:
    g = e.graph
    name = node.inputs[0] or ""
    x, out = g.tensor(name), g.tensor(node.outputs[0])
    axes = tuple(a % len(x.shape) for a in _constant_ints(e, node, 1))
    if x.dtype == out.dtype and x.quant == out.quant:
        # No data moves: the output is the input read through another perm.
        held = e.perm_of(name)
        e.alias(out.name, e.value(name, held), relative(axes, held))
        return
    real = e.emit("Transpose", [e.real(name, identity(len(axes)))], node.name, perm=list(axes))
    e.write(out.name, real, identity(len(axes)))


def _strided_slice(e: Exporter, node: Node) -> None:
    g = e.graph
    name = node.inputs[0] or ""
    x, out = g.tensor(name), g.tensor(node.outputs[0])
    strides = _constant_ints(e, node, 3)
    # The spec's own resolution of begin/end/masks, so the export cannot read them otherwise.
    plan = strided_slice_plan(node, g)
    starts, ends, steps = [], [], []
    for picked, shrunk, stride in zip(plan.indices, plan.shrink, strides):
        step = 1 if shrunk else int(stride)
        first, last = int(picked[0]), int(picked[-1])
        stop = last + 1 if step > 0 else last - 1
        starts.append(first)
        ends.append(stop if stop >= 0 else _INT64_MIN)  # -1 would count from the end
        steps.append(step)
    axes = list(range(len(starts)))
    rank = len(x.shape)
    real = e.emit(
        "Slice",
        [
            e.real(name, identity(rank)),
            e.ints(starts, "starts"),
            e.ints(ends, "ends"),
            e.ints(axes, "axes"),
            e.ints(steps, "steps"),
        ],
        node.name,
    )
    real = e.emit("Reshape", [real, e.ints(out.shape, "shape")], f"{node.name}_shape")
    e.write(out.name, real, identity(len(out.shape)))


def _convert(e: Exporter, node: Node) -> None:
    """QUANTIZE and DEQUANTIZE: the real value passes through; reading dequantizes the input
    and writing quantizes the output as their tensors say."""
    name = node.inputs[0] or ""
    perm = e.perm_of(name)
    e.write(node.outputs[0], e.real(name, perm), perm)


LOWERINGS: dict[str, Callable[[Exporter, Node], None]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "FULLY_CONNECTED": _fully_connected,
    **dict.fromkeys(_BINARY, _binary),
    **dict.fromkeys([*_UNARY, "RELU6", "LEAKY_RELU", "HARD_SWISH"], _unary),
    "SOFTMAX": _softmax,
    "MEAN": _mean,
    "CONCATENATION": _concatenation,
    "PAD": _pad,
    "RESHAPE": _reshape,
    "SQUEEZE": _reshape,
    "TRANSPOSE": _transpose,
    "STRIDED_SLICE": _strided_slice,
    "QUANTIZE": _convert,
    "DEQUANTIZE": _convert,
}

#: Operands that must be constant, by operator (index of the operand).
_CONSTANT_OPERANDS = {"MEAN": (1,), "PAD": (1,), "TRANSPOSE": (1,), "STRIDED_SLICE": (1, 2, 3)}


def onnx_operator(node: Node) -> tuple[str, str]:
    """``(domain, op_type)`` of an ``onnx.*`` extension node (``""`` is ONNX's own domain)."""
    rest = node.op[len("onnx.") :]
    domain, _, op_type = rest.rpartition(".")
    return domain, op_type


def lowering_problem(node: Node, graph: Graph) -> str | None:
    """Why ``node`` cannot become ONNX nodes, or ``None`` when it can. Never changes the
    node."""
    for name in [*node.inputs, *node.outputs]:
        if not name:
            continue
        t = graph.tensors.get(name)
        if t is None:
            return f"tensor {name!r} is not in the graph"
        if t.variable or t.scratch:
            return f"{name!r} is state kept between runs, which an ONNX model does not keep"
        if (
            is_quantized(t)
            and t.dtype not in ("int8", "uint8")
            and (t.dtype != "int32" or t.data is None)
        ):
            # onnxruntime's QuantizeLinear writes int8 and uint8 (int32 only as constant biases)
            return f"{name!r} is quantized {t.dtype}, which is not exported"
        try:
            element_type(t.dtype)
        except GraphError as exc:
            return str(exc)
    if node.is_extension:
        if not node.op.startswith("onnx."):
            return f"{node.op} is not an ONNX operator"
        domain, _ = onnx_operator(node)
        if domain:
            return f"{node.op} is outside ONNX's default domain"
        if any(isinstance(v, bytes) or (isinstance(v, list) and v and isinstance(v[0], bytes))
               for v in node.attrs.values()):  # fmt: skip
            # A subgraph reads outer values by their names in the original model, which the
            # exported model does not keep.
            return f"{node.op} has subgraph attributes, which are not exported"
        return None
    if node.op not in LOWERINGS:
        return f"{node.op} has no ONNX lowering in this backend"
    for index in _CONSTANT_OPERANDS.get(node.op, ()):
        name = node.inputs[index] if index < len(node.inputs) else None
        if not name or graph.tensor(name).data is None:
            return f"{node.op} needs a constant operand {index}"
    if node.op == "STRIDED_SLICE":
        attrs = node.attrs
        if attrs.get("ellipsis_mask") or attrs.get("new_axis_mask") or attrs.get("offset"):
            return "STRIDED_SLICE with ellipsis_mask, new_axis_mask or offset is not exported"
    return None


def _attribute(node: Node, name: str, value: Any) -> onnx.AttributeProto:
    """An ONNX attribute from the plain value the importer kept (numbers, strings, arrays and
    lists of them); :class:`GraphError` naming it when it has no ONNX form."""
    try:
        if isinstance(value, np.ndarray):
            return helper.make_attribute(name, numpy_helper.from_array(value))
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            return helper.make_attribute(name, [numpy_helper.from_array(v) for v in value])
        return helper.make_attribute(name, value)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"{node.describe()}: attribute {name!r} has no ONNX form: {exc}") from None


def _extension(e: Exporter, node: Node) -> None:
    domain, op_type = onnx_operator(node)
    g = e.graph
    inputs = [e.value(n, identity(len(g.tensor(n).shape))) if n else "" for n in node.inputs]
    outputs = [e.fresh(n) for n in node.outputs]
    proto = helper.make_node(op_type, inputs, outputs, name=node.name, domain=domain)
    for key, value in node.attrs.items():
        if isinstance(value, list) and not value:
            continue  # an empty list has no type left; ONNX reads it as absent
        proto.attribute.append(_attribute(node, key, value))
    e.nodes.append(proto)
    for name, out in zip(node.outputs, outputs):
        e.alias(name, out, identity(len(g.tensor(name).shape)))


def lower_node(e: Exporter, node: Node) -> None:
    """Add ``node``'s ONNX nodes to ``e``; :class:`GraphError` when it cannot be lowered."""
    problem = lowering_problem(node, e.graph)
    if problem:
        raise GraphError(f"{node.describe()}: {problem}")
    if node.is_extension:
        _extension(e, node)
    else:
        LOWERINGS[node.op](e, node)
