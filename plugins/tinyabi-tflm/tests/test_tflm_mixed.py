"""Shared models split across tflm, litert and reference: outputs identical to whole-model runs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from tflm_support import INT8_MODELS, load, random_inputs

import tinyabi
from tinyabi.session import BackendSpec

SEEDS = range(3)


def node_names(name: str, op: str | None = None) -> list[str]:
    return [n.name for n in load(name).nodes if op is None or n.op == op]


def splits(name: str) -> list[list[BackendSpec]]:
    """tflm + reference splits of a model: by operator and node by node."""
    names = node_names(name)
    ops = sorted({n.op for n in load(name).nodes})
    first: BackendSpec = ("tflm", {"ops": ops[:1]} if len(ops) > 1 else {"nodes": names[:3]})
    return [
        [first, "reference"],
        [("tflm", {"nodes": names[::2]}), "reference"],
        [("tflm", {"nodes": names[1::2]}), "reference"],
        ["reference", "tflm"],  # reference takes everything: tflm is listed but idle
    ]


def three_way(name: str) -> list[BackendSpec]:
    """tflm, litert and reference each take part; litert (told to take int8 nodes) only where it
    is bit-exact with TFLM (XNNPACK's int8 convolutions and fully-connected layers are not, see
    the model tests)."""
    if name == "ad01_int8":
        fc = node_names(name)
        return [
            ("tflm", {"nodes": fc[:4] + fc[8:]}),
            ("litert", {"nodes": [fc[4]], "int8": True}),
            "reference",
        ]
    return [
        ("tflm", {"ops": ["CONV_2D"]}),
        ("litert", {"ops": ["RESHAPE", "AVERAGE_POOL_2D", "SOFTMAX"], "int8": True}),
        "reference",
    ]


def assert_same_as_whole_model(name: str, session: tinyabi.Session) -> None:
    graph = load(name)
    whole = [tinyabi.Session(graph, backends=[b]) for b in ("reference", "tflm")]
    for seed in SEEDS:
        feeds = random_inputs(graph, seed)
        got = session.run(feeds)
        for other in whole:
            want = other.run(feeds)
            assert list(got) == list(want)
            for key in want:
                assert got[key].tobytes() == want[key].tobytes(), (name, seed, session.plan)


@pytest.mark.parametrize("name", INT8_MODELS)
@pytest.mark.parametrize("split", range(4))
def test_tflm_and_reference_mixes_are_byte_identical(name: str, split: int) -> None:
    backends: Sequence[BackendSpec] = splits(name)[split]
    session = tinyabi.Session(load(name), backends=backends)
    used = {p.backend for p in session.plan.partitions}
    if split < 3:
        assert used == {"tflm", "reference"}, session.plan
    assert_same_as_whole_model(name, session)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_three_backend_mixes_are_byte_identical(name: str) -> None:
    session = tinyabi.Session(load(name), backends=three_way(name))
    assert {p.backend for p in session.plan.partitions} == {"tflm", "litert", "reference"}
    assert len(session.plan.partitions) >= 3
    assert_same_as_whole_model(name, session)


def test_mixed_plan_memory_counts_each_tflm_arena() -> None:
    session = tinyabi.Session(load("kws_ref_model"), backends=three_way("kws_ref_model"))
    parts = session.plan.partitions
    tflm = [p for p in parts if p.backend == "tflm"]
    assert tflm and all(p.persistent_bytes > 0 for p in tflm)
    assert session.memory.persistent_bytes == sum(p.persistent_bytes for p in parts)
