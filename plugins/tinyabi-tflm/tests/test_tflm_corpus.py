"""Issue 9's measure on a corpus of constructed models, one per class TFLM runs (int8 CNN,
16x8 convolutions, LSTM with variable state, the signal library's audio front end, float, and
builtins outside the spec): run through ``Session(backends=["tflm"], fallback="error",
strict=True)`` over consecutive inputs on one session, every output is byte-identical with
TFLM's own interpreter on the same file, and a reset resets both alike."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from test_tflm_state import lstm_graph
from tflm_corpus import CORPUS, tflm_outputs
from tflm_support import random_inputs

import tinyabi
from tinyabi.ir.graph import Graph
from tinyabi.tflite.exporter import export_tflite

#: Runs before and after the reset.
RUNS = 4

MODELS: dict[str, Callable[[], Graph]] = {**CORPUS, "lstm_state": lstm_graph}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tflm_session_gives_tflm_s_outputs_run_after_run(name: str) -> None:
    model = export_tflite(MODELS[name]())
    graph = tinyabi.load(model)
    session = tinyabi.Session(graph, backends=["tflm"], fallback="error", strict=True)
    assert {n.backend for n in session.plan.nodes} == {"tflm"}, session.plan
    feeds = [random_inputs(graph, seed) for seed in range(2 * RUNS)]
    expected = tflm_outputs(model, len(graph.outputs), feeds, reset_before=RUNS)
    got = []
    for run, inputs in enumerate(feeds):
        if run == RUNS:
            session.reset()
        result = session.run(inputs)
        got.append([result[n] for n in graph.outputs])
    for run, (ours, theirs) in enumerate(zip(got, expected)):
        for a, b in zip(ours, theirs):
            assert a.dtype == b.dtype and a.shape == b.shape, (name, run)
            assert a.tobytes() == b.tobytes(), (name, run, np.abs(a - b).max())
    # The runs differ from one another, so the comparison saw real work.
    assert any(not np.array_equal(got[0][0], g[0]) for g in got[1:]), name
