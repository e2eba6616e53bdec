"""One model across formats and runtimes: a float ONNX MobileNet-style model and its QDQ
quantization by onnxruntime's quantizer, imported with ``tinyabi.load``, run on the reference,
tflm and cmsis-nn backends (cmsis-nn by partitioning: it takes the convolutions, tflm the rest)
and exported to ``.tflite`` for TensorFlow Lite Micro. Int8 results are byte-identical between
tinyabi's backends and TFLM on the exported file; against onnxruntime's own run of the QDQ
model the differences are measured (onnxruntime requantizes in float) and printed as an LSB
histogram (benchmarks/bench_onnxruntime.py puts the same table in RESULTS.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from ort_models import images, mobilenet_style, nhwc, quantize_qdq, run_onnxruntime

import tinyabi
from tests.runtimes import run_tflm
from tinyabi.ir import Graph
from tinyabi.tflite import export_tflite

CONVOLUTIONS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
BACKEND_LISTS = [["reference"], ["tflm"], ["cmsis-nn", "tflm"]]


@pytest.fixture(scope="module")
def float_model() -> onnx.ModelProto:
    return mobilenet_style(seed=7)


@pytest.fixture(scope="module")
def qdq_model(
    float_model: onnx.ModelProto, tmp_path_factory: pytest.TempPathFactory
) -> onnx.ModelProto:
    return quantize_qdq(float_model, tmp_path_factory.mktemp("qdq"), images(16, seed=2))


def with_every_int8_tensor(graph: Graph) -> Graph:
    """The graph with every int8 tensor a node writes as an extra output, to compare them all."""
    extra = [
        out
        for node in graph.nodes
        for out in node.outputs
        if graph.tensor(out).dtype == "int8" and out not in graph.outputs
    ]
    return Graph(graph.tensors, graph.nodes, graph.inputs, [*graph.outputs, *extra], graph.name)


def sessions(graph: Graph) -> dict[str, tinyabi.Session]:
    """One session per backend list, every node on a listed backend (no fallback)."""
    return {
        "+".join(b): tinyabi.Session(graph, backends=b, fallback="error", strict=True)
        for b in BACKEND_LISTS
    }


def test_cmsis_nn_takes_every_convolution_of_the_qdq_model(qdq_model: onnx.ModelProto) -> None:
    graph = tinyabi.load(qdq_model)
    ops = {n.op for n in graph.nodes if graph.tensor(n.outputs[0]).dtype == "int8"}
    assert CONVOLUTIONS | {"MEAN", "FULLY_CONNECTED"} <= ops  # folded to int8 spec operators
    plan = sessions(graph)["cmsis-nn+tflm"].plan
    convolutions = [n for n in plan.nodes if n.op in CONVOLUTIONS]
    assert len(convolutions) == 5
    assert {n.backend for n in convolutions} == {"cmsis-nn"}
    assert {n.backend for n in plan.nodes} == {"cmsis-nn", "tflm"}


def test_qdq_model_is_byte_identical_on_every_backend_and_on_tflm(
    qdq_model: onnx.ModelProto,
) -> None:
    probe = with_every_int8_tensor(tinyabi.load(qdq_model))
    tflite = export_tflite(probe)
    runs = sessions(probe)
    int8 = [n for n in probe.outputs if probe.tensor(n).dtype == "int8"]
    assert len(int8) >= 10
    for image in images(4, seed=9):
        x = nhwc(image)
        truth = dict(zip(probe.outputs, run_tflm(tflite, [x])))
        for label, session in runs.items():
            ours = session.run([x])
            for name in int8:
                assert ours[name].tobytes() == truth[name].tobytes(), (label, name)
            for name in set(probe.outputs) - set(int8):
                np.testing.assert_allclose(ours[name], truth[name], atol=1e-6, rtol=1e-5)


def test_float_model_matches_onnxruntime_on_every_backend_and_on_tflm(
    float_model: onnx.ModelProto,
) -> None:
    graph = tinyabi.load(float_model)
    tflite = export_tflite(graph)
    runs = sessions(graph)
    runs["onnxruntime"] = tinyabi.Session(graph, backends=["onnxruntime"], strict=True)
    for image in images(3, seed=5):
        (want,) = run_onnxruntime(float_model, {"input": image})
        (tflm,) = run_tflm(tflite, [nhwc(image)])
        np.testing.assert_allclose(tflm, want, atol=1e-5, rtol=1e-4)
        for label, session in runs.items():
            (got,) = session.run([nhwc(image)]).values()
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4, err_msg=label)


def lsb_histogram(qdq_model: onnx.ModelProto, count: int, seed: int) -> dict[int, int]:
    """How many output values differ by how many LSB (of the output's quantization) between
    tinyabi (the reference backend, TFLM's arithmetic) and onnxruntime on the QDQ model."""
    graph = tinyabi.load(qdq_model)
    (output,) = graph.outputs
    scale = _output_scale(qdq_model)
    session = tinyabi.Session(graph, backends=["reference"], strict=True)
    histogram: dict[int, int] = {}
    for image in images(count, seed=seed):
        (theirs,) = run_onnxruntime(qdq_model, {"input": image})
        ours = session.run([nhwc(image)])[output]
        for lsb in np.rint(np.abs(ours - theirs) / scale).astype(int).reshape(-1):
            histogram[int(lsb)] = histogram.get(int(lsb), 0) + 1
    return dict(sorted(histogram.items()))


def _output_scale(model: onnx.ModelProto) -> float:
    """The scale of the QuantizeLinear/DequantizeLinear pair at the model's output."""
    producer = {o: n for n in model.graph.node for o in n.output}
    dq = producer[model.graph.output[0].name]
    assert dq.op_type == "DequantizeLinear"
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    return float(inits[dq.input[1]])


def test_differences_from_onnxruntime_are_measured(
    qdq_model: onnx.ModelProto, tmp_path: Path
) -> None:
    histogram = lsb_histogram(qdq_model, count=8, seed=11)
    total = sum(histogram.values())
    print(f"\nQDQ MobileNet-style, tinyabi vs onnxruntime, output LSB histogram: {histogram}")
    assert total == 8 * 10
    # onnxruntime requantizes in float, TFLM in fixed point: small differences, not a wrong
    # computation (most values agree exactly).
    assert histogram.get(0, 0) > total // 2
    assert max(histogram) <= 8
