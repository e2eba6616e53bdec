"""Plans that mix the cmsis-nn, tflm and reference backends give whole-model results."""

from __future__ import annotations

import pytest

import tinyabi
from tests.conftest import INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tinyabi.feeds import random_inputs


def _assert_same_as_reference(graph: tinyabi.Graph, backends: list[object], seed: int) -> set[str]:
    mixed = tinyabi.Session(graph, backends=backends)  # type: ignore[arg-type]
    alone = tinyabi.Session(graph, backends=["reference"])
    for run in range(2):
        feeds = random_inputs(graph, seed + run)
        got, want = mixed.run(feeds), alone.run(feeds)
        for name in want:
            assert got[name].tobytes() == want[name].tobytes(), f"{name} differs ({backends})"
    return {p.backend for p in mixed.plan.partitions}


@pytest.mark.parametrize("seed", [3, 8, 21, 30])
def test_cmsis_nn_then_tflm_on_random_models(seed: int) -> None:
    """cmsis-nn first, tflm takes what it declines (PAD, LOGISTIC, CONCATENATION, ...),
    the reference nothing: byte-identical with a reference-only run."""
    graph = random_int8_model(seed, layers=7)
    used = _assert_same_as_reference(graph, ["cmsis-nn", "tflm"], seed)
    assert "cmsis-nn" in used


@pytest.mark.parametrize("name", INT8_MODELS)
def test_three_backends_split_a_shared_model(name: str) -> None:
    """tflm takes only the depthwise convolutions and the softmax, cmsis-nn the rest it
    supports, the reference whatever is left."""
    graph = tinyabi.load(shared_model(name))
    ops = ["DEPTHWISE_CONV_2D", "SOFTMAX"]
    backends = [("tflm", {"ops": ops}), "cmsis-nn", "reference"]
    used = _assert_same_as_reference(graph, backends, 0)
    assert "cmsis-nn" in used
    # tflm runs exactly what the plan gives it (a fallback would fail: FallbackWarning is an error).
    assert ("tflm" in used) == any(n.op in ops for n in graph.nodes)
