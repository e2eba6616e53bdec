"""The shared MLPerf Tiny models, whole, on the tflm and litert backends."""

from __future__ import annotations

import numpy as np
import pytest
from tflm_support import (
    FLOAT_MODELS,
    HYBRID_MODEL,
    INT8_MODELS,
    load,
    max_abs_diff,
    random_inputs,
    shared_model,
)
from tinyabi_tflm import runtimes
from tinyabi_tflm.arena import find_arena
from tinyabi_tflm.jobs import probe_inputs, run_isolated
from tinyabi_tflm.tflm import TFLMPartition

import tinyabi
from tests.conftest import WHOLE_MODEL_FLOAT, WHOLE_MODEL_HYBRID
from tinyabi.errors import UnsupportedOperatorError
from tinyabi.ir import check_node

SEEDS = range(3)
#: XNNPACK's largest int8 difference from TFLM seen on these models (LSB), with some margin:
#: the runtime facts report up to 8 LSB on kws.
LITERT_INT8_LSB = {"kws_ref_model": 10, "vww_96_int8": 4, "ad01_int8": 4}


def references(name: str) -> tuple[tinyabi.Session, list[list[np.ndarray]], list[dict]]:
    graph = load(name)
    feeds = [random_inputs(graph, seed) for seed in SEEDS]
    session = tinyabi.Session(graph, backends=["reference"])
    return session, feeds, [session.run(f) for f in feeds]


def tolerance(graph: tinyabi.Graph) -> tuple[float, float]:
    """The whole-model float tolerance (the spec's verify modes are per operator), the hybrid
    one when the model has hybrid nodes."""
    hybrid = any(check_node(node, graph).signature == "hybrid" for node in graph.nodes)
    return WHOLE_MODEL_HYBRID if hybrid else WHOLE_MODEL_FLOAT


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_models_on_tflm_are_byte_identical_with_reference(name: str) -> None:
    _, feeds, expected = references(name)
    session = tinyabi.Session(load(name), backends=["tflm"], fallback="error")
    assert [p.backend for p in session.plan.partitions] == ["tflm"]
    for feed, want in zip(feeds, expected):
        got = session.run(feed)
        assert list(got) == list(want)
        for key in want:
            assert got[key].tobytes() == want[key].tobytes(), f"{name} {key}"


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_float_models_on_tflm_match_reference_within_the_spec_tolerance(name: str) -> None:
    graph = load(name)
    _, feeds, expected = references(name)
    session = tinyabi.Session(graph, backends=["tflm"], fallback="error")
    atol, rtol = tolerance(graph)
    for feed, want in zip(feeds, expected):
        got = session.run(feed)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=atol, rtol=rtol)


def test_hybrid_model_cannot_run_on_tflm_alone_and_falls_back_node_by_node() -> None:
    graph = load(HYBRID_MODEL)
    with pytest.raises(UnsupportedOperatorError, match="Hybrid models are not supported"):
        tinyabi.Session(graph, backends=["tflm"], fallback="error")
    session = tinyabi.Session(graph, backends=["tflm"])
    owners: dict[str, set[str]] = {n.op: set() for n in session.plan.nodes}
    for n in session.plan.nodes:
        owners[n.op].add(n.backend)
    assert owners["CONV_2D"] == {"reference"}
    assert owners["DEPTHWISE_CONV_2D"] == {"tflm"}
    declined = [d for n in session.plan.nodes for d in n.declined if d.backend == "tflm"]
    assert declined and all("Hybrid" in d.reason and "litert" in d.hint for d in declined)
    _, feeds, expected = references(HYBRID_MODEL)
    atol, rtol = tolerance(graph)
    for feed, want in zip(feeds, expected):
        got = session.run(feed)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=atol, rtol=rtol)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_models_on_litert_stay_within_xnnpack_s_known_differences(name: str) -> None:
    _, feeds, expected = references(name)
    default = tinyabi.Session(load(name), backends=[("litert", {"int8": True})], fallback="error")
    reference_kernels = tinyabi.Session(
        load(name), backends=[("litert", {"kernels": "reference", "int8": True})], fallback="error"
    )
    worst = {"default": 0.0, "reference": 0.0}
    for feed, want in zip(feeds, expected):
        for kind, session in (("default", default), ("reference", reference_kernels)):
            got = session.run(feed)
            for key in want:
                worst[kind] = max(worst[kind], max_abs_diff(got[key], want[key]))
    # Where LiteRT differs from TFLM, and by how much, is in benchmarks/RESULTS.md (tflm).
    assert worst["default"] <= LITERT_INT8_LSB[name], worst
    assert worst["reference"] <= 3, worst  # TFLite's reference kernels: FC rounds differently


@pytest.mark.parametrize("name", [*FLOAT_MODELS, HYBRID_MODEL])
def test_float_models_on_litert_match_reference_within_the_spec_tolerance(name: str) -> None:
    graph = load(name)
    _, feeds, expected = references(name)
    session = tinyabi.Session(graph, backends=["litert"], fallback="error")
    atol, rtol = tolerance(graph)
    for feed, want in zip(feeds, expected):
        got = session.run(feed)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=atol, rtol=rtol)


def test_ad01_arena_is_what_tflm_needs_not_what_it_reports() -> None:
    session = tinyabi.Session(load("ad01_int8"), backends=["tflm"])
    (compiled,) = session.compiled
    assert isinstance(compiled, TFLMPartition)
    arena = compiled.arena
    # The runtime facts: TFLM reports 3,984 bytes for ad01_int8 and needs 4,632.
    assert (arena.reported_total, arena.size) == (3984, 4632)
    assert compiled.memory.persistent == 4632
    assert session.plan.partitions[0].persistent_bytes == 4632
    exported = compiled.exported
    graph = session.graph
    one_less = run_isolated(
        runtimes.TFLM,
        exported.model,
        probe_inputs(graph),
        1,
        arena_size=arena.size - 1,
    )
    assert not one_less.ok


@pytest.mark.parametrize("name", INT8_MODELS)
def test_arena_search_agrees_with_the_cache_and_the_record(name: str) -> None:
    session = tinyabi.Session(load(name), backends=["tflm"])
    (compiled,) = session.compiled
    assert isinstance(compiled, TFLMPartition)
    exported, graph = compiled.exported, session.graph
    again = find_arena(exported.model, exported.digest, probe_inputs(graph), 1)
    assert again.size == compiled.arena.size and again.trials == 0  # from the cache
    assert compiled.arena.size >= compiled.arena.head


def test_inputs_are_written_on_every_run() -> None:
    graph = load("kws_ref_model")
    session = tinyabi.Session(graph, backends=["tflm"])
    reference = tinyabi.Session(graph, backends=["reference"])
    feeds = [random_inputs(graph, seed) for seed in (10, 11)]
    for feed in [feeds[0], feeds[1], feeds[0], feeds[0]]:
        got, want = session.run(feed), reference.run(feed)
        assert all(got[k].tobytes() == want[k].tobytes() for k in want)


def test_outputs_belong_to_the_caller() -> None:
    graph = load("ad01_int8")
    session = tinyabi.Session(graph, backends=["tflm"])
    first = session.run(random_inputs(graph, 0))
    kept = {k: v.copy() for k, v in first.items()}
    session.run(random_inputs(graph, 1))
    assert all(np.array_equal(first[k], kept[k]) for k in kept)


def test_a_model_given_as_a_path_runs_on_tflm() -> None:
    session = tinyabi.Session(shared_model("ad01_int8"), backends=["tflm"])
    assert session.plan.partitions[0].backend == "tflm"
