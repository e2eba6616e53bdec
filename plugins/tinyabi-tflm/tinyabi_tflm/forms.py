"""One-node models of TFLite operators outside the spec (``tflite.ABS``...), by *form*.

A form is the operand layout a family of operators shares (``unary``, ``compare``, ``lstm``...);
``capabilities.yaml`` names each operator's form. :func:`extension_model` builds the operator
under a type key (``"int8"``, or ``"float32->int32"`` when the output type differs), so the
survey can ask a runtime which keys it runs. Spec operators have forms too (``conv``...), for
the types a runtime runs beyond the spec's signatures; the signal library's custom operators
have theirs in :mod:`tinyabi_tflm.signal_forms`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyabi.ir import Graph, GraphBuilder, Quantization
from tinyabi.quantization.conv import bias_scales
from tinyabi.spec import load_spec
from tinyabi_tflm.signal_forms import SIGNAL_FORMS
from tinyabi_tflm.singleop import (
    FIXED_OUTPUT,
    SHAPE,
    TYPE_CODES,
    Typed,
    act_quant,
    bias_const,
    input_tensor,
    int32_const,
    output_tensor,
    scale_of,
    split_key,
    weights_const,
)


def extension_model(op: str, form: str, key: str) -> Graph | None:
    """A model of one ``tflite.<op>`` node laid out as ``form`` with types ``key``, or
    ``None`` when the form cannot take those types (e.g. a comparison whose output is not
    bool)."""
    source, target = split_key(key)
    if source not in TYPE_CODES or target not in TYPE_CODES:
        return None
    b = GraphBuilder(f"{op.lower().replace('.', '_')}_{key.replace('->', '_to_')}")
    if form in SIGNAL_FORMS:  # signal tensors are plain integers, never quantized
        SIGNAL_FORMS[form][0](b, f"tflite.{op}", (source, None), (target, None))
        return b.build(outputs=["output"])
    builder = _FORMS[form]
    node_op = op if op in load_spec().operators else f"tflite.{op}"
    source_q = act_quant(source) if source in ("int8", "uint8", "int16") else None
    target_q = FIXED_OUTPUT.get((op, target)) or (
        act_quant(target) if target in ("int8", "uint8", "int16") else None
    )
    built = builder(b, node_op, (source, source_q), (target, target_q))
    if built is False:
        return None
    return b.build(outputs=["output"])


def _options(kind: str, **fields: Any) -> dict[str, Any]:
    return {"options_type": kind, "options": {"__class__": f"{kind}T", **fields}}


FormBuilder = Callable[[GraphBuilder, str, Typed, Typed], bool | None]


def _form_unary(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    b.node(op, [input_tensor(b, "input", x, SHAPE)], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_binary(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    x1, x2 = input_tensor(b, "input1", x, SHAPE), input_tensor(b, "input2", x, SHAPE)
    b.node(op, [x1, x2], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_compare(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    if y[0] != "bool":
        return False
    return _form_binary(b, op, x, y)


def _form_reduce(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    axis = int32_const(b, "axis", [1, 2])
    options = _options("ReducerOptions", keepDims=True)
    b.node(op, [xs, axis], [output_tensor(b, "output", y, (1, 1, 1, 2))], **options)
    return None


def _form_arg(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    if y[0] not in ("int32", "int64"):
        return False
    xs = input_tensor(b, "input", x, SHAPE)
    axis = int32_const(b, "axis", [3])
    kind = "ArgMaxOptions" if op.endswith("MAX") else "ArgMinOptions"
    options = _options(kind, outputType=TYPE_CODES[y[0]])
    b.node(op, [xs, axis], [output_tensor(b, "output", (y[0], None), (1, 4, 4))], **options)
    return None


def _form_cast(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", (x[0], None), SHAPE)
    options = _options("CastOptions", inDataType=TYPE_CODES[x[0]], outDataType=TYPE_CODES[y[0]])
    b.node(op, [xs], [output_tensor(b, "output", (y[0], None), SHAPE)], **options)
    return None


def _form_shape(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    if y[0] not in ("int32", "int64"):
        return False
    xs = input_tensor(b, "input", x, SHAPE)
    options = _options("ShapeOptions", outType=TYPE_CODES[y[0]])
    b.node(op, [xs], [output_tensor(b, "output", (y[0], None), (4,))], **options)
    return None


def _form_expand_dims(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    axis = int32_const(b, "axis", [0])
    b.node(op, [xs, axis], [output_tensor(b, "output", y, (1, *SHAPE))])
    return None


def _form_gather(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (5, 3))
    indices = int32_const(b, "indices", [4, 0, 2])
    options = _options("GatherOptions", axis=0, batchDims=0)
    b.node(op, [xs, indices], [output_tensor(b, "output", y, (3, 3))], **options)
    return None


def _form_slice(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    begin, size = int32_const(b, "begin", [0, 1, 1, 0]), int32_const(b, "size", [1, 2, 3, 2])
    b.node(op, [xs, begin, size], [output_tensor(b, "output", y, (1, 2, 3, 2))])
    return None


def _form_tile(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    multiples = int32_const(b, "multiples", [1, 2, 1, 1])
    b.node(op, [xs, multiples], [output_tensor(b, "output", y, (1, 8, 4, 2))])
    return None


def _form_split(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    axis = b.const("axis", np.array(3, np.int32))
    xs = input_tensor(b, "input", x, SHAPE)
    first, second = (
        output_tensor(b, "output", y, (1, 4, 4, 1)),
        output_tensor(b, "second", y, (1, 4, 4, 1)),
    )
    b.node(op, [axis, xs], [first, second], **_options("SplitOptions", numSplits=2))
    return None


def _form_split_v(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    sizes, axis = int32_const(b, "sizes", [1, 3]), b.const("axis", np.array(1, np.int32))
    first, second = (
        output_tensor(b, "output", y, (1, 1, 4, 2)),
        output_tensor(b, "second", y, (1, 3, 4, 2)),
    )
    b.node(op, [xs, sizes, axis], [first, second], **_options("SplitVOptions", numSplits=2))
    return None


def _form_pack(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    x1, x2 = input_tensor(b, "input1", x, (4, 2)), input_tensor(b, "input2", x, (4, 2))
    options = _options("PackOptions", valuesCount=2, axis=0)
    b.node(op, [x1, x2], [output_tensor(b, "output", y, (2, 4, 2))], **options)
    return None


def _form_unpack(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (2, 4, 2))
    first, second = output_tensor(b, "output", y, (4, 2)), output_tensor(b, "second", y, (4, 2))
    b.node(op, [xs], [first, second], **_options("UnpackOptions", num=2, axis=0))
    return None


def _form_depth_to_space(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (1, 2, 2, 8))
    options = _options("DepthToSpaceOptions", blockSize=2)
    b.node(op, [xs], [output_tensor(b, "output", y, (1, 4, 4, 2))], **options)
    return None


def _form_space_to_depth(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    options = _options("SpaceToDepthOptions", blockSize=2)
    b.node(op, [xs], [output_tensor(b, "output", y, (1, 2, 2, 8))], **options)
    return None


def _form_resize(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    size = int32_const(b, "size", [8, 8])
    kind = "ResizeBilinearOptions" if "BILINEAR" in op else "ResizeNearestNeighborOptions"
    b.node(op, [xs, size], [output_tensor(b, "output", y, (1, 8, 8, 2))], **_options(kind))
    return None


def _form_mirror_pad(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    paddings = int32_const(b, "paddings", [[0, 0], [1, 1], [1, 1], [0, 0]])
    options = _options("MirrorPadOptions", mode=0)
    b.node(op, [xs, paddings], [output_tensor(b, "output", y, (1, 6, 6, 2))], **options)
    return None


def _form_padv2(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    paddings = int32_const(b, "paddings", [[0, 0], [1, 1], [1, 1], [0, 0]])
    zero_point = x[1][1] if isinstance(x[1], tuple) else 0
    value = b.const("value", np.array([zero_point]).astype(x[0]), quant=x[1])
    y_name = output_tensor(b, "output", y, (1, 6, 6, 2))
    b.node(op, [xs, paddings, value], [y_name], **_options("PadV2Options"))
    return None


def _form_batch_matmul(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    x1, x2 = input_tensor(b, "input1", x, (1, 2, 3)), input_tensor(b, "input2", x, (1, 3, 4))
    b.node(
        op, [x1, x2], [output_tensor(b, "output", y, (1, 2, 4))], **_options("BatchMatMulOptions")
    )
    return None


def _form_pool(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    options = _options(
        "Pool2DOptions", padding=1, strideW=2, strideH=2, filterWidth=2, filterHeight=2
    )
    b.node(op, [xs], [output_tensor(b, "output", y, (1, 2, 2, 2))], **options)
    return None


def _form_logical(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    if x[0] != "bool":
        return False
    return _form_binary(b, op, x, y)


def _form_prelu(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    data = np.full((1, 1, 2), 0.25 if x[0] == "float32" else 5).astype(x[0])
    alpha = b.const("alpha", data, quant=x[1])
    b.node(op, [xs, alpha], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_select(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    condition = input_tensor(b, "condition", ("bool", None), SHAPE)
    x1, x2 = input_tensor(b, "input1", x, SHAPE), input_tensor(b, "input2", x, SHAPE)
    b.node(op, [condition, x1, x2], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_transpose_conv(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    shape = int32_const(b, "output_shape", [1, 8, 8, 3])
    weight_type = "int8" if x[0] in ("int8", "int16") else x[0]
    w, wq = weights_const(b, (weight_type, None), (3, 2, 2, 2), 0)
    xs = input_tensor(b, "input", x, SHAPE)
    inputs: list[str | None] = [shape, w, xs]
    if x[0] in ("int8", "int16", "float32"):
        inputs.append(_wide_bias(b, x, 3, wq))
    options = _options("TransposeConvOptions", padding=1, strideW=2, strideH=2)
    b.node(op, inputs, [output_tensor(b, "output", y, (1, 8, 8, 3))], **options)
    return None


def _form_svdf(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    batch, size, units, memory = 1, 8, 4, 3
    rng = np.random.default_rng(2)
    xs = input_tensor(b, "input", x, (batch, size))
    state_shape = (batch, memory * units)
    if x[0] == "int8":
        feature = b.const(
            "weights_feature", rng.integers(-127, 128, (units, size)).astype(np.int8), (0.01, 0)
        )
        time = b.const(
            "weights_time", rng.integers(-1000, 1000, (units, memory)).astype(np.int16), (0.001, 0)
        )
        bias = b.const("bias", np.zeros(units, np.int32), (0.004 * 0.001, 0))
        state = b.const("state", np.zeros(state_shape, np.int16), (0.004, 0))
    else:
        feature = b.const("weights_feature", rng.uniform(-1, 1, (units, size)).astype(x[0]))
        time = b.const("weights_time", rng.uniform(-1, 1, (units, memory)).astype(x[0]))
        bias = b.const("bias", np.zeros(units, x[0]))
        state = b.const("state", np.zeros(state_shape, x[0]))
    # int8 SVDF: LiteRT only implements it with a fused RELU.
    options = _options("SVDFOptions", rank=1, fusedActivationFunction=int(x[0] == "int8"))
    b.node(
        op,
        [xs, feature, time, bias, state],
        [output_tensor(b, "output", y, (batch, units))],
        **options,
    )
    return None


def _form_lstm(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    batch, steps, n_input, n_cell = 1, 3, 4, 2
    rng = np.random.default_rng(3)
    xs = input_tensor(b, "input", x, (batch, steps, n_input))
    quantized = x[0] == "int8"

    def weights(name: str, shape: tuple[int, int]) -> str:
        if quantized:
            data = rng.integers(-127, 128, shape).astype(np.int8)
            return b.const(name, data, (0.01, 0))
        return b.const(name, rng.uniform(-1, 1, shape).astype(x[0]))

    def bias(name: str) -> str:
        if quantized:
            return b.const(name, np.zeros(n_cell, np.int32), (0.0005, 0))
        return b.const(name, np.zeros(n_cell, x[0]))

    gates = ("input", "forget", "cell", "output")
    to_input = [weights(f"input_to_{g}", (n_cell, n_input)) for g in gates]
    recurrent = [weights(f"recurrent_to_{g}", (n_cell, n_cell)) for g in gates]
    biases = [bias(f"{g}_bias") for g in gates]
    state_shape = (batch, n_cell)
    if quantized:
        y = (y[0], (0.05, 0))
        output_state = b.const("output_state", np.zeros(state_shape, np.int8), y[1])
        cell_state = b.const("cell_state", np.zeros(state_shape, np.int16), (2**-11, 0))
    else:
        output_state = b.const("output_state", np.zeros(state_shape, x[0]))
        cell_state = b.const("cell_state", np.zeros(state_shape, x[0]))
    inputs: list[str | None] = [
        xs,
        *to_input,
        *recurrent,
        None,
        None,
        None,
        *biases,
        None,
        None,
        output_state,
        cell_state,
        None,
        None,
        None,
        None,
    ]
    options = _options("UnidirectionalSequenceLSTMOptions", fusedActivationFunction=4)
    y_shape = (batch, steps, n_cell)
    b.node(op, inputs, [output_tensor(b, "output", y, y_shape)], **options)
    return None


def _form_fill(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    dims = int32_const(b, "dims", [1, 4, 4, 2])
    value = input_tensor(b, "value", x, ())
    b.node(op, [dims, value], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_broadcast_to(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (1, 1, 4, 2))
    shape = int32_const(b, "shape", [1, 4, 4, 2])
    b.node(op, [xs, shape], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_broadcast_args(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    if x[0] not in ("int32", "int64"):
        return False
    s1, s2 = input_tensor(b, "input1", x, (3,)), input_tensor(b, "input2", x, (3,))
    b.node(op, [s1, s2], [output_tensor(b, "output", y, (3,))])
    return None


def _form_cumsum(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    axis = b.const("axis", np.array(2, np.int32))
    options = _options("CumsumOptions", exclusive=False, reverse=False)
    b.node(op, [xs, axis], [output_tensor(b, "output", y, SHAPE)], **options)
    return None


def _form_gather_nd(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (5, 3))
    indices = int32_const(b, "indices", [[4], [0], [2]])
    b.node(op, [xs, indices], [output_tensor(b, "output", y, (3, 3))])
    return None


def _form_reverse(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    axis = int32_const(b, "axis", [1])
    b.node(op, [xs, axis], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_space_to_batch(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    block, pads = int32_const(b, "block", [2, 2]), int32_const(b, "paddings", [[0, 0], [0, 0]])
    b.node(op, [xs, block, pads], [output_tensor(b, "output", y, (4, 2, 2, 2))])
    return None


def _form_batch_to_space(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (4, 2, 2, 2))
    block, crops = int32_const(b, "block", [2, 2]), int32_const(b, "crops", [[0, 0], [0, 0]])
    b.node(op, [xs, block, crops], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_dynamic_update_slice(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, SHAPE)
    update = input_tensor(b, "update", x, (1, 2, 2, 2))
    start = int32_const(b, "start", [0, 1, 1, 0])
    b.node(op, [xs, update, start], [output_tensor(b, "output", y, SHAPE)])
    return None


def _form_embedding_lookup(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    ids = int32_const(b, "ids", [2, 0])
    table = input_tensor(b, "table", x, (3, 4))
    b.node(op, [ids, table], [output_tensor(b, "output", y, (2, 4))])
    return None


def _form_reshape(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    """RESHAPE of plain (unquantized) tensors, as signal front ends use it on int16 samples."""
    xs = input_tensor(b, "input", (x[0], None), SHAPE)
    shape = int32_const(b, "shape", [1, 32])
    b.node(op, [xs, shape], [output_tensor(b, "output", (y[0], None), (1, 32))])
    return None


def _form_conv(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    """CONV_2D / DEPTHWISE_CONV_2D with integer activations of any width and int8 weights
    (int64 bias for int16, as in TFLite's 16x8 models), or float."""
    depthwise = op == "DEPTHWISE_CONV_2D"
    xs = input_tensor(b, "input", x, SHAPE)
    shape, axis = ((1, 2, 2, 2), 3) if depthwise else ((3, 2, 2, 2), 0)
    w, wq = weights_const(b, ("float32" if x[0] == "float32" else "int8", None), shape, axis)
    channels = shape[axis]
    bias = _wide_bias(b, x, channels, wq)
    attrs: dict[str, Any] = {"padding": "VALID", "stride_h": 1, "stride_w": 1}
    if depthwise:
        attrs["depth_multiplier"] = 1
    b.node(op, [xs, w, bias], [output_tensor(b, "output", y, (1, 3, 3, channels))], **attrs)
    return None


def _form_fully_connected(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", x, (1, 8))
    w, wq = weights_const(b, ("float32" if x[0] == "float32" else "int8", None), (3, 8), 0)
    bias = _wide_bias(b, x, 3, wq)
    b.node(op, [xs, w, bias], [output_tensor(b, "output", y, (1, 3))])
    return None


def _wide_bias(b: GraphBuilder, x: Typed, n: int, wq: Quantization | None) -> str:
    if x[0] == "float32":
        return bias_const(b, ("float32", None), n, 1.0, None)
    if x[0] == "int16":
        assert wq is not None
        q = Quantization(bias_scales(scale_of(x), wq.scale), np.zeros(n, np.int64))
        return b.const("bias", np.arange(n, dtype=np.int64) * 10, q)
    return bias_const(b, ("int32", None), n, scale_of(x), wq)


#: Operand layouts by form name (the ``form`` of each extension operator in capabilities.yaml).
_FORMS: dict[str, FormBuilder] = {
    "unary": _form_unary,
    "binary": _form_binary,
    "compare": _form_compare,
    "logical": _form_logical,
    "reduce": _form_reduce,
    "arg": _form_arg,
    "cast": _form_cast,
    "shape": _form_shape,
    "expand_dims": _form_expand_dims,
    "gather": _form_gather,
    "slice": _form_slice,
    "tile": _form_tile,
    "split": _form_split,
    "split_v": _form_split_v,
    "pack": _form_pack,
    "unpack": _form_unpack,
    "depth_to_space": _form_depth_to_space,
    "space_to_depth": _form_space_to_depth,
    "resize": _form_resize,
    "mirror_pad": _form_mirror_pad,
    "padv2": _form_padv2,
    "batch_matmul": _form_batch_matmul,
    "pool": _form_pool,
    "prelu": _form_prelu,
    "select": _form_select,
    "transpose_conv": _form_transpose_conv,
    "svdf": _form_svdf,
    "lstm": _form_lstm,
    "fill": _form_fill,
    "broadcast_to": _form_broadcast_to,
    "broadcast_args": _form_broadcast_args,
    "cumsum": _form_cumsum,
    "gather_nd": _form_gather_nd,
    "reverse": _form_reverse,
    "space_to_batch": _form_space_to_batch,
    "batch_to_space": _form_batch_to_space,
    "dynamic_update_slice": _form_dynamic_update_slice,
    "embedding_lookup": _form_embedding_lookup,
    "conv": _form_conv,
    "reshape": _form_reshape,
    "fully_connected": _form_fully_connected,
}

#: The form names :func:`extension_model` knows.
FORMS = (*_FORMS, *SIGNAL_FORMS)
