"""TFLite import and export: real models survive a round trip through the IR."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import FLOAT_MODELS, INT8_MODELS, shared_model
from tests.runtimes import run_litert, run_tflm
from tinyabi.feeds import random_inputs
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite


@pytest.mark.parametrize("name", INT8_MODELS + FLOAT_MODELS)
def test_round_trip_runs_identically_in_litert(name: str) -> None:
    path = shared_model(name)
    graph = load_tflite(path)
    exported = export_tflite(graph)
    for seed in range(3):
        feeds = list(random_inputs(graph, seed).values())
        want = run_litert(path.read_bytes(), feeds)
        got = run_litert(exported, feeds)
        for w, g in zip(want, got):
            assert w.dtype == g.dtype and w.shape == g.shape
            assert np.array_equal(w, g)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_round_trip_runs_identically_in_tflm(name: str) -> None:
    path = shared_model(name)
    graph = load_tflite(path)
    feeds = list(random_inputs(graph, 7).values())
    want = run_tflm(path.read_bytes(), feeds)
    got = run_tflm(export_tflite(graph), feeds)
    assert all(np.array_equal(w, g) for w, g in zip(want, got))


def test_import_from_bytes_equals_import_from_path() -> None:
    path = shared_model("ad01_int8")
    a, b = load_tflite(path), load_tflite(path.read_bytes())
    assert [n.op for n in a.nodes] == [n.op for n in b.nodes]
    assert list(a.tensors) == list(b.tensors)


def test_import_reads_options_quantization_and_constants() -> None:
    graph = load_tflite(shared_model("kws_ref_model"))
    first = graph.nodes[0]
    assert first.op == "CONV_2D"
    assert first.attrs["padding"] in ("SAME", "VALID")
    assert first.attrs["stride_h"] >= 1
    weights = graph.tensor(first.inputs[1])
    assert weights.is_constant and weights.dtype == "int8"
    assert weights.quant is not None and weights.quant.scale.size == weights.shape[0]
    assert weights.data is not None and weights.data.shape == weights.shape
    bias = graph.tensor(first.inputs[2])
    assert bias.dtype == "int32"


def test_variable_tensors_survive_import_and_export() -> None:
    from tinyabi.ir.builder import GraphBuilder

    b = GraphBuilder("stateful")
    x = b.input("x", "float32", (1, 4))
    state = b.variable("state", "float32", (1, 4))
    y = b.tensor("y", "float32", (1, 4))
    b.node("tflite.ADD", [x, state], [y])
    graph = load_tflite(export_tflite(b.build([y])))
    assert graph.tensor("state").variable
    assert graph.subgraph([0]).inputs == ["x"]  # state is not something to feed
    x_value = np.arange(4, dtype=np.float32).reshape(1, 4)
    (out,) = run_litert(export_tflite(graph), [x_value])
    assert np.array_equal(out, x_value)  # variables start at zero
