"""One Session called from many threads at once gives every caller the same bytes as a
sequential run, on every backend in the repository (TFLM and LiteRT interpreters and the
generated CMSIS-NN code on the host are not re-entrant: their partitions serialize runs; each
QEMU run is its own process)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import tinyabi
from tests.conftest import shared_model, unavailable
from tinyabi.feeds import random_inputs

THREADS = 8

BackendSpec = str | tuple[str, Mapping[str, Any]]

#: Test id -> the backend list that runs all of kws on the backends named (litert declines
#: int8 nodes unless told to accept its rounding), and the runs per thread. "mixed" alternates
#: tflm and cmsis-nn partitions, so the session hands tensors over between them.
BACKENDS: dict[str, tuple[list[BackendSpec], int]] = {
    "reference": (["reference"], 40),
    "tflm": (["tflm"], 40),
    "litert": ([("litert", {"int8": True})], 40),
    "cmsis-nn": (["cmsis-nn"], 40),
    "cmsis-nn-qemu": ([("cmsis-nn", {"target": "cortex-m4"})], 2),
    "mixed": ([("tflm", {"ops": ["DEPTHWISE_CONV_2D"]}), "cmsis-nn"], 20),
}


@pytest.fixture(scope="module")
def kws() -> tinyabi.Graph:
    return tinyabi.load(shared_model("kws_ref_model"))


@pytest.mark.parametrize("case", list(BACKENDS))
def test_one_session_from_many_threads_matches_sequential_runs(
    kws: tinyabi.Graph, case: str
) -> None:
    specs, runs_per_thread = BACKENDS[case]
    names = [spec if isinstance(spec, str) else spec[0] for spec in specs]
    if case.endswith("-qemu"):
        from tinyabi_cmsis_nn.build import cortexm

        if cortexm.missing_tools():
            unavailable(f"{cortexm.missing_tools()} missing: install {cortexm.DEBIAN_PACKAGES}")
    session = tinyabi.Session(kws, backends=specs, fallback="error", strict=True)
    assert {p.backend for p in session.plan.partitions} == set(names)
    assert (len(session.plan.partitions) > 1) == (len(names) > 1)  # mixed hands tensors over

    assert_threads_match_sequential(session, runs_per_thread, case)


@pytest.mark.parametrize("backend", ["tflm", "litert"])
def test_stateful_partition_runs_stay_atomic_across_threads(backend: str) -> None:
    """An LSTM's state is reset before every run: reset and run must not interleave."""
    from tinyabi_tflm.forms import extension_model
    from tinyabi_tflm.litert import LiteRTPartition
    from tinyabi_tflm.tflm import TFLMPartition

    graph = extension_model("UNIDIRECTIONAL_SEQUENCE_LSTM", "lstm", "float32")
    assert graph is not None
    session = tinyabi.Session(graph, backends=[backend], fallback="error", strict=True)
    assert [p.backend for p in session.plan.partitions] == [backend]
    compiled = session.compiled[0]
    assert isinstance(compiled, TFLMPartition | LiteRTPartition) and compiled.exported.stateful
    assert_threads_match_sequential(session, 500, f"{backend} LSTM")


def _key(outputs: Mapping[str, np.ndarray]) -> dict[str, tuple[Any, ...]]:
    return {name: (v.dtype, v.shape, v.tobytes()) for name, v in outputs.items()}


def assert_threads_match_sequential(
    session: tinyabi.Session, runs_per_thread: int, what: str
) -> None:
    """``THREADS`` threads run ``session`` on distinct random inputs at the same time; each
    output has the bytes a sequential run gave for the same input."""
    count = THREADS * runs_per_thread
    feeds = [random_inputs(session.graph, seed) for seed in range(count)]
    expected = [_key(session.run(f)) for f in feeds]
    assert len({repr(e) for e in expected}) > 1  # the inputs give distinct outputs

    got: list[dict[str, np.ndarray] | None] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(first: int) -> None:
        try:
            start.wait()
            for i in range(first, count, THREADS):  # the threads' runs interleave
                got[i] = session.run(feeds[i])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, even inside a short run
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        sys.setswitchinterval(switch)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[0]
    wrong = [
        i for i, (out, want) in enumerate(zip(got, expected)) if out is None or _key(out) != want
    ]
    assert not wrong, f"{what}: {len(wrong)} of {count} threaded runs differ from sequential"
