"""Native failures become tinyabi errors that name the backend and partition; a crash of the
runtime never takes the Python process down."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from tflm_support import load
from tinyabi_tflm import runtimes
from tinyabi_tflm.arena import smallest
from tinyabi_tflm.isolation import Worker
from tinyabi_tflm.jobs import run_isolated
from tinyabi_tflm.tflm import TFLMPartition

import tinyabi
from tinyabi.errors import BackendError, OptionsError, UnsupportedOperatorError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph
from tinyabi.tflite.exporter import export_tflite


def crashing_model() -> Graph:
    """MIRROR_PAD without its paddings input: TFLM dereferences the missing tensor and dies."""
    b = GraphBuilder("crashy")
    x = b.input("x", "float32", (1, 4))
    y = b.tensor("y", "float32", (1, 4))
    b.node("tflite.MIRROR_PAD", [x], [y])
    return b.build([y])


def test_a_crash_in_tflm_is_a_backend_error_and_python_lives_on() -> None:
    with pytest.raises(BackendError) as info:
        tinyabi.Session(crashing_model(), backends=["tflm"], strict=True)
    message = str(info.value)
    assert "\n" not in message
    assert "tflm backend, partition 'crashy:partition0'" in message
    assert "crashed (SIGSEGV)" in message or "crashed (SIGABRT)" in message


def test_without_strict_the_nodes_fall_back_with_a_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UnsupportedOperatorError, match="crashed"):
            tinyabi.Session(crashing_model(), backends=["tflm", "litert"])
    assert any("tflm" in str(w.message) for w in caught)


def test_the_worker_recovers_after_a_crash() -> None:
    worker = Worker()
    try:
        model = export_tflite(crashing_model())
        x = [np.zeros((1, 4), np.float32)]
        crashed = run_isolated(runtimes.TFLM, model, x, 1, worker)
        assert crashed.crashed and not crashed.ok
        pid = os.getpid()
        b = GraphBuilder("fine")
        y = b.tensor("y", "float32", (1, 4))
        b.node("tflite.ABS", [b.input("x", "float32", (1, 4))], [y])
        fine = run_isolated(runtimes.TFLM, export_tflite(b.build([y])), [-x[0] - 1], 1, worker)
        assert fine.ok and np.array_equal(fine.outputs[0], x[0] + 1)
        assert os.getpid() == pid
    finally:
        worker.close()


def test_an_unsupported_operator_version_is_a_backend_error_naming_it() -> None:
    b = GraphBuilder("versioned")
    y = b.tensor("y", "float32", (1, 4))
    b.node("tflite.ABS", [b.input("x", "float32", (1, 4))], [y], version=99)
    with pytest.raises(BackendError, match=r"litert backend, partition .*version '99'"):
        tinyabi.Session(b.build([y]), backends=["litert"], strict=True)


def test_a_run_time_failure_is_a_backend_error_naming_the_partition() -> None:
    session = tinyabi.Session(load("ad01_int8"), backends=["tflm"])
    (compiled,) = session.compiled
    assert isinstance(compiled, TFLMPartition)
    name = session.graph.inputs[0]
    with pytest.raises(BackendError, match=r"tflm backend, partition 'main:partition0'"):
        compiled.run({name: np.zeros((1, 640), np.float32)})


def test_bad_options_are_a_one_line_error() -> None:
    with pytest.raises(OptionsError) as info:
        tinyabi.Session(load("ad01_int8"), backends=[("tflm", {"bogus": 1})])
    assert str(info.value) == "backend 'tflm': unknown option 'bogus'; its options are ops, nodes"
    with pytest.raises(OptionsError) as info:
        tinyabi.Session(load("ad01_int8"), backends=[("litert", {"threads": 0})])
    message = str(info.value)
    assert message.startswith("backend 'litert': option 'threads' = 0: Input should be greater")
    assert message.endswith("its options are ops, nodes, kernels, threads, int8")
    assert "\n" not in message


@pytest.mark.parametrize(("need", "guess"), [(4632, 3984), (100, 96), (24272, 24272), (7, 4096)])
def test_the_arena_search_finds_the_smallest_size(need: int, guess: int) -> None:
    tried: list[int] = []

    def works(size: int) -> bool:
        tried.append(size)
        return size >= need

    assert smallest(works, guess=guess, good=1 << 20) == need
    assert len(tried) < 40
