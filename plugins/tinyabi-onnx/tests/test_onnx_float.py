"""Float ONNX models imported to float32 spec operators and run on the reference backend,
against onnxruntime's own run of the same model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_models import make_model, op_zoo, run_onnxruntime, single_op, small_cnn
from tinyabi_onnx import load_onnx

import tinyabi

#: The spec's float32 tolerance of CONV_2D and FULLY_CONNECTED, the loosest in the models here.
ATOL, RTOL = 1e-5, 1e-4


def nhwc(x: np.ndarray) -> np.ndarray:
    """An NCHW array as the NHWC array the imported graph takes."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def run_both(model: onnx.ModelProto, inputs: list[np.ndarray]) -> tuple[list, list, tinyabi.Graph]:
    """The model run by onnxruntime and, imported, by the reference backend (strictly)."""
    want = run_onnxruntime(model, {f.name: x for f, x in zip(model.graph.input, inputs)})
    graph = load_onnx(model)
    session = tinyabi.Session(graph, backends=["reference"], strict=True)
    assert {p.backend for p in session.plan.partitions} == {"reference"}
    got = session.run([nhwc(x) for x in inputs])
    return want, [got[name] for name in graph.outputs], graph


def test_small_cnn_matches_onnxruntime() -> None:
    model = small_cnn()
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    want, got, graph = run_both(model, [x])
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)
    ops = [n.op for n in graph.nodes]
    assert ops.count("CONV_2D") == 2 and "DEPTHWISE_CONV_2D" in ops
    assert "TRANSPOSE" not in ops, ops  # NCHW became NHWC with no transposes left inside
    assert not any(n.is_extension for n in graph.nodes)
    # BatchNormalization and both Relus are folded into the convolutions before them.
    convs = [n for n in graph.nodes if n.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert [n.attrs["fused_activation"] for n in convs] == ["RELU", "RELU", "NONE"]
    assert graph.tensor("input").shape == (1, 16, 16, 3)


def test_load_takes_a_path_bytes_or_a_model_proto(tmp_path) -> None:
    model = small_cnn()
    path = tmp_path / "cnn.onnx"
    onnx.save(model, path)
    for source in (str(path), path.read_bytes(), model):
        graph = tinyabi.load(source)
        assert graph.nodes[0].op == "CONV_2D"


F32 = np.float32


def _rng() -> np.random.Generator:
    return np.random.default_rng(11)


CASES = {
    "relu": ("Relu", [(1, 4, 5, 6)], (1, 4, 5, 6), [], {}, "RELU"),
    "sigmoid": ("Sigmoid", [(2, 7)], (2, 7), [], {}, "LOGISTIC"),
    "tanh": ("Tanh", [(2, 7)], (2, 7), [], {}, "TANH"),
    "hardswish": ("HardSwish", [(1, 3, 4, 4)], (1, 3, 4, 4), [], {"opset": 14}, "HARD_SWISH"),
    "leakyrelu": ("LeakyRelu", [(1, 3, 4, 4)], (1, 3, 4, 4), [], {"alpha": 0.2}, "LEAKY_RELU"),
    "clip6": (
        "Clip",
        [(1, 3, 4, 4)],
        (1, 3, 4, 4),
        [("lo", np.array(0, F32)), ("hi", np.array(6, F32))],
        {},
        "RELU6",
    ),
    "sub_channel_const": (
        "Sub",
        [(1, 3, 4, 4)],
        (1, 3, 4, 4),
        [("c", np.array([[[0.5]], [[-1.0]], [[2.0]]], F32))],
        {},
        "SUB",
    ),
    "mul_two_inputs": ("Mul", [(1, 3, 4, 4), (1, 3, 4, 4)], (1, 3, 4, 4), [], {}, "MUL"),
    "div_const": ("Div", [(2, 5)], (2, 5), [("c", np.array([4.0], F32))], {}, "MUL"),
    "matmul": (
        "MatMul",
        [(2, 3, 6)],
        (2, 3, 4),
        [("w", _rng().normal(size=(6, 4)).astype(F32))],
        {},
        "FULLY_CONNECTED",
    ),
    "reshape": ("Reshape", [(1, 2, 3, 4)], (1, 24), [("s", np.array([1, -1]))], {}, "RESHAPE"),
    "transpose_then_nothing": (
        "Transpose",
        [(2, 3, 4)],
        (4, 2, 3),
        [],
        {"perm": [2, 0, 1]},
        "TRANSPOSE",
    ),
    "concat_channels": (
        "Concat",
        [(1, 2, 3, 3), (1, 4, 3, 3)],
        (1, 6, 3, 3),
        [],
        {"axis": 1},
        "CONCATENATION",
    ),
    "slice": (
        "Slice",
        [(1, 4, 6, 6)],
        (1, 2, 3, 5),
        [
            ("st", np.array([1, 0, 1])),
            ("en", np.array([3, 6, 99])),
            ("ax", np.array([1, 2, 3])),
            ("sp", np.array([1, 2, 1])),
        ],
        {},
        "STRIDED_SLICE",
    ),
    "pad": (
        "Pad",
        [(1, 2, 3, 3)],
        (1, 2, 5, 6),
        [("p", np.array([0, 0, 1, 2, 0, 0, 1, 1]))],
        {},
        "PAD",
    ),
    "reducemean": (
        "ReduceMean",
        [(1, 3, 4, 5)],
        (1, 3),
        [],
        {"axes": [2, 3], "keepdims": 0},
        "MEAN",
    ),
    "reducemean_opset18": (
        "ReduceMean",
        [(1, 3, 4, 5)],
        (1, 3, 1, 1),
        [("axes", np.array([-1, 2]))],
        {"opset": 18},
        "MEAN",
    ),
    "softmax_channels": ("Softmax", [(1, 5, 2, 2)], (1, 5, 2, 2), [], {"axis": 1}, "SOFTMAX"),
    "conv_stride2_pads": (
        "Conv",
        [(1, 3, 8, 8)],
        (1, 4, 4, 4),
        [("w", _rng().normal(size=(4, 3, 3, 3)).astype(F32))],
        {"strides": [2, 2], "pads": [1, 1, 1, 1]},
        "CONV_2D",
    ),
    "conv_same_upper": (
        "Conv",
        [(1, 2, 7, 8)],
        (1, 3, 4, 4),
        [("w", _rng().normal(size=(3, 2, 3, 3)).astype(F32))],
        {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
        "CONV_2D",
    ),
    "conv_dilated": (
        "Conv",
        [(1, 2, 7, 7)],
        (1, 3, 7, 7),
        [("w", _rng().normal(size=(3, 2, 3, 3)).astype(F32))],
        {"pads": [2, 2, 2, 2], "dilations": [2, 2]},
        "CONV_2D",
    ),
    "grouped_conv": (
        "Conv",
        [(1, 4, 5, 5)],
        (1, 6, 5, 5),
        [("w", _rng().normal(size=(6, 2, 3, 3)).astype(F32))],
        {"group": 2, "pads": [1, 1, 1, 1]},
        "CONV_2D",
    ),
    "batchnorm_alone": (
        "BatchNormalization",
        [(1, 3, 4, 4)],
        (1, 3, 4, 4),
        [
            ("g", np.array([1, 2, 0.5], F32)),
            ("b", np.array([0, 1, -1], F32)),
            ("m", np.array([0.1, 0.2, 0.3], F32)),
            ("v", np.array([1, 2, 3], F32)),
        ],
        {},
        "ADD",
    ),
    "globalmaxpool": ("GlobalMaxPool", [(1, 3, 4, 5)], (1, 3, 1, 1), [], {}, "MAX_POOL_2D"),
    "avgpool_count_pad": (
        "AveragePool",
        [(1, 2, 5, 5)],
        (1, 2, 3, 3),
        [],
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1},
        "AVERAGE_POOL_2D",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_operator_matches_onnxruntime(case: str) -> None:
    op, shapes, out_shape, inits, attrs, spec_op = CASES[case]
    model = single_op(op, shapes, out_shape, inits, **attrs)
    rng = np.random.default_rng(5)
    inputs = [rng.uniform(-4, 4, s).astype(F32) for s in shapes]
    want, got, graph = run_both(model, inputs)
    ops = [n.op for n in graph.nodes]
    assert spec_op in ops, ops
    if len(out_shape) == 4:
        want = [nhwc(w) for w in want]
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)


def test_unmapped_operators_become_extensions_with_their_attributes() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(size=(3, 2, 3, 3)).astype(F32)
    model = single_op("ConvTranspose", [(1, 3, 4, 4)], (1, 2, 9, 9), [("w", w)], strides=[2, 2])
    graph = load_onnx(model)
    (node,) = [n for n in graph.nodes if n.is_extension]
    assert node.op == "onnx.ConvTranspose"
    assert node.attrs["strides"] == [2, 2]
    # Extension nodes see ONNX's own layout: the NHWC graph input is transposed back for it.
    assert graph.tensor(node.inputs[0]).shape == (1, 3, 4, 4)
    assert node.inputs[0] != "input" and graph.tensor("x0").shape == (1, 4, 4, 3)
    assert graph.tensor(graph.outputs[0]).shape == (1, 9, 9, 2)


def test_extension_without_a_declared_shape_is_a_model_error() -> None:
    node = helper.make_node("Erf", ["x"], ["mid"])
    relu = helper.make_node("Relu", ["mid"], ["y"])
    graph = helper.make_graph(
        [node, relu],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    with pytest.raises(tinyabi.errors.ModelError, match=r"Erf.*shape of its output 'mid'"):
        load_onnx(make_model(graph))
    inferred = onnx.shape_inference.infer_shapes(make_model(graph))
    imported = load_onnx(inferred)
    assert [n.op for n in imported.nodes] == ["onnx.Erf", "RELU"]


def test_operator_zoo_matches_onnxruntime() -> None:
    model = op_zoo()
    x = np.random.default_rng(8).uniform(-1, 1, (1, 4, 8, 8)).astype(F32)
    want, got, graph = run_both(model, [x])
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)
    assert not any(n.is_extension for n in graph.nodes)
    # Two transposes move data in this model: the Reshape of an NHWC tensor to [1, 12, 16]
    # needs ONNX's order back, and the ONNX Transpose before MatMul really permutes its input.
    assert [n.op for n in graph.nodes].count("TRANSPOSE") == 2


def test_graph_outputs_keep_their_names() -> None:
    """Outputs that are the same value, a graph input, or an input read through Transpose."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Identity", ["a"], ["b"]),
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "outs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
            for n, s in (("a", [1, 2, 3, 4]), ("b", [1, 2, 3, 4]), ("t", [1, 3, 4, 2]))
        ],
    )
    model = make_model(graph)
    x = np.random.default_rng(1).normal(size=(1, 2, 3, 4)).astype(F32)
    want, got, imported = run_both(model, [x])
    assert imported.outputs == ["a", "b", "t"]
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, nhwc(w))


def test_matmul_then_add_is_one_fully_connected() -> None:
    rng = np.random.default_rng(4)
    inits = [
        helper.make_tensor("w", TensorProto.FLOAT, [6, 3], rng.normal(size=18).tolist()),
        helper.make_tensor("b", TensorProto.FLOAT, [3], rng.normal(size=3).tolist()),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["lin"]),
        helper.make_node("Relu", ["lin"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        inits,
    )
    x = rng.normal(size=(2, 6)).astype(F32)
    want, got, imported = run_both(make_model(graph), [x])
    (fc,) = imported.nodes
    assert (fc.op, fc.attrs["fused_activation"]) == ("FULLY_CONNECTED", "RELU")
    np.testing.assert_allclose(got[0], want[0], atol=ATOL, rtol=RTOL)


def test_shape_arithmetic_is_folded() -> None:
    """Flatten as exporters write it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    inits = [
        helper.make_tensor("zero", TensorProto.INT64, [], [0]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [0]),
        helper.make_tensor("minus_one", TensorProto.INT64, [1], [-1]),
    ]
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shape", ["r"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "flatten",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 18])],
        inits,
    )
    model = make_model(graph)
    x = np.random.default_rng(6).normal(size=(1, 2, 3, 3)).astype(F32)
    want, got, imported = run_both(model, [x])
    assert [n.op for n in imported.nodes] == ["RELU", "TRANSPOSE", "RESHAPE"]
    np.testing.assert_array_equal(got[0], want[0])
