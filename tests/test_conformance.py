"""The conformance suite generated from the spec, run against the reference, the installed
plugins, and deliberately broken toy backends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, tinyabi_cli
from tinyabi import cli
from tinyabi.backends.base import Backend, CompiledPartition, NodeCheck, Verdict
from tinyabi.backends.reference import ReferencePartition
from tinyabi.backends.registry import (
    BackendRegistry,
    build_registry,
    create_plugin_manager,
    default_registry,
)
from tinyabi.conformance import ConformanceReport, Status, generate_cases, run_conformance
from tinyabi.conformance import runner as conformance_runner
from tinyabi.hookspecs import hookimpl
from tinyabi.ir.graph import Graph, Node
from tinyabi.spec import load_spec

#: Operators with int8 and float32 signatures that exercise the per-op layouts.
SAMPLE_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MEAN", "SOFTMAX"]


class _OffByOnePartition(CompiledPartition):
    def __init__(self, graph: Graph) -> None:
        self.inner = ReferencePartition(graph)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.inner.run(inputs)
        return {
            k: (v + np.int8(1)).astype(np.int8) if v.dtype == np.int8 else v
            for k, v in outputs.items()
        }


class OffByOneBackend(Backend):
    """Claims every spec node and adds 1 (wrapping) to every int8 output."""

    name = "toy-off-by-one"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        return Verdict.yes()

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return _OffByOnePartition(subgraph)


class ExplodingBackend(Backend):
    """Claims RELU nodes, raises when compiling them, declines everything else."""

    name = "toy-exploding"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        return Verdict.yes() if node.op == "RELU" else Verdict.no(f"only RELU, not {node.op}")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        raise RuntimeError("kernel generator exploded")


class _Plugin:
    @hookimpl
    def tinyabi_register_backends(self, registry: BackendRegistry) -> None:
        """Register the broken toy backends."""
        registry.add(OffByOneBackend)
        registry.add(ExplodingBackend)


@pytest.fixture(scope="module")
def toy_registry() -> BackendRegistry:
    pm, distributions, problems = create_plugin_manager(
        autoload=False, blocked=(), plugins={"toy-conformance": _Plugin()}
    )
    return build_registry(pm, distributions, problems)


def _claimed_failures(report: ConformanceReport) -> list[str]:
    return [f.describe() for f in report.failures]


def test_every_signature_generates_cases_the_reference_accepts() -> None:
    spec = load_spec()
    for op in spec.operators.values():
        for sig in op.signatures:
            cases = generate_cases(op, sig, 2, seed=1)
            assert cases, f"no case for {op.name} {sig.name}"
            assert all(len(c.graph.nodes) == 1 and c.node.op == op.name for c in cases)


def test_generation_is_seeded() -> None:
    op = load_spec().operators["CONV_2D"]
    a = generate_cases(op, op.signature("int8"), 2, seed=7)
    b = generate_cases(op, op.signature("int8"), 2, seed=7)
    assert [c.params() for c in a] == [c.params() for c in b]
    assert all(np.array_equal(x.inputs[k], y.inputs[k]) for x, y in zip(a, b) for k in x.inputs)


def test_reference_passes_all_of_its_own_cases() -> None:
    report = run_conformance("reference", cases_per_signature=2, seed=3)
    assert report.ok and report.not_claimed == 0, str(report)
    spec = load_spec()
    assert len(report.results) == sum(len(op.signatures) for op in spec.operators.values())
    assert all(r.passed == r.generated >= 1 for r in report.results)


def _positive(report: ConformanceReport, op: str, signature: str) -> int:
    """How many cases of a signature are not negative ones."""
    return sum(
        1
        for c in report.cases
        if (c.op, c.signature) == (op, signature) and c.generator != "negative"
    )


def _plugin_backend(name: str) -> str:
    if name not in default_registry().names():
        pytest.skip(f"backend {name!r} is not installed")
    return name


def test_tflm_passes_every_case_it_claims() -> None:
    report = run_conformance(_plugin_backend("tflm"), cases_per_signature=2, seed=5, jobs=2)
    assert report.ok, str(report)
    claimed = {(r.op, r.signature) for r in report.results if r.passed}
    assert ("CONV_2D", "int8") in claimed and ("MEAN", "float32") in claimed
    # TFLite Micro has no hybrid kernels: declined, not failed
    hybrid = [c for c in report.cases if c.signature == "hybrid" and c.generator != "negative"]
    assert hybrid and all(c.status is Status.NOT_CLAIMED for c in hybrid)


def test_litert_passes_every_case_it_claims() -> None:
    """LiteRT's integer kernels round differently from TFLM, so by default it claims float
    and hybrid signatures (and declines integer ones with a reason); what it claims conforms."""
    report = run_conformance(_plugin_backend("litert"), cases_per_signature=6, seed=1)
    assert report.ok, str(report)
    claimed = {(r.op, r.signature) for r in report.results if r.passed}
    assert ("CONV_2D", "float32") in claimed and ("CONV_2D", "hybrid") in claimed
    int8 = next(r for r in report.results if (r.op, r.signature) == ("LEAKY_RELU", "int8"))
    assert int8.not_claimed == _positive(report, "LEAKY_RELU", "int8") and int8.reasons


def test_cmsis_nn_passes_every_case_it_claims() -> None:
    ops = [*SAMPLE_OPS, "AVERAGE_POOL_2D", "MAX_POOL_2D", "MUL", "RESHAPE"]
    report = run_conformance(_plugin_backend("cmsis-nn"), ops=ops, cases_per_signature=3)
    assert report.ok, str(report)
    assert report.passed > 0
    # float signatures are declined with a reason, not failed
    conv_float = next(r for r in report.results if (r.op, r.signature) == ("CONV_2D", "float32"))
    assert conv_float.not_claimed == _positive(report, "CONV_2D", "float32") and conv_float.reasons


def test_wrong_backend_fails_with_readable_violations(toy_registry: BackendRegistry) -> None:
    report = run_conformance(
        "toy-off-by-one",
        ops=["RELU", "ADD"],
        cases_per_signature=2,
        registry=toy_registry,
        generators=["pseudo-random"],
    )
    assert not report.ok
    by_sig = {(r.op, r.signature): r for r in report.results}
    assert by_sig[("RELU", "int8")].failed == 2
    assert by_sig[("RELU", "float32")].passed == 2  # float outputs are left alone
    assert by_sig[("ADD", "int32")].passed == 2
    failure = report.failures[0]
    assert failure.stage == "compare" and "values differ" in failure.message
    assert "int8[" in failure.describe() and "q(" in failure.describe()
    text = str(report)
    assert "FAIL" in text and "DOES NOT CONFORM" in text
    data = json.loads(report.to_json())
    assert data["totals"]["failed"] == report.failed > 0
    assert data["failures"][0]["params"]["tensors"]


def test_backend_raising_in_compile_is_reported(toy_registry: BackendRegistry) -> None:
    report = run_conformance(
        "toy-exploding",
        ops=["RELU", "TANH"],
        cases_per_signature=2,
        registry=toy_registry,
        generators=["pseudo-random"],
    )
    assert report.failed == 4 and report.passed == 0
    assert all(f.stage == "compile" and f.status is Status.ERROR for f in report.failures)
    assert "RuntimeError: kernel generator exploded" in report.failures[0].message
    tanh = [r for r in report.results if r.op == "TANH"]
    assert all(r.not_claimed == 2 and r.reasons == ["only RELU, not TANH"] for r in tanh)


def test_cli_exit_codes(
    tmp_path: Path, toy_registry: BackendRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    ok = tinyabi_cli(
        "conformance", "--backend", "reference", "--ops", "relu,PAD", "--cases", "1",
        "--json", str(out),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "CONFORMS" in ok.stdout and "RELU int8" in ok.stdout
    assert json.loads(out.read_text())["totals"]["ok"] is True
    assert_one_line_error(tinyabi_cli("conformance", "--backend", "nope"), "nope")
    assert_one_line_error(
        tinyabi_cli("conformance", "--backend", "reference", "--ops", "FOO"), "FOO"
    )
    assert_one_line_error(tinyabi_cli("conformance"), "--backend")
    monkeypatch.setattr(conformance_runner, "default_registry", lambda: toy_registry)
    failing = ["conformance", "--backend", "toy-off-by-one", "--ops", "RELU", "--cases", "1"]
    assert cli.main(failing) == 1
