"""Models with operators outside the spec: those nodes run on tflm (or litert), the rest
elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tflm_support import max_abs_diff
from tinyabi_tflm import runtimes
from tinyabi_tflm.export import export_partition
from tinyabi_tflm.forms import extension_model
from tinyabi_tflm.jobs import run_isolated

import tinyabi
from tinyabi.errors import UnsupportedOperatorError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization, Tensor
from tinyabi.tflite.exporter import export_tflite


def abs_model() -> Graph:
    """int8: CONV_2D -> tflite.ABS -> AVERAGE_POOL_2D -> RESHAPE -> SOFTMAX."""
    rng = np.random.default_rng(7)
    b = GraphBuilder("with_abs")
    x = b.input("x", "int8", (1, 8, 8, 3), quant=(0.05, -3))
    w = b.const(
        "w",
        rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8),
        Quantization(np.full(4, 0.02), np.zeros(4, np.int64), axis=0),
    )
    bias = b.const(
        "bias",
        rng.integers(-500, 500, 4).astype(np.int32),
        Quantization(np.full(4, 0.05 * 0.02), np.zeros(4, np.int64)),
    )
    conv = b.tensor("conv", "int8", (1, 8, 8, 4), quant=(0.1, 5))
    b.node("CONV_2D", [x, w, bias], [conv], padding="SAME", stride_h=1, stride_w=1)
    absolute = b.tensor("abs", "int8", (1, 8, 8, 4), quant=(0.1, 5))
    b.node("tflite.ABS", [conv], [absolute])
    pooled = b.tensor("pooled", "int8", (1, 1, 1, 4), quant=(0.1, 5))
    window: dict[str, Any] = {"filter_h": 8, "filter_w": 8, "stride_h": 8, "stride_w": 8}
    b.node("AVERAGE_POOL_2D", [absolute], [pooled], padding="VALID", **window)
    flat = b.tensor("flat", "int8", (1, 4), quant=(0.1, 5))
    b.node("RESHAPE", [pooled, b.const("shape", np.array([1, 4], np.int32))], [flat])
    probs = b.tensor("probs", "int8", (1, 4), quant=(1 / 256, -128))
    b.node("SOFTMAX", [flat], [probs], beta=1.0)
    return b.build([probs])


def lstm_model() -> Graph:
    """float32: tflite.UNIDIRECTIONAL_SEQUENCE_LSTM -> RESHAPE -> FULLY_CONNECTED."""
    graph = extension_model("UNIDIRECTIONAL_SEQUENCE_LSTM", "lstm", "float32")
    assert graph is not None
    t = graph.tensors
    t["shape"] = Tensor("shape", "int32", (2,), data=np.array([1, 6], np.int32))
    t["flat"] = Tensor("flat", "float32", (1, 6))
    rng = np.random.default_rng(5)
    t["w"] = Tensor("w", "float32", (3, 6), data=rng.uniform(-1, 1, (3, 6)).astype(np.float32))
    t["logits"] = Tensor("logits", "float32", (1, 3))
    b = GraphBuilder()
    reshape = b.node("RESHAPE", ["output", "shape"], ["flat"], name="reshape")
    dense = b.node("FULLY_CONNECTED", ["flat", "w", None], ["logits"], name="dense")
    return Graph(t, [*graph.nodes, reshape, dense], graph.inputs, ["logits"], "with_lstm")


def tflm_truth(graph: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """The whole model run on TFLM (in the worker process)."""
    result = run_isolated(runtimes.TFLM, export_partition(graph).model, feeds, len(graph.outputs))
    assert result.ok, result.describe()
    return result.outputs


def int8_feeds(graph: Graph, seed: int) -> list[np.ndarray]:
    shape = graph.tensor(graph.inputs[0]).shape
    return [np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)]


def test_the_extension_node_runs_on_tflm_and_the_rest_on_reference() -> None:
    graph = abs_model()
    session = tinyabi.Session(graph, backends=["reference", "tflm"])
    owners = {n.op: n.backend for n in session.plan.nodes}
    assert owners == {
        "CONV_2D": "reference",
        "tflite.ABS": "tflm",
        "AVERAGE_POOL_2D": "reference",
        "RESHAPE": "reference",
        "SOFTMAX": "reference",
    }
    assert [p.backend for p in session.plan.partitions] == ["reference", "tflm", "reference"]
    for seed in range(3):
        feeds = int8_feeds(graph, seed)
        (want,) = tflm_truth(graph, feeds)
        got = session.run(feeds)["probs"]
        assert got.tobytes() == want.tobytes()


def test_the_model_round_trips_through_a_file() -> None:
    data = export_tflite(abs_model())
    graph = tinyabi.load(data)
    assert [n.op for n in graph.nodes].count("tflite.ABS") == 1
    session = tinyabi.Session(data, backends=["reference", "tflm"])
    feeds = int8_feeds(graph, 3)
    assert session.run(feeds)["probs"].tobytes() == tflm_truth(graph, feeds)[0].tobytes()


def test_litert_can_take_the_extension_node_too() -> None:
    graph = abs_model()
    session = tinyabi.Session(graph, backends=["reference", "litert"])
    assert {n.backend for n in session.plan.nodes if n.op == "tflite.ABS"} == {"litert"}
    feeds = int8_feeds(graph, 4)
    assert session.run(feeds)["probs"].tobytes() == tflm_truth(graph, feeds)[0].tobytes()


def test_without_a_runtime_backend_the_extension_node_is_an_error_with_a_hint() -> None:
    with pytest.raises(UnsupportedOperatorError, match=r"tflite\.ABS.*outside the TinyABI spec"):
        tinyabi.Session(abs_model(), backends=["reference"])


def test_a_recurrent_operator_runs_on_tflm_with_its_state_reset_each_run() -> None:
    graph = lstm_model()
    session = tinyabi.Session(graph, backends=["reference", "tflm"])
    owners = {n.op: n.backend for n in session.plan.nodes}
    assert owners["tflite.UNIDIRECTIONAL_SEQUENCE_LSTM"] == "tflm"
    assert owners["FULLY_CONNECTED"] == "reference"
    feeds = [np.random.default_rng(0).uniform(-1, 1, (1, 3, 4)).astype(np.float32)]
    first = session.run(feeds)["logits"]
    assert session.run(feeds)["logits"].tobytes() == first.tobytes()  # no state carried over
    (want,) = tflm_truth(graph, feeds)
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-6)
    on_litert = tinyabi.Session(graph, backends=["litert"], fallback="error").run(feeds)
    assert max_abs_diff(on_litert["logits"], want) < 1e-5
