"""Stateful operators on tflm: variable tensors keep their values across runs as in TFLM, and
``Session.reset()`` zeroes them as TFLM's ``reset()`` does. TFLM's own interpreter on the same
file is the truth."""

from __future__ import annotations

from collections.abc import Callable

import flatbuffers
import numpy as np
import pytest

import tinyabi
from tests.runtimes import tflm_arena_size
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.schema import FILE_IDENTIFIER, schema

#: Runs compared before and after a reset.
RUNS = 5


def lstm_graph() -> Graph:
    """An int8 UNIDIRECTIONAL_SEQUENCE_LSTM whose output and cell state are variable tensors,
    laid out as the converter writes it (no peephole, projection or layer norm)."""
    rng = np.random.default_rng(11)
    batch, steps, n_input, n_cell = 1, 3, 4, 3
    b = GraphBuilder("lstm")
    x = b.input("x", "int8", (batch, steps, n_input), quant=(0.05, 3))

    def weights(name: str, shape: tuple[int, int]) -> str:
        return b.const(name, rng.integers(-127, 128, shape).astype(np.int8), (0.01, 0))

    gates = ("input", "forget", "cell", "output")
    to_input = [weights(f"input_to_{g}", (n_cell, n_input)) for g in gates]
    recurrent = [weights(f"recurrent_to_{g}", (n_cell, n_cell)) for g in gates]
    biases = [
        b.const(f"{g}_bias", rng.integers(-800, 800, n_cell).astype(np.int32), (0.0005, 0))
        for g in gates
    ]
    output_state = b.variable("output_state", "int8", (batch, n_cell), quant=(0.05, 2))
    cell_state = b.variable("cell_state", "int16", (batch, n_cell), quant=(2**-11, 0))
    y = b.tensor("y", "int8", (batch, steps, n_cell), quant=(0.05, 2))
    inputs: list[str | None] = [
        x,
        *to_input,
        *recurrent,
        None,
        None,
        None,
        *biases,
        None,
        None,
        output_state,
        cell_state,
        None,
        None,
        None,
        None,
    ]
    options = {"__class__": "UnidirectionalSequenceLSTMOptionsT", "fusedActivationFunction": 4}
    b.node(
        "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM",
        inputs,
        [y],
        options_type="UnidirectionalSequenceLSTMOptions",
        options=options,
    )
    return b.build([y])


def svdf_graph() -> Graph:
    """An int8 SVDF (rank 1, RELU) whose activation state is a variable int16 tensor."""
    rng = np.random.default_rng(12)
    batch, size, units, memory = 1, 8, 4, 3
    b = GraphBuilder("svdf")
    x = b.input("x", "int8", (batch, size), quant=(0.05, -1))
    feature = b.const(
        "weights_feature", rng.integers(-127, 128, (units, size)).astype(np.int8), (0.01, 0)
    )
    time = b.const(
        "weights_time", rng.integers(-1000, 1000, (units, memory)).astype(np.int16), (0.001, 0)
    )
    bias = b.const("bias", rng.integers(-50, 50, units).astype(np.int32), (0.004 * 0.001, 0))
    state = b.variable("activation_state", "int16", (batch, memory * units), quant=(0.004, 0))
    y = b.tensor("y", "int8", (batch, units), quant=(0.02, -128))
    options = {"__class__": "SVDFOptionsT", "rank": 1, "fusedActivationFunction": 1}
    b.node(
        "tflite.SVDF",
        [x, feature, time, bias, state],
        [y],
        options_type="SVDFOptions",
        options=options,
    )
    return b.build([y])


MODELS: dict[str, Callable[[], Graph]] = {"lstm": lstm_graph, "svdf": svdf_graph}


def feeds(graph: Graph, count: int, seed: int) -> list[np.ndarray]:
    """``count`` different full-range int8 inputs for the graph's one input."""
    rng = np.random.default_rng(seed)
    shape = graph.tensor(graph.inputs[0]).shape
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


def tflm_sequence(model: bytes, values: list[np.ndarray], reset_before: int) -> list[np.ndarray]:
    """The outputs of one TFLM interpreter run on each value in turn, with ``reset()`` called
    before run number ``reset_before``."""
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


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_state_persists_across_runs_and_resets_as_in_tflm(kind: str) -> None:
    model = export_tflite(MODELS[kind]())
    graph = tinyabi.load(model)
    states = [n for n, t in graph.tensors.items() if t.variable]
    assert states and all(graph.tensor(n).data is None for n in states)
    values = feeds(graph, 2 * RUNS, seed=3)
    expected = tflm_sequence(model, values, reset_before=RUNS)

    session = tinyabi.Session(graph, backends=["tflm"], strict=True)
    assert {n.backend for n in session.plan.nodes} == {"tflm"}
    name = graph.outputs[0]
    got = [session.run({graph.inputs[0]: v})[name] for v in values[:RUNS]]
    session.reset()
    got += [session.run({graph.inputs[0]: v})[name] for v in values[RUNS:]]
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"run {i}"
    # The state matters: without a reset the second sequence would have come out otherwise.
    assert any(not np.array_equal(a, b) for a, b in zip(got[1:RUNS], got[RUNS + 1 :]))
    assert not all(np.array_equal(got[0], g) for g in got[1:RUNS])

    memory = session.memory
    assert sorted(memory.persistent_tensors) == sorted(states)
    assert not {t.tensor for t in memory.tensors} & set(states)
    state_bytes = sum(-(-graph.tensor(n).nbytes // 16) * 16 for n in states)
    partitions = sum(p.persistent_bytes for p in session.plan.partitions)
    assert memory.persistent_bytes == partitions + state_bytes


def test_constant_zero_state_still_restarts_every_run() -> None:
    graph = svdf_graph()
    state = graph.tensor("activation_state")
    state.variable, state.data = False, np.zeros(state.shape, np.int16)
    session = tinyabi.Session(graph, backends=["tflm"], strict=True)
    value = feeds(graph, 1, seed=4)[0]
    first, second = (session.run({"x": value})["y"] for _ in range(2))
    assert np.array_equal(first, second)
    state.variable, state.data = True, None
    (fresh,) = tflm_sequence(export_tflite(graph), [value], reset_before=-1)
    assert np.array_equal(first, fresh)


def _with_state_buffers(model: bytes, fill: int) -> bytes:
    """``model`` with every variable tensor given a buffer filled with ``fill``, as some
    converters write state."""
    tree = schema.ModelT.InitFromPackedBuf(model, 0)
    for tensor in tree.subgraphs[0].tensors:
        if tensor.isVariable:
            size = int(np.prod(tensor.shape)) * (2 if tensor.type == schema.TensorType.INT16 else 1)
            buffer = schema.BufferT()
            buffer.data = np.full(size, fill, np.uint8)
            tensor.buffer = len(tree.buffers)
            tree.buffers.append(buffer)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def test_state_with_a_buffer_of_zeros_imports_as_variable_with_a_note() -> None:
    original = _with_state_buffers(export_tflite(svdf_graph()), 0)
    graph = tinyabi.load(original)
    state = graph.tensor("activation_state")
    assert state.variable and state.data is None
    assert any("'activation_state'" in n and "[variable-buffer]" in n for n in graph.import_notes)
    values = feeds(graph, 3, seed=5)
    expected = tflm_sequence(original, values, reset_before=-1)
    session = tinyabi.Session(graph, backends=["tflm"], strict=True)
    for value, want in zip(values, expected):
        assert np.array_equal(session.run({"x": value})["y"], want)


def test_state_with_a_nonzero_buffer_is_refused() -> None:
    from tinyabi.errors import ModelError

    with pytest.raises(ModelError, match=r"activation_state.*nonzero initial state"):
        tinyabi.load(_with_state_buffers(export_tflite(svdf_graph()), 7))


def test_int8_state_without_a_zero_point_is_refused() -> None:
    from tinyabi.errors import ModelError

    tree = schema.ModelT.InitFromPackedBuf(export_tflite(lstm_graph()), 0)
    for tensor in tree.subgraphs[0].tensors:
        if tensor.name == b"output_state":
            tensor.quantization = None
    builder = flatbuffers.Builder(4096)
    builder.Finish(tree.Pack(builder), file_identifier=FILE_IDENTIFIER)
    with pytest.raises(ModelError, match=r"output_state.*needs a zero point"):
        tinyabi.load(bytes(builder.Output()))


def float_svdf_graph() -> Graph:
    """A float32 SVDF whose activation state is a variable tensor."""
    rng = np.random.default_rng(13)
    b = GraphBuilder("svdf_float")
    x = b.input("x", "float32", (1, 8))
    feature = b.const("weights_feature", rng.uniform(-1, 1, (4, 8)).astype(np.float32))
    time = b.const("weights_time", rng.uniform(-1, 1, (4, 3)).astype(np.float32))
    bias = b.const("bias", rng.uniform(-1, 1, 4).astype(np.float32))
    state = b.variable("activation_state", "float32", (1, 12))
    y = b.tensor("y", "float32", (1, 4))
    options = {"__class__": "SVDFOptionsT", "rank": 1, "fusedActivationFunction": 0}
    b.node(
        "tflite.SVDF",
        [x, feature, time, bias, state],
        [y],
        options_type="SVDFOptions",
        options=options,
    )
    return b.build([y])


def test_litert_keeps_and_resets_state_as_litert_does() -> None:
    from ai_edge_litert.interpreter import Interpreter

    graph = float_svdf_graph()
    model = export_tflite(graph)
    values = [np.random.default_rng(i).uniform(-1, 1, (1, 8)).astype(np.float32) for i in range(6)]
    values[3] = values[0]  # after the reset, the first input again
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    (x,), (y,) = interpreter.get_input_details(), interpreter.get_output_details()
    expected = []
    for i, value in enumerate(values):
        if i == 3:
            interpreter.reset_all_variables()
        interpreter.set_tensor(x["index"], value)
        interpreter.invoke()
        expected.append(np.array(interpreter.get_tensor(y["index"])))
    session = tinyabi.Session(graph, backends=["litert"], strict=True)
    assert {n.backend for n in session.plan.nodes} == {"litert"}
    got = []
    for i, value in enumerate(values):
        if i == 3:
            session.reset()
        got.append(session.run({"x": value})["y"])
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert np.array_equal(got[3], got[0])  # the reset restarted the sequence
    fresh = tinyabi.Session(graph, backends=["litert"], strict=True).run({"x": values[1]})["y"]
    assert not np.array_equal(fresh, got[1])  # the state carried over from the first run
