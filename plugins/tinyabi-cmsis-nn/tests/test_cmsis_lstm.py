"""int8 UNIDIRECTIONAL_SEQUENCE_LSTM (the ``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM`` extension
node, int16 gates and cell state) on the cmsis-nn backend through
``arm_lstm_unidirectional_s8``, with the portable library and Arm's CMSIS-NN on the host: the
output state and cell state are kept across runs in the generated code's persistent buffer and
set back by ``Session.reset()`` (the output state to its zero point), and every run is
byte-identical with TFLM's interpreter running the same sequence. Sessions are
``strict=True`` with the plan checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_cmsis_16x8 import _CFLAGS, LIBRARIES, _options
from test_cmsis_svdf import _tflm
from tinyabi_cmsis_nn import constraints
from tinyabi_cmsis_nn.backend import CmsisNNBackend, CmsisNNOptions

import tinyabi
from tests.conftest import unavailable
from tinyabi.ir import Graph, check_node
from tinyabi.ir.builder import GraphBuilder
from tinyabi.tflite.exporter import export_tflite

#: Runs before and after the reset.
RUNS = 3


def lstm_graph(
    seed: int, batches: int, steps: int, size: int, hidden: int, time_major: bool, cell: int
) -> Graph:
    """One int8 LSTM as the converter writes it (no peephole, projection or layer norm),
    with random scales and zero points and a cell state scale of ``2**cell``."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"lstm{seed}")

    def scale(lo: float, hi: float) -> float:
        return float(np.float32(rng.uniform(lo, hi)))

    shape = (steps, batches, size) if time_major else (batches, steps, size)
    x = b.input("x", "int8", shape, quant=(scale(0.02, 0.1), int(rng.integers(-10, 10))))
    gates = ("input", "forget", "cell", "output")
    to_input = [
        b.const(
            f"input_to_{g}",
            rng.integers(-127, 128, (hidden, size)).astype(np.int8),
            (scale(0.002, 0.02), 0),
        )
        for g in gates
    ]
    recurrent = [
        b.const(
            f"recurrent_to_{g}",
            rng.integers(-127, 128, (hidden, hidden)).astype(np.int8),
            (scale(0.002, 0.02), 0),
        )
        for g in gates
    ]
    biases = [
        b.const(f"{g}_bias", rng.integers(-3000, 3000, hidden).astype(np.int32), (0.0002, 0))
        for g in gates
    ]
    hidden_quant = (scale(0.004, 0.01), int(rng.integers(-20, 20)))
    output_state = b.variable("output_state", "int8", (batches, hidden), quant=hidden_quant)
    cell_state = b.variable("cell_state", "int16", (batches, hidden), quant=(2.0**cell, 0))
    out_shape = (steps, batches, hidden) if time_major else (batches, steps, hidden)
    y = b.tensor("y", "int8", out_shape, quant=hidden_quant)
    inputs: list[str | None] = [x, *to_input, *recurrent, None, None, None, *biases]
    inputs += [None, None, output_state, cell_state, None, None, None, None]
    options = {
        "__class__": "UnidirectionalSequenceLSTMOptionsT",
        "fusedActivationFunction": 4,
        "timeMajor": time_major,
    }
    b.node(
        "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM",
        inputs,
        [y],
        options_type="UnidirectionalSequenceLSTMOptions",
        options=options,
    )
    return b.build([y])


#: (seed, batches, steps, size, hidden, time_major, cell scale power)
SHAPES = [
    (0, 1, 3, 4, 3, False, -11),
    (1, 2, 4, 7, 5, False, -12),
    (2, 3, 2, 5, 4, True, -11),
    (3, 1, 6, 16, 12, False, -11),
]


def _feeds(graph: Graph, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = graph.tensor(graph.inputs[0]).shape
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"seed{s[0]}")
def test_lstm_state_persists_and_resets_as_in_tflm(shape: tuple, library: str) -> None:
    model = export_tflite(lstm_graph(*shape))
    graph = tinyabi.load(model)
    values = _feeds(graph, 2 * RUNS, seed=shape[0])
    expected = _tflm(model, values, reset_before=RUNS)
    backends = [("cmsis-nn", _options(library, "host"))]
    session = tinyabi.Session(graph, backends=backends, strict=True)
    assert [p.backend for p in session.plan.partitions] == ["cmsis-nn"]
    assert sorted(session.memory.persistent_tensors) == ["cell_state", "output_state"]
    got = [session.run({"x": v})["y"] for v in values[:RUNS]]
    session.reset()
    got += [session.run({"x": v})["y"] for v in values[RUNS:]]
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"run {i}"
    # The outputs are not trivial, and the state matters: without the reset the same inputs
    # come out otherwise.
    assert len({int(v) for a in got for v in a.reshape(-1)}) > 4
    again = [session.run({"x": v})["y"] for v in values[RUNS:]]
    assert any(a.tobytes() != b.tobytes() for a, b in zip(again, got[RUNS:]))


def _failure(graph: Graph) -> str | None:
    node = graph.nodes[0]
    found = constraints.first_failure(node, graph, check_node(node, graph))
    return None if found is None else found[0].__name__


def test_lstm_outside_what_arm_computes_is_declined() -> None:
    assert _failure(lstm_graph(*SHAPES[0])) is None
    # A cell state scale whose tanh arm_nn_activation_s16 has no shift for.
    assert _failure(lstm_graph(0, 1, 3, 4, 3, False, -10)) == "check_lstm_parameters"
    graph = lstm_graph(*SHAPES[0])
    graph.nodes[0].attrs["options"]["cellClip"] = 3.0
    assert _failure(graph) == "check_lstm_parameters"
    graph = lstm_graph(*SHAPES[0])
    state = graph.tensor("cell_state")
    state.variable, state.data = False, np.zeros(state.shape, np.int16)
    assert _failure(graph) == "check_lstm_variable_state"


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("target", ["host", "cortex-m55"])
def test_an_lstm_project_makes_without_warnings(tmp_path: Path, target: str, library: str) -> None:
    """The generated project (the states outside the arena, ``model_reset`` setting the
    output state to its zero point) builds with ``-Werror`` with either library."""
    cc, cflags = _CFLAGS[target]
    if shutil.which(cc) is None or shutil.which("make") is None:
        unavailable(f"{cc} or make is missing")
    graph = lstm_graph(*SHAPES[2])  # an output state zero point of -18
    backend = CmsisNNBackend(CmsisNNOptions.model_validate(_options(library, "host")))
    backend.generate_code(graph, tmp_path, target=None if target == "host" else target)
    model_c = (tmp_path / "model.c").read_text()
    assert "arm_lstm_unidirectional_s8(" in model_c
    zero_point = int(graph.tensor("output_state").quant.zero_point[0]) & 0xFF  # type: ignore[union-attr]
    reset = model_c.split("void model_reset(void)")[1].split("}")[0]
    assert zero_point and f", {zero_point}, " in reset and "zero point" in reset
    result = subprocess.run(
        ["make", "-s", f"CC={cc}", f"CFLAGS={cflags}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr
