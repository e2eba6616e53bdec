"""The onnxruntime backend against the real runtimes: LiteRT (float truth of the shared .tflite
models), onnxruntime itself on the original ONNX models, and TFLM through the reference
backend (int8)."""

from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from ort_models import images, make_model, mobilenet_style, nhwc, run_onnxruntime
from tinyabi_onnxruntime.backend import OnnxRuntimeBackend
from tinyabi_onnxruntime.export import export_partition

import tinyabi
from tests.conftest import shared_model
from tinyabi.conformance import run_conformance
from tinyabi.dispatch.planner import make_plan
from tinyabi.errors import BackendError, OptionsError
from tinyabi.ir import Graph, GraphBuilder

ORT = "onnxruntime"


def random_feeds(graph: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = []
    for name in graph.inputs:
        t = graph.tensor(name)
        if t.dtype == "float32":
            feeds.append(rng.uniform(-1, 1, t.shape).astype(np.float32))
        else:
            feeds.append(rng.integers(-128, 128, t.shape).astype(t.dtype))
    return feeds


def assert_all_on(session: tinyabi.Session, backend: str) -> None:
    assert {n.backend for n in session.plan.nodes} == {backend}, str(session.plan)


def transposes(graph: Graph) -> int:
    model = onnx.load_from_string(export_partition(graph).model)
    return sum(n.op_type == "Transpose" for n in model.graph.node)


@pytest.mark.parametrize("name", ["vww_96_float", "ad01_fp32"])
def test_shared_float_models_match_litert(name: str) -> None:
    graph = tinyabi.load(shared_model(name))
    ours = tinyabi.Session(graph, backends=[ORT], strict=True)
    litert = tinyabi.Session(graph, backends=["litert"], strict=True)
    assert_all_on(ours, ORT)
    assert_all_on(litert, "litert")
    for seed in range(2):
        feeds = random_feeds(graph, seed)
        got, want = ours.run(feeds), litert.run(feeds)
        for key in graph.outputs:
            np.testing.assert_allclose(got[key], want[key], atol=1e-4, rtol=1e-4)
    # NHWC at the boundary, NCHW inside: one Transpose per rank-4 input and output, no more.
    boundary = sum(len(graph.tensor(n).shape) == 4 for n in [*graph.inputs, *graph.outputs])
    assert transposes(graph) == boundary


def test_imported_onnx_model_matches_onnxruntime_run_directly() -> None:
    model = mobilenet_style()
    graph = tinyabi.load(model)
    session = tinyabi.Session(graph, backends=[ORT], strict=True)
    assert_all_on(session, ORT)
    assert transposes(graph) == 1  # the NHWC input; the output is [1, classes]
    for image in images(3, seed=4):
        (want,) = run_onnxruntime(model, {"input": image})
        (got,) = session.run([nhwc(image)]).values()
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-5)


def test_int8_nodes_are_declined_by_default_and_taken_with_the_option() -> None:
    graph = tinyabi.load(shared_model("vww_96_int8"))
    default = tinyabi.Session(graph, backends=[ORT, "reference"], strict=True)
    assert_all_on(default, "reference")
    assert any("round" in line and ORT in line for line in default.plan.declines())
    accepting = tinyabi.Session(graph, backends=[(ORT, {"int8": True})], strict=True)
    assert_all_on(accepting, ORT)
    worst = 0
    for seed in range(2):
        feeds = random_feeds(graph, seed)
        got, exact = accepting.run(feeds), default.run(feeds)
        for key in graph.outputs:
            worst = max(worst, int(np.max(np.abs(got[key].astype(int) - exact[key].astype(int)))))
    print(f"\nvww_96_int8 on onnxruntime (int8=True) vs the spec: up to {worst} LSB")
    assert worst <= 4  # onnxruntime's rounding, not a wrong computation


def _extension_model() -> onnx.ModelProto:
    """Conv, then operators the importer has no spec operator for (Erf, ReduceMax with its
    attributes, Elu), then Softmax."""
    rng = np.random.default_rng(3)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2, 3, 3], rng.normal(0, 0.5, 72))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Erf", ["c"], ["e"]),
        helper.make_node("ReduceMax", ["e"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Elu", ["m"], ["u"], alpha=0.7),
        helper.make_node("Softmax", ["u"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "extensions",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    return onnx.shape_inference.infer_shapes(make_model(graph))


def test_onnx_extension_nodes_run_as_their_onnx_operator() -> None:
    model = _extension_model()
    graph = tinyabi.load(model)
    ops = {n.op for n in graph.nodes}
    assert {"onnx.Erf", "onnx.ReduceMax", "onnx.Elu"} <= ops
    session = tinyabi.Session(graph, backends=[ORT], strict=True)
    assert_all_on(session, ORT)
    for seed in range(3):
        x = np.random.default_rng(seed).normal(0, 1, (1, 2, 6, 6)).astype(np.float32)
        (want,) = run_onnxruntime(model, {"x": x})
        (got,) = session.run([nhwc(x)]).values()
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-5)


def test_concurrent_runs_of_one_session_each_get_their_own_result() -> None:
    graph = tinyabi.load(mobilenet_style(seed=2))
    session = tinyabi.Session(graph, backends=[ORT], strict=True)
    inputs = [nhwc(i) for i in images(8, seed=5)]
    expected = [session.run([x]) for x in inputs]
    failures: list[str] = []

    def worker(index: int) -> None:
        for _ in range(20):
            got = session.run([inputs[index]])
            for key, value in expected[index].items():
                if not np.array_equal(got[key], value):
                    failures.append(f"thread {index}: {key} differs")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def test_options_are_checked_before_anything_runs() -> None:
    graph = tinyabi.load(mobilenet_style())
    with pytest.raises(OptionsError, match="int9"):
        tinyabi.Session(graph, backends=[(ORT, {"int9": True})])
    session = tinyabi.Session(graph, backends=[(ORT, {"threads": "1", "ops": "CONV_2D"})])
    assert {n.backend for n in session.plan.nodes if n.op == "CONV_2D"} == {ORT}
    assert {n.backend for n in session.plan.nodes if n.op != "CONV_2D"} == {"reference"}


def test_float_signatures_conform_to_the_spec() -> None:
    report = run_conformance(ORT, cases_per_signature=3, seed=11)
    assert report.ok, report.failures
    claimed = {r.op for r in report.results if r.passed}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN", "SOFTMAX"} <= claimed


def test_a_model_onnxruntime_refuses_is_a_backend_error() -> None:
    b = GraphBuilder("refused")
    x = b.input("x", "float32", (2, 3))
    y = b.tensor("y", "float32", (2, 3))
    b.node("onnx.NoSuchOperator", [x], [y])
    with pytest.raises(BackendError, match="onnxruntime refused the model"):
        tinyabi.Session(b.build([y]), backends=[ORT], strict=True)


def layout_graph() -> Graph:
    """Values held in NCHW (after a convolution) flowing through every operator that works in
    whatever order its input is held in, and through some that need NHWC."""
    rng = np.random.default_rng(21)
    f32 = np.float32
    b = GraphBuilder("layouts")
    x = b.input("x", "float32", (1, 6, 5, 3))

    def t(name: str, shape: tuple[int, ...]) -> str:
        return b.tensor(name, "float32", shape)

    w = b.const("w", rng.normal(0, 0.5, (4, 3, 3, 3)).astype(f32))
    bias = b.const("bias", rng.normal(0, 0.1, 4).astype(f32))
    b.node("CONV_2D", [x, w, bias], [t("c", (1, 6, 5, 4))], padding="SAME")
    b.node("ADD", ["c", b.const("k", rng.normal(0, 1, 4).astype(f32))], [t("a", (1, 6, 5, 4))])
    b.node("MUL", ["a", "c"], [t("m", (1, 6, 5, 4))], fused_activation="RELU6")
    pads = b.const("pads", np.array([[0, 0], [1, 0], [0, 2], [0, 0]], np.int32))
    b.node("PAD", ["m", pads], [t("p", (1, 7, 7, 4))])
    b.node("MAX_POOL_2D", ["p"], [t("mp", (1, 7, 7, 4))], padding="SAME", filter_h=2, filter_w=2)
    b.node("CONCATENATION", ["mp", "p"], [t("cat", (1, 7, 7, 8))], axis=3)
    b.node("SOFTMAX", ["cat"], [t("sm", (1, 7, 7, 8))], beta=0.5)
    perm = b.const("perm", np.array([0, 3, 1, 2], np.int32))
    b.node("TRANSPOSE", ["sm", perm], [t("tr", (1, 8, 7, 7))])
    b.node("LOGISTIC", ["tr"], [t("lg", (1, 8, 7, 7))])
    axes = b.const("axes", np.array([2, 3], np.int32))
    b.node("MEAN", ["lg", axes], [t("mean", (1, 8))], keep_dims=False)
    starts = [b.const(n, np.array(v, np.int32)) for n, v in [("s0", [0, 1]), ("s1", [1, 7])]]
    b.node(
        "STRIDED_SLICE",
        ["mean", *starts, b.const("s2", np.array([1, 2], np.int32))],
        [t("sl", (1, 3))],
    )
    b.node("RESHAPE", ["p"], [t("flat", (1, 196))], new_shape=[1, 196])
    return b.build(["sl", "flat", "tr"])


def test_values_held_in_nchw_flow_through_layout_indifferent_operators() -> None:
    graph = layout_graph()
    ours = tinyabi.Session(graph, backends=[ORT], strict=True)
    assert_all_on(ours, ORT)
    reference = tinyabi.Session(graph, backends=["reference"], strict=True)
    for seed in range(3):
        feeds = random_feeds(graph, seed)
        got, want = ours.run(feeds), reference.run(feeds)
        for key in graph.outputs:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=1e-5, err_msg=key)
    # The NHWC input into the convolution, the PAD result to NHWC for the RESHAPE that reads it
    # in NHWC order; the TRANSPOSE to NCHW moves no data and its output needs none.
    assert transposes(graph) == 2


def test_extension_nodes_it_cannot_rebuild_are_declined_or_refused_by_name() -> None:
    def one_node(op: str, **attrs: object) -> Graph:
        b = GraphBuilder(op)
        x = b.input("x", "float32", (2, 3))
        b.node(op, [x], [b.tensor("y", "float32", (2, 3))], **attrs)
        return b.build(["y"])

    plan = make_plan(one_node("onnx.If", then_branch=b"\x00"), [OnnxRuntimeBackend()])
    (decline,) = plan.nodes[0].declined
    assert "subgraph attributes" in decline.reason
    with pytest.raises(BackendError, match="attribute 'alpha' has no ONNX form"):
        graph = one_node("onnx.Elu", alpha=object())
        tinyabi.Session(graph, backends=[ORT], strict=True)
