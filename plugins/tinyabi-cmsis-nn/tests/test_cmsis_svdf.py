"""int8 SVDF (the ``tflite.SVDF`` extension node, int16 state) on the cmsis-nn backend through
``arm_svdf_state_s16_s8``, with the portable library and Arm's CMSIS-NN on the host: the
state is kept across runs in the generated code's persistent buffer and zeroed by
``Session.reset()``, and every run is byte-identical with TFLM's interpreter running the same
sequence (with its ``reset()`` at the same point). Sessions are ``strict=True`` with the plan
checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_cmsis_16x8 import _CFLAGS, LIBRARIES, _options
from tinyabi_cmsis_nn import constraints
from tinyabi_cmsis_nn.backend import CmsisNNBackend, CmsisNNOptions

import tinyabi
from tests.conftest import unavailable
from tests.runtimes import tflm_arena_size
from tinyabi.ir import Graph, check_node
from tinyabi.ir.builder import GraphBuilder
from tinyabi.tflite.exporter import export_tflite

#: Runs before and after the reset.
RUNS = 4


def svdf_graph(
    seed: int, batches: int, depth: int, units: int, rank: int, memory: int, bias: str = "auto"
) -> Graph:
    """One int8 SVDF with an int16 variable state and random scales and zero points; ``bias``
    "random", "zero" (the same values set to 0), "none", or "auto": random on even seeds,
    none on odd ones."""
    rng = np.random.default_rng(seed)
    filters = units * rank
    b = GraphBuilder(f"svdf{seed}")

    def scale(lo: float, hi: float) -> float:
        return float(np.float32(rng.uniform(lo, hi)))

    x = b.input("x", "int8", (batches, depth), quant=(scale(0.01, 0.1), int(rng.integers(-20, 20))))
    feature = b.const(
        "weights_feature",
        rng.integers(-127, 128, (filters, depth)).astype(np.int8),
        (scale(0.002, 0.02), 0),
    )
    time = b.const(
        "weights_time",
        rng.integers(-3000, 3000, (filters, memory)).astype(np.int16),
        (scale(0.0002, 0.002), 0),
    )
    state_scale = scale(0.002, 0.01)
    inputs: list[str | None] = [x, feature, time, None]
    values = rng.integers(-2000, 2000, units).astype(np.int32)
    if bias == "auto":
        bias = "random" if seed % 2 == 0 else "none"
    if bias != "none":
        values = values if bias == "random" else np.zeros_like(values)
        inputs[3] = b.const("bias", values, (state_scale * 0.001, 0))
    state = b.variable("state", "int16", (batches, filters * memory), quant=(state_scale, 0))
    y = b.tensor("y", "int8", (batches, units), quant=(scale(0.1, 0.5), int(rng.integers(-30, 30))))
    options = {"__class__": "SVDFOptionsT", "rank": rank, "fusedActivationFunction": 0}
    b.node("tflite.SVDF", [*inputs, state], [y], options_type="SVDFOptions", options=options)
    return b.build([y])


#: (seed, batches, depth, units, rank, memory)
SHAPES = [(0, 1, 8, 4, 1, 3), (1, 2, 13, 3, 2, 5), (2, 3, 5, 2, 3, 1), (3, 1, 40, 8, 1, 10)]


def _feeds(graph: Graph, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = graph.tensor(graph.inputs[0]).shape
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


def _tflm(model: bytes, values: list[np.ndarray], reset_before: int) -> list[np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model, arena_size=tflm_arena_size(model))
    outputs = []
    for i, value in enumerate(values):
        if i == reset_before:
            interpreter.reset()
        interpreter.set_input(value, 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
    return outputs


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"seed{s[0]}")
def test_svdf_state_persists_and_resets_as_in_tflm(shape: tuple[int, ...], library: str) -> None:
    model = export_tflite(svdf_graph(*shape))
    graph = tinyabi.load(model)
    values = _feeds(graph, 2 * RUNS, seed=shape[0])
    # TFLM's int8 SVDF crashes without a bias: its truth for none is a bias of zeros.
    truth = model if graph.nodes[0].inputs[3] else export_tflite(svdf_graph(*shape, bias="zero"))
    expected = _tflm(truth, values, reset_before=RUNS)
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", _options(library, "host"))], strict=True
    )
    assert [p.backend for p in session.plan.partitions] == ["cmsis-nn"]
    assert session.memory.persistent_tensors == ["state"]
    name = graph.outputs[0]
    got = [session.run({"x": v})[name] for v in values[:RUNS]]
    session.reset()
    got += [session.run({"x": v})[name] for v in values[RUNS:]]
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"run {i}"
    # The state matters (with a memory of more than one step): the same inputs without the
    # reset would have come out otherwise.
    again = [session.run({"x": v})[name] for v in values[RUNS:]]
    assert shape[-1] == 1 or any(a.tobytes() != b.tobytes() for a, b in zip(again, got[RUNS:]))


def test_two_sessions_keep_their_own_state() -> None:
    graph = svdf_graph(*SHAPES[0])
    first, second = (tinyabi.Session(graph, backends=["cmsis-nn"], strict=True) for _ in "ab")
    values = _feeds(graph, 3, seed=9)
    for value in values:
        first.run({"x": value})
    fresh = second.run({"x": values[0]})["y"]
    expected = _tflm(export_tflite(graph), values[:1], reset_before=-1)
    assert fresh.tobytes() == expected[0].tobytes()


def _failure(graph: Graph) -> str | None:
    node = graph.nodes[0]
    found = constraints.first_failure(node, graph, check_node(node, graph))
    return None if found is None else found[0].__name__


def test_svdf_outside_what_arm_computes_is_declined() -> None:
    graph = svdf_graph(*SHAPES[0])
    assert _failure(graph) is None
    state = graph.tensor("state")
    state.variable, state.data = False, np.zeros(state.shape, np.int16)
    assert _failure(graph) == "check_svdf_variable_state"
    graph = svdf_graph(*SHAPES[0])
    graph.tensor("weights_time").dtype = "int8"
    assert _failure(graph) == "check_svdf_parameters"


def test_svdf_is_supported_on_a_qemu_target() -> None:
    """The state lives on the host between QEMU runs (test_cmsis_state_qemu.py runs it)."""
    graph = svdf_graph(*SHAPES[0])
    node = graph.nodes[0]
    backend = CmsisNNBackend()
    backend.options = CmsisNNOptions(target="cortex-m4")
    assert backend.supports(node, graph, check_node(node, graph)).supported


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_an_svdf_project_makes_without_warnings(tmp_path: Path, target: str, library: str) -> None:
    """The generated project keeps the state outside the arena (``MODEL_STATE_SIZE``,
    ``model_state``, ``model_reset``) and builds with ``-Werror`` with either library."""
    cc, cflags = _CFLAGS[target]
    if shutil.which(cc) is None or shutil.which("make") is None:
        unavailable(f"{cc} or make is missing")
    graph = svdf_graph(*SHAPES[1])
    backend = CmsisNNBackend(CmsisNNOptions.model_validate(_options(library, "host")))
    backend.generate_code(graph, tmp_path, target=None if target == "host" else target)
    state_bytes = -(-graph.tensor("state").nbytes // 16) * 16  # 16-byte aligned
    assert f"#define MODEL_STATE_SIZE {state_bytes}" in (tmp_path / "model.h").read_text()
    assert "arm_svdf_state_s16_s8(" in (tmp_path / "model.c").read_text()
    result = subprocess.run(
        ["make", "-s", f"CC={cc}", f"CFLAGS={cflags}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr
