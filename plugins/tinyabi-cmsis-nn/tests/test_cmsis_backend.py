"""The cmsis-nn backend end to end: bytes identical with TensorFlow Lite Micro and the reference
kernels on the shared int8 models, on many random single-operator cases per operator, and on
mixed plans; the build cache; errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from random_cases import FAMILIES, assert_identical, family_graph, random_feeds
from tinyabi_cmsis_nn.backend import CmsisNNBackend, CmsisNNOptions
from tinyabi_cmsis_nn.build import host

import tinyabi
from tests.backends import ToyA, toy_registry
from tests.conftest import INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tests.runtimes import run_tflm
from tinyabi.backends.registry import default_registry
from tinyabi.errors import BackendError, FallbackWarning
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization


def cmsis_only(graph: Graph) -> tinyabi.Session:
    """A session that must run every node on cmsis-nn."""
    session = tinyabi.Session(graph, backends=["cmsis-nn"], fallback="error", strict=True)
    assert {p.backend for p in session.plan.partitions} == {"cmsis-nn"}
    return session


# --- shared models -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", INT8_MODELS)
def test_shared_models_match_tflm_and_reference(name: str) -> None:
    path = shared_model(name)
    graph = tinyabi.load(str(path))
    session = cmsis_only(graph)
    rng = np.random.default_rng(len(name))
    reference = tinyabi.Session(graph, backends=["reference"])
    data = path.read_bytes()
    for _ in range(3):
        feeds = random_feeds(graph, rng)
        got = session.run(feeds)
        want = reference.run(feeds)
        for (key, value), tf in zip(want.items(), run_tflm(data, feeds)):
            assert got[key].tobytes() == value.tobytes() == tf.tobytes(), key
    memory = session.plan.partitions[0]
    assert memory.persistent_bytes > 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("seed", [1, 2])
def test_random_single_operator_cases(family: str, seed: int) -> None:
    graph = family_graph(family, seed)
    assert_identical(graph, cmsis_only(graph), runs=2, seed=seed)


# --- mixed plans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 8, 21])
def test_random_models_with_declined_nodes_match_whole_model_runs(seed: int) -> None:
    """Random models mix operators cmsis-nn runs with some it declines (PAD, CONCATENATION,
    LOGISTIC, broadcasting ADD, ...): the reference takes those, the result is unchanged."""
    graph = random_int8_model(seed, layers=7)
    session = tinyabi.Session(graph, backends=["cmsis-nn"])
    backends = {p.backend for p in session.plan.partitions}
    assert "cmsis-nn" in backends
    assert_identical(graph, session, runs=2, seed=seed)


def test_toy_split_of_kws_matches_tflm() -> None:
    """kws with every DEPTHWISE_CONV_2D on a toy backend: cmsis-nn gets many small partitions
    whose inputs and outputs cross backends."""
    graph = tinyabi.load(str(shared_model("kws_ref_model")))
    registry = toy_registry([ToyA, CmsisNNBackend])
    session = tinyabi.Session(
        graph,
        backends=[("toy-a", {"ops": ["DEPTHWISE_CONV_2D"]}), "cmsis-nn"],
        fallback="error",
        registry=registry,
    )
    parts = [p.backend for p in session.plan.partitions]
    assert parts.count("cmsis-nn") >= 4 and "toy-a" in parts
    assert_identical(graph, session, runs=2, seed=5)


# --- build cache and errors ----------------------------------------------------------------------


def _tiny_graph(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"tiny{seed}")
    x = b.input("x", "int8", (1, 5, 5, 2), quant=(0.1, 2))
    w = b.const(
        "w",
        rng.integers(-127, 128, size=(3, 3, 3, 2)).astype(np.int8),
        Quantization(np.array([0.01]), np.array([0])),
    )
    y = b.tensor("y", "int8", (1, 5, 5, 3), quant=(0.2, -1))
    b.node("CONV_2D", [x, w, None], [y], padding="SAME", stride_h=1, stride_w=1)
    return b.build(outputs=[y])


def test_second_compile_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(host.ENV_CACHE_DIR, str(tmp_path))
    graph = _tiny_graph(1)
    first = CmsisNNBackend().compile(graph)
    runs = host.compiler_runs
    assert runs > 0 and any((tmp_path / "cmsis-nn").glob("*/libmodel.so"))
    second = CmsisNNBackend().compile(graph)  # a new backend, as in a new session
    assert host.compiler_runs == runs, "the second compile invoked the compiler"
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 5, 5, 2)).astype(np.int8)
    assert np.array_equal(first.run({"x": x})["y"], second.run({"x": x})["y"])
    # Both partitions share one loaded library but keep their own arenas.
    x2 = np.flip(x).copy()
    a, b = first.run({"x": x}), second.run({"x": x2})
    assert np.array_equal(a["y"], first.run({"x": x})["y"])
    assert np.array_equal(b["y"], second.run({"x": x2})["y"])


def test_compiler_failures_name_the_backend_and_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(host.ENV_CACHE_DIR, str(tmp_path))
    graph = _tiny_graph(2)
    with pytest.raises(BackendError, match=r"cmsis-nn: .*false.*failed[\s\S]*partition 'tiny2'"):
        CmsisNNBackend(CmsisNNOptions(cc="false")).compile(graph)
    with pytest.raises(BackendError, match=r"cmsis-nn.*failed to compile partition 0"):
        tinyabi.Session(graph, backends=[("cmsis-nn", {"cc": "false"})], strict=True)
    with pytest.warns(FallbackWarning, match="cmsis-nn failed to compile partition 0"):
        session = tinyabi.Session(graph, backends=[("cmsis-nn", {"cc": "false"})])
    assert [p.backend for p in session.plan.partitions] == ["reference"]
    assert [f.taken_by for f in session.fallbacks] == [["reference"]]


def test_a_missing_cmsis_nn_tree_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not a CMSIS-NN source tree"):
        CmsisNNBackend(CmsisNNOptions(cmsis_nn_path=str(tmp_path))).compile(_tiny_graph(3))


def test_backend_identity() -> None:
    backend = CmsisNNBackend()
    assert (backend.name, backend.spec_version, backend.profile) == ("cmsis-nn", "0.1", "int8")
    assert "cmsis-nn" in default_registry().names()


def test_target_option_runs_the_partition_on_qemu() -> None:
    """``target="cortex-m4"`` hands the partition to the Cortex-M build and QEMU runner."""
    import os
    import shutil

    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            message = (
                f"{tool} is missing (gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
            )
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    graph = _tiny_graph(4)
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", {"target": "cortex-m4"})], fallback="error", strict=True
    )
    assert_identical(graph, session, runs=1, seed=4)
