"""QDQ models written by onnxruntime's ``quantize_static`` imported to int8 spec operators,
exported to ``.tflite`` and run on TensorFlow Lite Micro: the reference backend must match it
byte for byte. onnxruntime rounds differently, so against it the difference is only measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_models import (
    calibration_images,
    op_zoo,
    quantize_qdq,
    quantize_qoperator,
    run_onnxruntime,
    small_cnn,
)
from tinyabi_onnx import load_onnx

import tinyabi
from tests.runtimes import run_tflm
from tinyabi.ir.graph import Graph
from tinyabi.tflite.exporter import export_tflite

SHAPE = (1, 3, 16, 16)


@pytest.fixture(scope="module")
def qdq_model(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    """The small CNN quantized by onnxruntime (QDQ, per-channel symmetric int8 weights)."""
    folder: Path = tmp_path_factory.mktemp("qdq")
    return quantize_qdq(small_cnn(), folder, calibration_images(16, SHAPE))


@pytest.fixture(scope="module")
def graph(qdq_model: onnx.ModelProto) -> Graph:
    return load_onnx(qdq_model)


def test_qdq_pairs_fold_into_int8_spec_operators(qdq_model: onnx.ModelProto, graph: Graph) -> None:
    assert any(n.op_type == "DequantizeLinear" for n in qdq_model.graph.node)
    assert not any(n.is_extension for n in graph.nodes), [n.op for n in graph.nodes]
    ops = [n.op for n in graph.nodes]
    # The float input is quantized once, the output dequantized once: nothing in between.
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    assert "TRANSPOSE" not in ops
    for node in graph.nodes:
        if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            x, w, b = graph.node_inputs(node)
            assert x is not None and w is not None and b is not None
            assert (x.dtype, w.dtype, b.dtype) == ("int8", "int8", "int32")
            assert graph.tensor(node.outputs[0]).dtype == "int8"
            assert w.quant is not None and w.quant.per_axis  # per-channel weights kept
            assert not np.any(w.quant.zero_point)
            want = (np.float64(x.quant.scale[0]) * w.quant.scale).astype(np.float32)  # type: ignore[union-attr]
            np.testing.assert_allclose(b.quant.scale, want, rtol=1e-6)  # type: ignore[union-attr]
    assert ops.count("CONV_2D") == 2 and ops.count("DEPTHWISE_CONV_2D") == 1
    assert {"ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED"} <= set(ops)
    int8_ops = {n.op for n in graph.nodes if graph.tensor(n.outputs[0]).dtype == "int8"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED"} <= int8_ops


def with_int8_outputs(graph: Graph) -> Graph:
    """The graph with every int8 tensor a node writes as an extra output, to compare them all."""
    extra = [
        out
        for node in graph.nodes
        for out in node.outputs
        if graph.tensor(out).dtype == "int8" and out not in graph.outputs
    ]
    return Graph(graph.tensors, graph.nodes, graph.inputs, [*graph.outputs, *extra], graph.name)


def assert_matches_tflm(graph: Graph, images: list[np.ndarray]) -> list[np.ndarray]:
    """Every int8 tensor of the graph byte-identical on the reference backend and on TFLM (run
    on the exported .tflite), float outputs within the spec's float tolerance; returns the
    reference backend's first output per image."""
    probe = with_int8_outputs(graph)
    tflite = export_tflite(probe)
    session = tinyabi.Session(probe, backends=["reference"], strict=True)
    firsts = []
    for image in images:
        x = image.transpose(0, 2, 3, 1)
        ours = session.run([x])
        theirs = run_tflm(tflite, [x])
        for name, got in zip(probe.outputs, theirs):
            if got.dtype == np.int8:
                assert ours[name].tobytes() == got.tobytes(), name
            else:
                np.testing.assert_allclose(ours[name], got, atol=1e-5, rtol=1e-4)
        firsts.append(ours[probe.outputs[0]])
    return firsts


def test_reference_is_byte_identical_with_tflm_on_the_exported_model(
    qdq_model: onnx.ModelProto, graph: Graph
) -> None:
    worst = 0.0
    output = graph.tensor(graph.outputs[0])
    images = calibration_images(4, SHAPE, seed=9)
    for image, ours in zip(images, assert_matches_tflm(graph, images)):
        (ort,) = run_onnxruntime(qdq_model, {"input": image})
        # The output is DequantizeLinear of int8 with the output's quantization: in LSB.
        scale = float(_output_scale(qdq_model))
        worst = max(worst, float(np.max(np.abs(ours - ort))) / scale)
    print(f"\nQDQ small CNN: tinyabi vs onnxruntime differ by at most {worst:.0f} LSB")
    assert output.dtype == "float32"


def _output_scale(model: onnx.ModelProto) -> float:
    (last,) = [n for n in model.graph.node if n.output[0] == model.graph.output[0].name]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    return float(inits[last.input[1]])


def test_int8_graph_input_through_dequantize_linear() -> None:
    """A model whose input is already int8 takes its quantization from the DequantizeLinear."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx_models import make_model

    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(3, np.int8), "z"),
        numpy_helper.from_array(np.array(0.1, np.float32), "s2"),
        numpy_helper.from_array(np.array(-128, np.int8), "z2"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
        helper.make_node("Relu", ["xf"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "s2", "z2"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "int8_io",
        [helper.make_tensor_value_info("x", TensorProto.INT8, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [2, 8])],
        inits,
    )
    model = make_model(g)
    graph = load_onnx(model)
    assert [n.op for n in graph.nodes] == ["RELU"]
    assert graph.tensor("x").quant is not None
    x = np.arange(-128, 128, 16, dtype=np.int8).reshape(2, 8)
    ours = tinyabi.Session(graph, backends=["reference"], strict=True).run([x])["y"]
    (tflm,) = run_tflm(export_tflite(graph), [x])
    assert ours.tobytes() == tflm.tobytes()
    (ort,) = run_onnxruntime(model, {"x": x})
    assert np.max(np.abs(ours.astype(int) - ort.astype(int))) <= 1


def test_qoperator_model_runs_int8_and_matches_tflm(tmp_path: Path) -> None:
    """The QOperator format (QLinearConv, QLinearAdd, QGemm, QLinearSoftmax...): rewritten to
    QDQ and folded the same way; a QLinear node whose quantization the spec refuses (here
    QLinearAveragePool, whose output scale differs from its input's) keeps a float operator."""
    model = quantize_qoperator(small_cnn(), tmp_path, calibration_images(16, SHAPE))
    assert any(n.op_type == "QLinearConv" for n in model.graph.node)
    graph = load_onnx(model)
    assert not any(n.is_extension for n in graph.nodes)
    int8_ops = {n.op for n in graph.nodes if graph.tensor(n.outputs[0]).dtype == "int8"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "FULLY_CONNECTED"} <= int8_ops
    worst = 0.0
    images = calibration_images(3, SHAPE, seed=10)
    for image, ours in zip(images, assert_matches_tflm(graph, images)):
        (ort,) = run_onnxruntime(model, {"input": image})
        worst = max(worst, float(np.max(np.abs(ours - ort))) / _output_scale(model))
    print(f"\nQOperator small CNN: tinyabi vs onnxruntime differ by at most {worst:.0f} LSB")


def test_qdq_operator_zoo_matches_tflm(tmp_path: Path) -> None:
    """Many operators through quantize_static: where the int8 form fits the spec it is taken
    (the rest stays float between QUANTIZE and DEQUANTIZE); TFLM agrees byte for byte."""
    shape = (1, 4, 8, 8)
    model = quantize_qdq(op_zoo(hard_swish=False), tmp_path, calibration_images(16, shape))
    graph = load_onnx(model)
    assert not any(n.is_extension for n in graph.nodes)
    int8_ops = {n.op for n in graph.nodes if graph.tensor(n.outputs[0]).dtype == "int8"}
    assert {"CONV_2D", "MUL", "LEAKY_RELU", "PAD", "STRIDED_SLICE", "FULLY_CONNECTED"} <= int8_ops
    assert_matches_tflm(graph, calibration_images(3, shape, seed=12))
