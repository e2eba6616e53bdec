"""The NPU runs the shared models and random int8 models byte-identically with TFLM."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tinyabi_npu.backend import NpuPartition

import tinyabi
from tests.conftest import INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tests.runtimes import run_tflm
from tinyabi.feeds import random_inputs
from tinyabi.tflite.exporter import export_tflite


def _npu_parts(sess: tinyabi.Session) -> list[NpuPartition]:
    return [p for p in sess.compiled if isinstance(p, NpuPartition)]


def _assert_same_as_tflm(sess: tinyabi.Session, model: bytes, seed: int) -> None:
    feeds = random_inputs(sess.graph, seed)
    got = sess.run(feeds)
    want = run_tflm(model, list(feeds.values()))
    for (name, value), expected in zip(got.items(), want):
        assert value.tobytes() == expected.tobytes(), f"{name} differs from TFLM"


@pytest.mark.parametrize("name", INT8_MODELS)
@pytest.mark.parametrize("sram", [256 * 1024, 12 * 1024])
def test_shared_model_on_npu_with_fallback(name: str, sram: int) -> None:
    """npu first, cmsis-nn takes what it declines (SOFTMAX): byte-identical with TFLM, and the
    plan puts every convolution, pooling and fully connected layer the SRAM allows on npu."""
    path = shared_model(name)
    graph = tinyabi.load(path)
    sess = tinyabi.Session(graph, backends=[("npu", {"sram_bytes": sram}), "cmsis-nn"], strict=True)
    on_npu = {n.op for n in sess.plan.nodes if n.backend == "npu"}
    assert on_npu & {"CONV_2D", "FULLY_CONNECTED"}
    for node in sess.plan.nodes:
        if node.op == "SOFTMAX":
            assert node.backend == "cmsis-nn"
            assert any(d.backend == "npu" and "SOFTMAX" in d.reason for d in node.declined)
    parts = _npu_parts(sess)
    assert parts
    largest = max(t.size for t in graph.tensors.values() if not t.is_constant)
    if sram < largest:  # activations larger than SRAM: spilled to DRAM, tiled
        assert all(p.compiled.spilled for p in parts)
        assert sum(c.dram_write for p in parts for c in p.costs) > 0
    _assert_same_as_tflm(sess, path.read_bytes(), 0)


def test_the_first_dense_layer_of_ad01_needs_more_than_tiny_sram() -> None:
    """With 4 KiB of SRAM the NPU declines layers whose smallest tile does not fit, with the
    hint, and the rest still runs exactly."""
    path = shared_model("ad01_int8")
    sess = tinyabi.Session(path, backends=[("npu", {"sram_bytes": 4096}), "tflm"], strict=True)
    declined = [n for n in sess.plan.nodes if n.backend == "tflm"]
    assert declined
    assert all("SRAM" in d.reason for n in declined for d in n.declined if d.backend == "npu")
    _assert_same_as_tflm(sess, path.read_bytes(), 1)


@pytest.mark.parametrize("seed", [3, 8, 21, 30])
@pytest.mark.parametrize("macs", [64, 256])
def test_random_models_with_fallback(seed: int, macs: int) -> None:
    """Random int8 models: npu, then tflm for what it declines; exact with TFLM."""
    graph = random_int8_model(seed, layers=7)
    sess = tinyabi.Session(graph, backends=[("npu", {"macs": macs}), "tflm"], strict=True)
    assert any(n.backend == "npu" for n in sess.plan.nodes)
    _assert_same_as_tflm(sess, export_tflite(graph), seed)


def test_runs_from_several_threads() -> None:
    graph = random_int8_model(8, layers=7)
    sess = tinyabi.Session(graph, backends=["npu", "tflm"], strict=True)
    feeds = [random_inputs(graph, s) for s in range(6)]
    want = [sess.run(f) for f in feeds]
    errors: list[str] = []

    def worker(i: int) -> None:
        got = sess.run(feeds[i])
        if any(got[k].tobytes() != want[i][k].tobytes() for k in got):
            errors.append(f"run {i} differs")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert np.all([len(w) for w in want])
