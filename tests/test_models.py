"""Whole models: the reference backend against the real runtimes.

int8 and 16x8 models must be byte-identical with TensorFlow Lite Micro for many random
inputs; float and hybrid models must be within tolerance of LiteRT.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinyabi
from tests.conftest import (
    FLOAT_MODELS,
    INT8_MODELS,
    WHOLE_MODEL_FLOAT,
    WHOLE_MODEL_HYBRID,
    shared_model,
)
from tests.modelgen import random_16x8_conv_model, random_16x8_model, random_int8_model
from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import UnsupportedOperatorError
from tinyabi.feeds import random_inputs
from tinyabi.ir import Graph
from tinyabi.ir.builder import GraphBuilder
from tinyabi.tflite.exporter import export_tflite

SEEDS = range(8)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_model_is_byte_identical_with_tflm(name: str) -> None:
    path = shared_model(name)
    session = tinyabi.Session(tinyabi.load(path), backends=["reference"])
    for seed in SEEDS:
        feeds = random_inputs(session.graph, seed)
        ours = session.run(feeds)
        theirs = run_tflm(path.read_bytes(), list(feeds.values()))
        for (out, got), want in zip(ours.items(), theirs):
            assert got.dtype == want.dtype and got.shape == want.shape, out
            assert got.tobytes() == want.tobytes(), f"{name} seed {seed}: output {out} differs"


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_float_model_matches_litert(name: str) -> None:
    path = shared_model(name)
    session = tinyabi.Session(tinyabi.load(path), backends=["reference"])
    hybrid = name == "kws_ref_model_float32"
    atol, rtol = WHOLE_MODEL_HYBRID if hybrid else WHOLE_MODEL_FLOAT
    for seed in SEEDS:
        feeds = random_inputs(session.graph, seed)
        ours = list(session.run(feeds).values())
        theirs = run_litert(path.read_bytes(), list(feeds.values()))
        for got, want in zip(ours, theirs):
            np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)


@pytest.mark.parametrize("seed", range(40))
def test_random_int8_models_are_byte_identical_with_tflm(seed: int) -> None:
    graph = random_int8_model(seed)
    model = export_tflite(graph)
    feeds = random_inputs(graph, seed)
    ours = tinyabi.Session(graph).run(feeds)
    theirs = run_tflm(model, list(feeds.values()))
    ops = [n.op for n in graph.nodes]
    for got, want in zip(ours.values(), theirs):
        if got.tobytes() != want.tobytes():
            pytest.fail(
                f"seed {seed} ({ops}) differs from TFLM: {first_divergent_node(graph, feeds)}"
            )


@pytest.mark.parametrize(
    ("generator", "seed"),
    [(random_16x8_model, s) for s in range(24)] + [(random_16x8_conv_model, s) for s in range(20)],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_random_16x8_models_are_byte_identical_with_tflm(
    generator: Callable[[int], Graph], seed: int
) -> None:
    """16x8 models (the elementwise/activation/tensor family, and the conv family) on the
    reference backend alone (fallback="error"): every node must take its int16 signature there,
    and every output must match TFLM's bytes."""
    graph = generator(seed)
    feeds = random_inputs(graph, seed)
    session = tinyabi.Session(graph, backends=["reference"], fallback="error")
    assert {n.backend for n in session.plan.nodes} == {"reference"}
    ours = session.run(feeds)
    theirs = run_tflm(export_tflite(graph), list(feeds.values()))
    ops = [n.op for n in graph.nodes]
    assert "int16" in {graph.tensor(n.outputs[0]).dtype for n in graph.nodes}
    for got, want in zip(ours.values(), theirs):
        assert got.dtype == want.dtype and got.shape == want.shape, ops
        if got.tobytes() != want.tobytes():
            pytest.fail(
                f"seed {seed} ({ops}) differs from TFLM: {first_divergent_node(graph, feeds)}"
            )


@pytest.mark.parametrize(
    ("generator", "seed"),
    [(random_16x8_model, s) for s in range(8)] + [(random_16x8_conv_model, s) for s in range(8)],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_random_16x8_models_on_the_tflm_backend_are_byte_identical_with_tflm(
    generator: Callable[[int], Graph], seed: int
) -> None:
    """The same 16x8 models on the tflm backend alone (fallback="error", strict): the plan puts
    every node on tflm, and the outputs are TFLM's bytes for the exported model."""
    graph = generator(seed)
    feeds = random_inputs(graph, seed)
    session = tinyabi.Session(graph, backends=["tflm"], fallback="error", strict=True)
    assert {n.backend for n in session.plan.nodes} == {"tflm"}
    ours = session.run(feeds)
    theirs = run_tflm(export_tflite(graph), list(feeds.values()))
    for (name, got), want in zip(ours.items(), theirs):
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), f"seed {seed}: {name} differs from TFLM"


def test_demo_model_is_byte_identical_with_tflm() -> None:
    from tinyabi.demo import build_demo_model

    graph = build_demo_model()
    feeds = random_inputs(graph, 0)
    ours = tinyabi.Session(graph).run(feeds)
    theirs = run_tflm(export_tflite(graph), list(feeds.values()))
    assert next(iter(ours.values())).tobytes() == theirs[0].tobytes()


def _model_with_extension_op() -> bytes:
    b = GraphBuilder("with_extension")
    x = b.input("x", "float32", (1, 4))
    y = b.tensor("y", "float32", (1, 4))
    z = b.tensor("z", "float32", (1, 4))
    b.node("tflite.ABS", [x], [y])
    b.node("RELU", [y], [z])
    return export_tflite(b.build(outputs=[z]))


def test_extension_operator_imports_and_names_itself_when_nothing_runs_it() -> None:
    graph = tinyabi.load(_model_with_extension_op())
    assert [n.op for n in graph.nodes] == ["tflite.ABS", "RELU"]
    assert graph.nodes[0].is_extension
    with pytest.raises(UnsupportedOperatorError, match=r"tflite\.ABS"):
        tinyabi.Session(graph, backends=["reference"])
    # LiteRT runs the same file: the extension node survived import and export intact.
    out = run_litert(export_tflite(graph), [np.array([[-1, 2, -3, 4]], np.float32)])
    assert out[0].tolist() == [[1, 2, 3, 4]]


def first_divergent_node(graph: tinyabi.Graph, feeds: dict[str, np.ndarray]) -> str:
    """Run each node alone on TFLM with the reference backend's inputs; name the first whose
    output differs (to make a whole-model failure point at one kernel)."""
    from tinyabi.backends.reference import ReferencePartition

    values: dict[str, np.ndarray] = dict(feeds)
    for i, node in enumerate(graph.nodes):
        single = graph.subgraph([i])
        single.outputs = list(node.outputs)
        inputs = [values[n] for n in single.inputs]
        ours = ReferencePartition(single).run(dict(zip(single.inputs, inputs)))
        theirs = run_tflm(export_tflite(single), inputs)
        values.update(ours)
        for (name, got), want in zip(ours.items(), theirs):
            if got.tobytes() != want.tobytes():
                diff = np.abs(got.astype(np.int64) - want.astype(np.int64)).max()
                return f"{node.describe()} output {name!r} differs by up to {diff} LSB"
    return "no single node differs"
