"""cmsis-nn's constraints and code generator take every quantized node's parameters from
:mod:`tinyabi.quantization`, the functions the reference kernels use (observed by wrapping
them), on the shared models and on random single-operator graphs. No compiler run is needed
beyond the host library the generator asks for buffer sizes."""

from __future__ import annotations

import numpy as np
import pytest
from cases16 import POWER_OF_TWO_SCALES
from tinyabi_cmsis_nn import constraints
from tinyabi_cmsis_nn.build import host
from tinyabi_cmsis_nn.codegen.emit import generate

import tinyabi
from tests.conftest import shared_model
from tests.quantization_spy import ParameterSpy, expected_functions, spy_on_parameters
from tinyabi.conformance.cases import spec_cases
from tinyabi.ir.graph import Graph, Quantization

MODELS = ("kws_ref_model", "vww_96_int8", "ad01_int8")


def _check_constraints(spy: ParameterSpy, graph: Graph) -> tuple[bool, set[str]]:
    """Run the constraints node by node; whether all passed, and the operators checked."""
    checked = set()
    all_supported = True
    for node in graph.nodes:
        spy.clear()
        failure = constraints.first_failure(node, graph)
        if failure is not None:
            all_supported = False
            continue
        if spy.check(node, graph, "cmsis-nn constraints"):
            checked.add(node.op)
    return all_supported, checked


def _check_codegen(spy: ParameterSpy, graph: Graph) -> set[str]:
    """Generate C for ``graph``; the operators whose parameters were checked."""
    spy.clear()
    generate(graph, host.size_oracle(host.portable_library()))
    checked = set()
    for node in graph.nodes:
        if spy.check(node, graph, "cmsis-nn codegen"):
            checked.add(node.op)
    return checked


@pytest.mark.parametrize("model", MODELS)
def test_model_parameters_come_from_the_package(
    monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    graph = tinyabi.load(shared_model(model))
    spy = spy_on_parameters(monkeypatch)
    all_supported, checked = _check_constraints(spy, graph)
    assert all_supported, f"cmsis-nn declines part of {model}"
    quantized = {node.op for node in graph.nodes if expected_functions(node, graph)}
    assert checked == quantized and quantized
    assert _check_codegen(spy, graph) == quantized


def test_single_operator_parameters_come_from_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Spec operators: the extension nodes (SVDF, LSTM) have their own tests.
    ops = sorted(op for op in constraints.CHECKS if op not in constraints.EXTENSIONS)
    cases = spec_cases(ops=ops, count=4, seed=11)
    spy = spy_on_parameters(monkeypatch)
    by_constraints: set[str] = set()
    by_codegen: set[str] = set()
    for case in cases:
        scales = POWER_OF_TWO_SCALES.get(case.op)
        if scales is not None and case.signature == "int16":
            # arm_nn_activation_s16 takes power-of-two input scales only.
            x = case.graph.tensor(str(case.node.inputs[0]))
            x.quant = Quantization(np.array([scales[0]]), np.zeros(1, np.int64))
        supported, checked = _check_constraints(spy, case.graph)
        by_constraints |= checked
        if supported and expected_functions(case.node, case.graph):
            by_codegen |= _check_codegen(spy, case.graph)
    with_parameters = {op for op in ops if op not in ("RESHAPE", "SQUEEZE")}
    assert by_constraints == with_parameters
    assert by_codegen == with_parameters
