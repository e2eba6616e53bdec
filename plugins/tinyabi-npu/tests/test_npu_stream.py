"""The command stream, the weight codecs, the cycle model, the constraints and conformance."""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
import sys

import numpy as np
import pytest
from tinyabi_npu import constraints
from tinyabi_npu.backend import NpuBackend, NpuPartition
from tinyabi_npu.compiler import compile_partition
from tinyabi_npu.compress import compress, decompress
from tinyabi_npu.config import NpuConfig
from tinyabi_npu.cycles import schedule
from tinyabi_npu.simulator import Simulator
from tinyabi_npu.stream import Codec, decode, encode

import tinyabi
from tests.conftest import assert_one_line_error, shared_model, tinyabi_cli
from tinyabi.conformance import run_conformance
from tinyabi.errors import BackendError
from tinyabi.feeds import random_inputs
from tinyabi.ir.builder import GraphBuilder


def _kws_session(config: NpuConfig) -> tinyabi.Session:
    return tinyabi.Session(
        shared_model("kws_ref_model"), backends=[("npu", config.model_dump()), "cmsis-nn"]
    )


def _kws_partition(config: NpuConfig) -> NpuPartition:
    (part,) = [p for p in _kws_session(config).compiled if isinstance(p, NpuPartition)]
    return part


def test_stream_round_trips_and_rejects_corruption() -> None:
    part = _kws_partition(NpuConfig())
    data = part.stream
    program = decode(data)
    assert encode(program) == data
    assert data[:4] == b"TNPU"
    with pytest.raises(BackendError, match="magic"):
        decode(b"XNPU" + data[4:])
    with pytest.raises(BackendError):
        decode(data[:-1])
    with pytest.raises(BackendError, match="version"):
        decode(data[:4] + b"\x02\x00" + data[6:])
    records = len(data) - len(program.blob)
    feeds = [
        np.zeros(part.simulator.program.tensors[i].shape, np.int8) for i in part.simulator.inputs
    ]
    rng = np.random.default_rng(0)
    for _ in range(300):  # random corruption of the records: a BackendError, or a stream that runs
        broken = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            broken[int(rng.integers(0, records))] = int(rng.integers(0, 256))
        with contextlib.suppress(BackendError):
            Simulator(bytes(broken), NpuConfig()).run(feeds)


@pytest.mark.parametrize(
    "weights",
    [
        np.zeros(300, np.int8),
        np.array([0, 0, 0, 5, 0, 7, 7, 0, 0] * 40, np.int8),
        np.random.default_rng(1).integers(-128, 128, 1001).astype(np.int8),
        np.random.default_rng(2).choice(np.array([-3, 0, 9], np.int8), 777),
    ],
)
def test_weight_codecs_are_lossless(weights: np.ndarray) -> None:
    codec, stored = compress(weights)
    assert np.array_equal(decompress(codec, stored, weights.size), weights)
    for forced in (Codec.ZERO_RUNS,):
        from tinyabi_npu.compress import _zero_runs

        assert np.array_equal(decompress(forced, _zero_runs(weights), weights.size), weights)
    if np.unique(weights).size <= 16:
        assert codec != Codec.RAW and len(stored) < weights.size


def test_more_macs_take_fewer_cycles_and_utilization_is_a_fraction() -> None:
    cycles = {}
    for macs in (64, 128, 256):
        part = _kws_partition(NpuConfig(macs=macs))
        cycles[macs] = part.simulator.total_cycles
        for row in part.report():
            assert 0.0 <= row.utilization <= 1.0
            assert row.cycles > 0
        assert abs(sum(r.percent for r in part.report()) - 100.0) < 1e-6
    assert cycles[64] > cycles[128] > cycles[256]


def test_estimate_is_the_simulators_cycle_count() -> None:
    config = NpuConfig(macs=256, sram_bytes=16384)
    sess = _kws_session(config)
    (part,) = [p for p in sess.compiled if isinstance(p, NpuPartition)]
    (npu_plan,) = [p for p in sess.plan.partitions if p.backend == "npu"]
    assert npu_plan.estimated_seconds == pytest.approx(part.simulator.total_cycles / 500e6)
    assert sum(c.cycles for c in schedule(part.compiled.program, config)) == (
        part.simulator.total_cycles
    )


def test_smaller_sram_spills_and_counts_dram_traffic() -> None:
    roomy, tight = _kws_partition(NpuConfig()), _kws_partition(NpuConfig(sram_bytes=8192))
    assert not roomy.compiled.spilled and tight.compiled.spilled
    assert sum(c.dram_read for c in roomy.costs) == 0
    assert sum(c.dram_read for c in tight.costs) > 0
    assert len(tight.compiled.program.commands) > len(roomy.compiled.program.commands)
    assert tight.compiled.staging_bytes <= 8192


def _reshape_only() -> tinyabi.Graph:
    b = GraphBuilder("reshape_only")
    x = b.input("x", "int8", (1, 4, 4, 2), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 32), quant=(0.1, 0))
    b.node("RESHAPE", [x], [y], new_shape=[1, 32])
    return b.build([y])


def test_accept_refuses_partitions_that_only_move_bytes() -> None:
    graph = _reshape_only()
    backend = NpuBackend()
    verdict = backend.accept(graph)
    assert not verdict and "only moves bytes" in verdict.reason
    plan = tinyabi.Session(graph, backends=["npu", "reference"]).plan
    assert [n.backend for n in plan.nodes] == ["reference"]
    assert any("partition refused" in d.reason for d in plan.nodes[0].declined)


def test_min_macs_refuses_small_partitions() -> None:
    graph = tinyabi.load(shared_model("ad01_int8"))
    plan = tinyabi.Session(graph, backends=[("npu", {"min_macs": 10**9}), "cmsis-nn"]).plan
    assert all(n.backend == "cmsis-nn" for n in plan.nodes)


def test_support_doc_is_current() -> None:
    assert constraints.SUPPORT_DOC.read_text(encoding="utf-8") == constraints.support_table()


def test_every_check_has_a_rule_and_a_hint() -> None:
    every = {c for op in constraints.CHECKS for c in constraints.checks_for(op)}
    for check in every:
        assert check.__doc__ and check in constraints.HINTS, check.__name__


def test_options_are_checked() -> None:
    with pytest.raises(tinyabi.errors.OptionsError):
        tinyabi.Session(_reshape_only(), backends=[("npu", {"macs": 100})])


def test_compile_rejects_a_stream_for_another_npu() -> None:
    part = _kws_partition(NpuConfig(macs=64))
    with pytest.raises(BackendError, match="compiled for 64 MACs"):
        Simulator(part.stream, NpuConfig(macs=128))


def test_conformance_passes_every_claimed_case() -> None:
    report = run_conformance("npu", cases_per_signature=4, seed=11)
    assert report.ok, report.failures
    claimed = {(r.op, r.signature) for r in report.results if r.passed}
    assert report.failed == 0
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "LOGISTIC"):
        assert (op, "int8") in claimed


def test_compile_partition_is_deterministic() -> None:
    graph = tinyabi.load(shared_model("ad01_int8"))
    assert compile_partition(graph, NpuConfig()).data == compile_partition(graph, NpuConfig()).data


def test_cost_mode_weighs_the_npu_against_cmsis_nn() -> None:
    """A narrow NPU on slow flash listed first: first-claim runs ad01 (all fully connected,
    weights used once) on it; cost mode finds cmsis-nn's estimate lower and moves the layers,
    saying so in the plan's notes. Both plans run exactly."""
    slow = {"macs": 64, "flash_bytes_per_cycle": 0.5, "clock_hz": 200e6}
    graph = tinyabi.load(shared_model("ad01_int8"))
    first = tinyabi.Session(graph, backends=[("npu", slow), "cmsis-nn"], strict=True)
    cost = tinyabi.Session(graph, backends=[("npu", slow), "cmsis-nn"], mode="cost", strict=True)
    assert {n.backend for n in first.plan.nodes} == {"npu"}
    assert {n.backend for n in cost.plan.nodes} == {"cmsis-nn"}
    assert any("cost mode moved" in note for note in cost.plan.notes)

    def seconds(sess: tinyabi.Session) -> float:
        return sum(p.estimated_seconds or 0.0 for p in sess.plan.partitions)

    assert seconds(cost) < seconds(first)
    feeds = {graph.inputs[0]: np.zeros(graph.tensor(graph.inputs[0]).shape, np.int8)}
    a, b = first.run(feeds), cost.run(feeds)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_command_line_takes_npu_options_and_prints_the_report() -> None:
    model = str(shared_model("kws_ref_model"))
    ran = tinyabi_cli("run", model, "--backends", "npu:macs=256:sram_bytes=8192,cmsis-nn")
    assert ran.returncode == 0, ran.stderr
    bad = tinyabi_cli("run", model, "--backends", "npu:macs=100")
    assert_one_line_error(bad, "macs")
    report = subprocess.run(
        [sys.executable, "-m", "tinyabi_npu.report", model, "-o", "macs=64"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout)))
    assert [r["op"] for r in rows][:2] == ["CONV", "DEPTHWISE"]
    assert all(0 <= float(r["utilization"]) <= 1 for r in rows)


def test_profile_gives_the_cycles_of_the_report_per_node() -> None:
    """Session.profile shows every NPU layer under its node with the cycles of the report and
    of the estimate, and the outputs are those of run()."""
    config = NpuConfig(macs=128, sram_bytes=16384)
    sess = tinyabi.Session(
        shared_model("kws_ref_model"),
        backends=[("npu", config.model_dump()), "cmsis-nn"],
        strict=True,
    )
    feeds = {sess.graph.inputs[0]: np.arange(490, dtype=np.int8).reshape(1, 49, 10, 1)}
    profile = sess.profile(feeds, runs=2)
    parts = {p.index: p for p in sess.plan.partitions}
    compiled = dict(zip(parts, sess.compiled))
    npu_rows = [t for t in profile.partitions if t.backend == "npu"]
    assert npu_rows
    for row in npu_rows:
        part = compiled[row.index]
        assert isinstance(part, NpuPartition)
        report = part.report()
        assert [layer.node for layer in row.layers] == parts[row.index].nodes
        assert [(layer.node, layer.op, layer.cycles) for layer in row.layers] == [
            (r.layer, sess.graph.nodes[_index(sess, r.layer)].op, r.cycles) for r in report
        ]
        assert row.cycles == part.simulator.total_cycles
        assert parts[row.index].estimated_seconds == pytest.approx(row.cycles / config.clock_hz)
        assert all(layer.median_seconds and layer.median_seconds > 0 for layer in row.layers)
    assert profile.cycles == sum(r.cycles or 0 for r in npu_rows)
    first = parts[npu_rows[0].index]
    inputs = {
        n: random_inputs(sess.graph)[n] if n in feeds else _filled(sess, n) for n in first.inputs
    }
    outputs, _ = compiled[first.index].profile(inputs)
    want = compiled[first.index].run(inputs)
    assert {k: v.tobytes() for k, v in outputs.items()} == {k: v.tobytes() for k, v in want.items()}


def _filled(sess: tinyabi.Session, name: str) -> np.ndarray:
    t = sess.graph.tensor(name)
    return np.full(t.shape, 3, np.int8)


def _index(sess: tinyabi.Session, node: str) -> int:
    return next(i for i, n in enumerate(sess.graph.nodes) if n.name == node)


def test_run_profile_prints_npu_cycles() -> None:
    result = tinyabi_cli(
        "run", str(shared_model("kws_ref_model")), "--backends", "npu,cmsis-nn", "--profile"
    )
    assert result.returncode == 0, result.stderr
    sess = tinyabi.Session(shared_model("kws_ref_model"), backends=["npu", "cmsis-nn"])
    (part,) = [p for p in sess.compiled if isinstance(p, NpuPartition)]
    lines = result.stdout.splitlines()
    for row in part.report():
        (line,) = [x for x in lines if x.split()[:1] == [row.layer]]
        assert line.split()[-1] == f"{row.cycles:,}"
    (total,) = [x for x in lines if x.split()[:1] == ["total"]]
    assert total.split()[-1] == f"{part.simulator.total_cycles:,}"
