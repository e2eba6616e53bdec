"""int8 and 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM (the ``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM``
extension node, int16 gates and cell state) on the cmsis-nn backend through
``arm_lstm_unidirectional_s8`` and ``arm_lstm_unidirectional_s16``, with the portable library
and Arm's CMSIS-NN on the host: the
output state and cell state are kept across runs in the generated code's persistent buffer and
set back by ``Session.reset()`` (the output state to its zero point), and every run is
byte-identical with TFLM's interpreter running the same sequence. Sessions are
``strict=True`` with the plan checked."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
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
    seed: int,
    batches: int,
    steps: int,
    size: int,
    hidden: int,
    time_major: bool,
    cell: int,
    dtype: str = "int8",
) -> Graph:
    """One integer LSTM as the converter writes it (no peephole, projection or layer norm),
    int8 or (``dtype="int16"``) 16x8 with zero points 0 and int64 biases, with random scales
    and zero points and a cell state scale of ``2**cell``. The recurrent weights' scale keeps
    each row's real ``sum(|w|)`` below 8, so that the recurrent part of a gate stays within
    the gate input's int16 range (``check_lstm_recurrent_part_in_int16``)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"lstm{seed}")
    s16 = dtype == "int16"

    def scale(lo: float, hi: float) -> float:
        return float(np.float32(rng.uniform(lo, hi)))

    def zero_point(lo: int, hi: int) -> int:
        return 0 if s16 else int(rng.integers(lo, hi))

    shape = (steps, batches, size) if time_major else (batches, steps, size)
    x_scale = scale(0.0002, 0.001) if s16 else scale(0.02, 0.1)
    x = b.input("x", dtype, shape, quant=(x_scale, zero_point(-10, 10)))
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
            (scale(0.3, 0.9) * 8 / (127 * hidden), 0),
        )
        for g in gates
    ]
    bias_type = np.int64 if s16 else np.int32
    biases = [
        b.const(f"{g}_bias", rng.integers(-3000, 3000, hidden).astype(bias_type), (0.0002, 0))
        for g in gates
    ]
    hidden_scale = scale(0.00005, 0.0002) if s16 else scale(0.004, 0.01)
    hidden_quant = (hidden_scale, zero_point(-20, 20))
    output_state = b.variable("output_state", dtype, (batches, hidden), quant=hidden_quant)
    cell_state = b.variable("cell_state", "int16", (batches, hidden), quant=(2.0**cell, 0))
    out_shape = (steps, batches, hidden) if time_major else (batches, steps, hidden)
    y = b.tensor("y", dtype, out_shape, quant=hidden_quant)
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
#: The same shapes as 16x8 LSTMs (other seeds).
SHAPES_16X8 = [(10 + seed, *rest, "int16") for seed, *rest in SHAPES]


def _feeds(graph: Graph, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = graph.tensor(graph.inputs[0])
    info = np.iinfo(np.dtype(x.dtype))
    return [
        rng.integers(int(info.min), int(info.max) + 1, x.shape).astype(x.dtype)
        for _ in range(count)
    ]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(
    "shape", SHAPES + SHAPES_16X8, ids=lambda s: f"{(*s[7:], 'int8')[0]}-seed{s[0]}"
)
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


def _with_constant(graph: Graph, name: str, values: np.ndarray) -> Graph:
    graph.tensor(name).data = values
    return graph


def test_lstm_16x8_outside_what_arm_computes_is_declined() -> None:
    shape = SHAPES_16X8[3]
    assert _failure(lstm_graph(*shape)) is None
    # Recurrent weights whose part of a gate can leave int16: TFLM clamps it first, Arm's
    # kernels do not.
    graph = lstm_graph(*shape)
    weights = graph.tensor("recurrent_to_cell")
    assert weights.quant is not None
    weights.quant = replace(weights.quant, scale=weights.quant.scale * 4)
    assert _failure(graph) == "check_lstm_recurrent_part_in_int16"
    # A bias beyond what Arm's 32-bit sums (DSP and MVE) hold.
    bias = np.full(12, 2**31 - 2**20, np.int64)
    graph = _with_constant(lstm_graph(*shape), "forget_bias", bias)
    assert _failure(graph) == "check_lstm_s16_sums_fit_int32"
    # int32 biases are the int8 LSTM's; an int16 zero point is not CMSIS-NN's.
    graph = lstm_graph(*shape)
    graph.tensor("forget_bias").dtype = "int32"
    assert _failure(graph) == "check_lstm_parameters"
    graph = lstm_graph(*shape)
    state = graph.tensor("output_state")
    assert state.quant is not None
    state.quant = replace(state.quant, zero_point=state.quant.zero_point + 3)
    assert _failure(graph) == "check_int16_zero_points"


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("target", ["host", "cortex-m55"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_an_lstm_project_makes_without_warnings(
    tmp_path: Path, target: str, library: str, dtype: str
) -> None:
    """The generated project (the states outside the arena, ``model_reset`` setting an int8
    output state to its zero point) builds with ``-Werror`` with either library."""
    cc, cflags = _CFLAGS[target]
    if shutil.which(cc) is None or shutil.which("make") is None:
        unavailable(f"{cc} or make is missing")
    # int8: an output state zero point of -18
    graph = lstm_graph(*(SHAPES if dtype == "int8" else SHAPES_16X8)[2])
    backend = CmsisNNBackend(CmsisNNOptions.model_validate(_options(library, "host")))
    backend.generate_code(graph, tmp_path, target=None if target == "host" else target)
    model_c = (tmp_path / "model.c").read_text()
    assert f"arm_lstm_unidirectional_s{dtype[3:]}(" in model_c
    if dtype == "int8":
        zero_point = int(graph.tensor("output_state").quant.zero_point[0]) & 0xFF  # type: ignore[union-attr]
        reset = model_c.split("void model_reset(void)")[1].split("}")[0]
        assert zero_point and f", {zero_point}, " in reset and "zero point" in reset
    result = subprocess.run(
        ["make", "-s", f"CC={cc}", f"CFLAGS={cflags}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr


@pytest.mark.parametrize(("dtype", "seed", "factor"), [("int8", 0, 30.0), ("int16", 6, 6.0)])
def test_the_recurrent_part_check_declines_what_really_differs(
    dtype: str, seed: int, factor: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recurrent weights scaled up until their part of a gate leaves int16: the check
    declines the LSTM, and without it (the check taken out) the backend's bytes differ from
    TFLM's, so the check is needed (for both types)."""
    graph = lstm_graph(seed, 1, 6, 8, 8, False, -11, dtype)
    for gate in ("input", "forget", "cell", "output"):
        weights = graph.tensor(f"recurrent_to_{gate}")
        assert weights.quant is not None
        weights.quant = replace(weights.quant, scale=weights.quant.scale * factor)
    assert _failure(graph) == "check_lstm_recurrent_part_in_int16"
    op = "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM"
    others = tuple(
        c for c in constraints.CHECKS[op] if c is not constraints.check_lstm_recurrent_part_in_int16
    )
    monkeypatch.setitem(constraints.CHECKS, op, others)
    model = export_tflite(graph)
    values = _feeds(graph, 2, seed)
    expected = _tflm(model, values, reset_before=len(values))
    session = tinyabi.Session(tinyabi.load(model), backends=["cmsis-nn"], strict=True)
    assert [p.backend for p in session.plan.partitions] == ["cmsis-nn"]
    got = [session.run({"x": v})["y"] for v in values]
    assert any(a.tobytes() != b.tobytes() for a, b in zip(got, expected))
