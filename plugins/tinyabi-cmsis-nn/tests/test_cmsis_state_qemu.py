"""Stateful operators on Cortex-M under QEMU: the int8 SVDF, the int8 LSTM and the 16x8 LSTM
run as firmware on Cortex-M4 and Cortex-M55 with the portable library and Arm's CMSIS-NN,
their state kept on the host between QEMU runs (the firmware loads it with the inputs and
writes it back with the outputs). Five runs, a reset, five more: every run byte-identical
with TFLM's interpreter doing the same. Sessions are ``strict=True`` with the plan checked,
and the partition is the QEMU one."""

from __future__ import annotations

import numpy as np
import pytest
from test_cmsis_16x8 import LIBRARIES, _options
from test_cmsis_lstm import SHAPES, SHAPES_16X8, lstm_graph
from test_cmsis_lstm import _feeds as _lstm_feeds
from test_cmsis_svdf import SHAPES as SVDF_SHAPES
from test_cmsis_svdf import _tflm, svdf_graph
from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition

import tinyabi
from tinyabi.ir import Graph
from tinyabi.ir.builder import GraphBuilder
from tinyabi.tflite.exporter import export_tflite

#: Runs before and after the reset.
RUNS = 5
TARGETS = ["cortex-m4", "cortex-m55"]


def _graph(kind: str) -> Graph:
    """One small stateful graph per kind (a memory of several steps, two batches)."""
    if kind == "svdf-int8":
        return svdf_graph(*SVDF_SHAPES[1], bias="random")
    if kind == "lstm-int8":
        return lstm_graph(*SHAPES[1])
    return lstm_graph(*SHAPES_16X8[1])


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", ["svdf-int8", "lstm-int8", "lstm-int16"])
def test_state_persists_and_resets_on_cortex_m_as_in_tflm(
    kind: str, target: str, library: str
) -> None:
    model = export_tflite(_graph(kind))
    graph = tinyabi.load(model)
    values = _lstm_feeds(graph, 2 * RUNS, seed=3)
    expected = _tflm(model, values, reset_before=RUNS)
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", _options(library, target))], strict=True
    )
    assert [p.backend for p in session.plan.partitions] == ["cmsis-nn"]
    (partition,) = session.compiled
    assert isinstance(partition, CortexMPartition) and partition.core == target
    name = graph.outputs[0]
    got = [session.run({"x": v})[name] for v in values[:RUNS]]
    assert partition.last_run is not None and partition.last_run.instructions > 0
    assert partition.last_run.state is not None
    session.reset()
    got += [session.run({"x": v})[name] for v in values[RUNS:]]
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"run {i}"
    # The state matters: the same inputs without the reset come out otherwise.
    again = [session.run({"x": v})[name] for v in values[RUNS:]]
    assert any(a.tobytes() != b.tobytes() for a, b in zip(again, got[RUNS:]))


def test_a_cortex_m_partition_without_state_gives_none() -> None:
    """A stateless model's firmware writes no state file: nothing to carry over."""
    b = GraphBuilder("add")
    x = b.input("x", "int8", (1, 8), quant=(0.05, 3))
    y = b.tensor("y", "int8", (1, 8), quant=(0.1, -2))
    b.node("ADD", [x, x], [y])
    graph = b.build([y])
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", _options("portable", "cortex-m4"))], strict=True
    )
    (partition,) = session.compiled
    assert isinstance(partition, CortexMPartition)
    session.run({"x": np.arange(8, dtype=np.int8).reshape(1, 8)})
    assert partition.last_run is not None and partition.last_run.state is None
