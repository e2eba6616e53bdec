"""One-node models of TFLite operators outside the spec (``tflite.ABS``...), by *form*.

A form is the operand layout a family of operators shares (``unary``, ``compare``, ``lstm``...);
``capabilities.yaml`` names each operator's form. :func:`extension_model` builds the operator
under a type key (``"int8"``, or ``"float32->int32"`` when the output type differs), so the
survey can ask a runtime which keys it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyabi.ir import Graph, GraphBuilder
from tinyabi.tflite.schema import TENSOR_TYPE_CODES
from tinyabi_tflm.singleop import (
    FIXED_OUTPUT,
    SHAPE,
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
    if source not in TENSOR_TYPE_CODES or target not in TENSOR_TYPE_CODES:
        return None
    builder = _FORMS[form]
    b = GraphBuilder(f"{op.lower()}_{key.replace('->', '_to_')}")
    node_op = f"tflite.{op}"
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
    options = _options(kind, outputType=TENSOR_TYPE_CODES[y[0]])
    b.node(op, [xs, axis], [output_tensor(b, "output", (y[0], None), (1, 4, 4))], **options)
    return None


def _form_cast(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    xs = input_tensor(b, "input", (x[0], None), SHAPE)
    options = _options(
        "CastOptions", inDataType=TENSOR_TYPE_CODES[x[0]], outDataType=TENSOR_TYPE_CODES[y[0]]
    )
    b.node(op, [xs], [output_tensor(b, "output", (y[0], None), SHAPE)], **options)
    return None


def _form_shape(b: GraphBuilder, op: str, x: Typed, y: Typed) -> bool | None:
    if y[0] not in ("int32", "int64"):
        return False
    xs = input_tensor(b, "input", x, SHAPE)
    options = _options("ShapeOptions", outType=TENSOR_TYPE_CODES[y[0]])
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
    w, wq = weights_const(b, ("int8" if x[0] == "int8" else x[0], None), (3, 2, 2, 2), 0)
    xs = input_tensor(b, "input", x, SHAPE)
    inputs: list[str | None] = [shape, w, xs]
    if x[0] in ("int8", "float32"):
        inputs.append(
            bias_const(b, ("int32" if x[0] == "int8" else "float32", None), 3, scale_of(x), wq)
        )
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
}

#: The form names :func:`extension_model` knows.
FORMS = tuple(_FORMS)
