"""capabilities.yaml against the real runtimes, and the verdicts the backends give from it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tflm_support import HYBRID_MODEL, load
from tinyabi_tflm import capabilities, survey
from tinyabi_tflm.forms import FORMS, extension_model
from tinyabi_tflm.litert import LiteRTBackend
from tinyabi_tflm.singleop import spec_model
from tinyabi_tflm.tflm import TFLMBackend

from tinyabi.backends import Backend
from tinyabi.backends.registry import default_registry
from tinyabi.errors import OptionsError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.validate import check_node
from tinyabi.spec import load_spec
from tinyabi.tflite.schema import BUILTIN_NAMES

RUNTIMES = ["tflm", "litert"]
HYBRID_REASON = "Hybrid models are not supported on TFLite Micro"


def test_data_file_is_consistent() -> None:
    caps = capabilities.load()
    assert set(caps.runtimes) == set(RUNTIMES)
    assert set(caps.forms.values()) <= set(FORMS)
    spec = load_spec().operators
    for runtime in caps.runtimes.values():
        for op, signatures in runtime.spec.items():
            assert op in spec, f"{runtime.runtime}: {op} is not a spec operator"
            names = {s.name for s in spec[op].signatures}
            assert set(signatures) <= names, f"{runtime.runtime}: {op} {signatures}"
        for op, keys in runtime.extension.items():
            for key in keys:
                assert extension_model(op, caps.forms[op], key) is not None, (op, key)
    assert "hybrid" in caps.runtimes["tflm"].refused
    assert "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM" in caps.runtimes["tflm"].claims()
    assert {"tflite.SVDF", "tflite.ABS"} <= set(caps.runtimes["tflm"].claims())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_lists_are_what_the_runtime_runs(runtime: str) -> None:
    """Every listed signature runs; every candidate that is not listed is refused."""
    caps = capabilities.load()
    answers = survey.ask(runtime, caps.forms)
    assert survey.differences(caps.runtimes[runtime], answers) == []
    # The refusals are real refusals by the runtime, not builder mistakes.
    assert answers.refusals, "some candidates must be refused"
    if runtime == "tflm":
        assert HYBRID_REASON in answers.refusals["CONV_2D", "hybrid"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_listed_operators_have_kernels_and_a_sample_of_others_does_not(runtime: str) -> None:
    caps = capabilities.load()
    listed = sorted(caps.runtimes[runtime].extension)
    unregistered = {
        "tflm": ["RNN", "LSH_PROJECTION", "SKIP_GRAM", "HASHTABLE_LOOKUP", "TOPK_V2"],
        "litert": ["STABLEHLO_ABS", "STABLEHLO_COSINE", "STABLEHLO_CONVERT"],
    }[runtime]
    found = survey.registered(runtime, listed + unregistered)
    assert [op for op in listed if not found[op]] == []
    assert [op for op in unregistered if found[op]] == []
    assert not set(unregistered) & set(caps.runtimes[runtime].extension)
    assert set(unregistered) <= set(BUILTIN_NAMES.values())


def test_every_operator_tflm_registers_is_surveyed() -> None:
    """Every builtin TFLM has a kernel for is a spec operator, has a form, or is unsurveyed for
    a stated reason; every signal operator in TFLM's library has a form and is registered."""
    caps = capabilities.load()
    found = survey.registered("tflm", survey.builtin_names())
    kernels = {op for op, yes in found.items() if yes}
    assert {"CAST", "DIV", "TRANSPOSE_CONV", "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM"} <= kernels
    covered = set(load_spec().operators) | set(caps.forms) | set(caps.unsurveyed)
    assert sorted(kernels - covered) == []
    assert set(caps.unsurveyed) <= kernels  # no stale reasons
    signal = survey.library_signal_ops()
    assert {"custom.SignalWindow", "custom.SignalRfft", "custom.SignalFilterBankLog"} <= set(signal)
    assert all(survey.registered("tflm", signal).values())
    assert set(signal) == {op for op in caps.forms if op.startswith("custom.")}
    assert set(signal) <= set(caps.runtimes["tflm"].extension)
    # A name the library does not have is reported as unregistered.
    assert not survey.registered("tflm", ["custom.SignalNoSuchOp"])["custom.SignalNoSuchOp"]


def test_type_keys_are_those_of_the_data_operands() -> None:
    """TRANSPOSE_CONV's first input is the output shape and SPLIT's the axis: their int32 type
    must not decide whether the node is claimed."""
    tflm = TFLMBackend()
    for op, form in [("TRANSPOSE_CONV", "transpose_conv"), ("SPLIT", "split")]:
        for key in ["int8", "int16", "float32"]:
            # TRANSPOSE_CONV is a spec operator now: its spec model, keyed the same way.
            graph = (
                spec_model(op, key) if op == "TRANSPOSE_CONV" else extension_model(op, form, key)
            )
            assert graph is not None
            node = graph.nodes[0]
            assert graph.tensor(node.inputs[0] or "").dtype != key
            assert capabilities.for_runtime("tflm").type_key(node, graph) == key
            assert tflm.supports(node, graph, check_node(node, graph)), (op, key)


def test_nodes_beyond_the_spec_s_signatures_are_claimed_on_what_tflm_runs() -> None:
    """A 16x8 CONV_2D matches no spec signature here, yet TFLM runs it; an unquantized int16
    RESHAPE likewise. A type TFLM does not run is still declined, with the spec's reason."""
    tflm = TFLMBackend()
    for op, form, key in [("CONV_2D", "conv", "int16"), ("RESHAPE", "reshape", "int16")]:
        graph = extension_model(op, form, key)
        assert graph is not None
        assert tflm.supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph)), op
    graph = extension_model("CONV_2D", "conv", "int32")
    assert graph is not None
    verdict = tflm.supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph))
    assert not verdict and "match no signature" in verdict.reason


def test_hybrid_nodes_are_declined_by_tflm_with_the_runtime_s_reason() -> None:
    graph = load(HYBRID_MODEL)
    tflm, litert = TFLMBackend(), LiteRTBackend()
    hybrid = [n for n in graph.nodes if n.op == "CONV_2D"]
    assert hybrid
    for node in hybrid:
        verdict = tflm.supports(node, graph, check_node(node, graph))
        assert not verdict
        assert HYBRID_REASON in verdict.reason
        assert "litert" in verdict.hint and "reference" in verdict.hint
        assert litert.supports(node, graph, check_node(node, graph))
    # The float depthwise convolutions of the same model are TFLM's.
    assert all(
        tflm.supports(n, graph, check_node(n, graph))
        for n in graph.nodes
        if n.op == "DEPTHWISE_CONV_2D"
    )


def unary(op: str, dtype: str, quant: tuple[float, int] | None = None) -> tuple[GraphBuilder, str]:
    b = GraphBuilder(op.lower())
    x = b.input("x", dtype, (1, 4), quant=quant)
    y = b.tensor("y", dtype, (1, 4), quant=quant)
    b.node(op, [x], [y])
    return b, y


def test_extension_verdicts_name_the_types_the_runtime_runs() -> None:
    b, y = unary("tflite.ABS", "int32")
    graph = b.build([y])
    verdict = TFLMBackend().supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph))
    assert not verdict
    assert "tflite.ABS on int32" in verdict.reason and "float32, int8, int16" in verdict.reason
    assert verdict.hint
    assert LiteRTBackend().supports(
        graph.nodes[0], graph, check_node(graph.nodes[0], graph)
    )  # LiteRT's ABS takes int32


def test_unknown_and_custom_operators_are_declined() -> None:
    for op in ["tflite.RNN", "tflite.custom.MyOp", "tflite.custom.SignalNoSuchOp", "onnx.Gelu"]:
        b, y = unary(op, "float32")
        graph = b.build([y])
        verdict = TFLMBackend().supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph))
        assert not verdict and verdict.reason, op


def test_spec_nodes_the_spec_rejects_are_declined_with_the_spec_s_reason() -> None:
    graph = spec_model("RELU", "int8")
    graph.tensor("output").dtype = "int16"  # no RELU signature has an int16 output
    verdict = TFLMBackend().supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph))
    assert not verdict and "match no signature" in verdict.reason


def test_litert_does_not_claim_int8_to_int32_quantize_but_tflm_does() -> None:
    graph = spec_model("QUANTIZE", "int8_to_int32")
    assert TFLMBackend().supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph))
    verdict = LiteRTBackend().supports(graph.nodes[0], graph, check_node(graph.nodes[0], graph))
    assert not verdict and "int8_to_int32" in verdict.reason


def test_state_inputs_must_be_constant_zeros() -> None:
    graph = extension_model("SVDF", "svdf", "float32")
    assert graph is not None
    node = graph.nodes[0]
    assert TFLMBackend().supports(node, graph, check_node(node, graph))
    state = graph.tensor(node.inputs[4] or "")
    state.data = np.ones_like(state.data)
    verdict = TFLMBackend().supports(node, graph, check_node(node, graph))
    assert not verdict and "constant initial state of zeros" in verdict.reason


def tflm_with(**options: Any) -> Backend:
    return default_registry().create("tflm", options)


def test_options_restrict_claims() -> None:
    backend = tflm_with(ops=["CONV_2D", "tflite.ABS"])
    assert set(backend.claims()) == {"CONV_2D", "tflite.ABS"}
    graph = spec_model("RELU", "int8")
    node = graph.nodes[0]
    check = check_node(node, graph)
    verdict = backend.supports(node, graph, check)
    assert not verdict and "option ops" in verdict.reason
    assert not tflm_with(nodes=["other"]).supports(node, graph, check)
    assert tflm_with(nodes=node.name).supports(node, graph, check)  # the command line's form
    with pytest.raises(OptionsError, match="unknown option 'kernels'; its options are ops, nodes"):
        tflm_with(kernels="reference")
    with pytest.raises(OptionsError, match="option 'kernels' = 'fastest': Input should be"):
        default_registry().create("litert", {"kernels": "fastest"})
