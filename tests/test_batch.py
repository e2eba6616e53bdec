"""Batched runs (``Session.run_batch``) are byte-identical with one run per sample: the
reference backend over stacked samples (kernels prepared for the batch size), nodes that mix
samples run one sample at a time, and other backends run their partitions sample by sample."""

from __future__ import annotations

import numpy as np
import pytest

import tinyabi
from tests.backends import toy_registry
from tests.conftest import FLOAT_MODELS, INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tinyabi.backends.reference import ReferencePartition
from tinyabi.errors import BackendError, InputError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, numpy_dtype
from tinyabi.kernels.batch import batched_graph, node_batches


def _samples(graph: Graph, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        dtype = numpy_dtype(t.dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            feeds[name] = rng.integers(info.min, info.max + 1, (count, *t.shape)).astype(dtype)
        else:
            feeds[name] = rng.standard_normal((count, *t.shape)).astype(dtype)
    return feeds


def _assert_batch_is_runs(sess: tinyabi.Session, count: int, chunk: int, seed: int = 0) -> None:
    feeds = _samples(sess.graph, count, seed)
    got = sess.run_batch(feeds, chunk=chunk)
    assert list(got) == list(sess.graph.outputs)
    for i in range(count):
        want = sess.run({name: value[i] for name, value in feeds.items()})
        for name, value in want.items():
            assert got[name].shape == (count, *value.shape)
            assert got[name][i].tobytes() == value.tobytes(), f"sample {i}, output {name}"


def _force_one_call(sess: tinyabi.Session) -> None:
    """Every node that can take the stack in one call does, whatever its outputs' size."""
    for part in sess.compiled:
        assert isinstance(part, ReferencePartition)
        part.BATCH_ELEMENTS = part.BATCH_WINDOW_ELEMENTS = 1 << 40


@pytest.mark.parametrize("name", INT8_MODELS + FLOAT_MODELS)
@pytest.mark.parametrize("one_call", [False, True])
def test_shared_models_batched_as_run_one_by_one(name: str, one_call: bool) -> None:
    sess = tinyabi.Session(shared_model(name), backends=["reference"], strict=True)
    if one_call:
        _force_one_call(sess)
    _assert_batch_is_runs(sess, count=5, chunk=3)  # a chunk of 3, then the remaining 2
    (part,) = sess.compiled
    assert isinstance(part, ReferencePartition)
    in_one_call = part.batch_plan(3).stacked_nodes
    assert in_one_call  # at least the head (SOFTMAX, FULLY_CONNECTED) takes the stack
    if one_call:
        assert len(in_one_call) == len(sess.graph.nodes)


@pytest.mark.parametrize("seed", range(8))
def test_random_int8_models_batched_as_run_one_by_one(seed: int) -> None:
    graph = random_int8_model(seed, layers=8)
    sess = tinyabi.Session(graph, backends=["reference"], strict=True)
    _force_one_call(sess)
    _, flags = batched_graph(graph, 4)
    assert all(flags), [n.op for n, ok in zip(graph.nodes, flags) if not ok]
    _assert_batch_is_runs(sess, count=4, chunk=4, seed=seed)


def _mixing_graph() -> Graph:
    """Nodes that mix the blocks of their leading axis, around nodes that do not; the input's
    leading dimension is 2, so a sample is two rows."""
    b = GraphBuilder()
    q = (0.05, 3)
    x = b.input("x", "int8", (2, 6, 4), q)
    t = b.tensor("t", "int8", (6, 2, 4), q)
    b.node("TRANSPOSE", [x, b.const("perm", np.array([1, 0, 2], np.int32))], [t])
    m = b.tensor("m", "int8", (1, 2, 4), q)
    b.node("MEAN", [t, b.const("axes", np.array([0], np.int32))], [m], keep_dims=True)
    r = b.tensor("r", "int8", (8,), q)
    b.node("RESHAPE", [m, b.const("shape", np.array([8], np.int32))], [r])
    s = b.tensor("s", "int8", (8,), (1 / 256, -128))
    b.node("SOFTMAX", [r], [s], beta=1.0)
    c = b.tensor("c", "int8", (4, 6, 4), q)
    b.node("CONCATENATION", [x, x], [c], axis=0)
    relu = b.tensor("relu", "int8", (4, 6, 4), q)
    b.node("RELU", [c], [relu])
    rows = b.const("rows", np.arange(48, dtype=np.int8).reshape(2, 6, 4), q)
    a = b.tensor("a", "int8", (2, 6, 4), q)
    b.node("ADD", [x, rows], [a])
    w = b.input("w", "int8", (3, 4), (0.02, 0))  # a filter fed at run time, one per sample
    f = b.tensor("f", "int8", (12, 3), (0.1, -5))
    b.node("FULLY_CONNECTED", [x, w, None], [f])
    return b.build([s, relu, a, f])


def test_nodes_that_mix_samples_run_one_sample_at_a_time() -> None:
    graph = _mixing_graph()
    mixing = {"TRANSPOSE", "MEAN", "SOFTMAX", "CONCATENATION", "ADD", "FULLY_CONNECTED"}
    assert [node_batches(n, graph) for n in graph.nodes] == [
        n.op not in mixing for n in graph.nodes
    ]
    sess = tinyabi.Session(graph, backends=["reference"], strict=True)
    _force_one_call(sess)
    _assert_batch_is_runs(sess, count=6, chunk=4)


def test_other_backends_run_their_partitions_sample_by_sample() -> None:
    """tflm takes the convolutions (its partitions run once per sample), the reference backend
    the rest; the plan says so and the batch equals one run per sample."""
    graph = tinyabi.load(shared_model("kws_ref_model"))
    sess = tinyabi.Session(
        graph, backends=[("tflm", {"ops": ["DEPTHWISE_CONV_2D"]}), "reference"], strict=True
    )
    assert {p.backend for p in sess.plan.partitions} == {"tflm", "reference"}
    _assert_batch_is_runs(sess, count=3, chunk=2)


def test_batch_inputs_are_checked() -> None:
    sess = tinyabi.Session(shared_model("ad01_int8"), backends=["reference"])
    (name,) = sess.graph.inputs
    with pytest.raises(InputError, match=r"expected int8\[N, 1, 640\]"):
        sess.run_batch({name: np.zeros((1, 640), np.int8)})
    with pytest.raises(InputError, match="do not match"):
        sess.run_batch({"nope": np.zeros((2, 1, 640), np.int8)})
    with pytest.raises(InputError, match="chunk"):
        sess.run_batch({name: np.zeros((2, 1, 640), np.int8)}, chunk=0)
    empty = sess.run_batch([np.zeros((0, 1, 640), np.int8)])
    assert [v.shape for v in empty.values()] == [(0, 1, 640)]


def test_a_backend_returning_a_wrong_batch_is_named() -> None:
    graph = tinyabi.load(shared_model("kws_ref_model"))
    sess = tinyabi.Session(graph, backends=["fault-shape"], registry=toy_registry())
    with pytest.raises(BackendError, match=r"'fault-shape' partition \d+ returned int8\[3, "):
        sess.run_batch(_samples(graph, 3))


def test_batches_from_several_threads() -> None:
    """Threads with batches of different sizes share the session (plans made under a lock)."""
    import threading

    graph = tinyabi.load(shared_model("kws_ref_model"))
    sess = tinyabi.Session(graph, backends=["reference"])
    feeds = [_samples(graph, count, seed=count) for count in (2, 3, 4, 5, 2, 3)]
    want = [
        [sess.run({n: v[i] for n, v in f.items()}) for i in range(len(next(iter(f.values()))))]
        for f in feeds
    ]
    errors: list[str] = []

    def worker(k: int) -> None:
        got = sess.run_batch(feeds[k])
        for i, single in enumerate(want[k]):
            if any(got[n][i].tobytes() != v.tobytes() for n, v in single.items()):
                errors.append(f"thread {k} sample {i} differs")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
