"""Random single-operator 16x8 test graphs for the cmsis-nn backend: the conformance suite's
cases of an operator's int16 signatures (:func:`tinyabi.conformance.generate_cases`) that the
backend claims, merged into one graph (each case keeps its own input and output), so that one
compilation covers many parameter combinations; and the check that a session gives TFLM's
bytes on them."""

from __future__ import annotations

import numpy as np
from tinyabi_cmsis_nn import constraints

import tinyabi
from tests.runtimes import run_tflm
from tinyabi.conformance import generate_cases
from tinyabi.ir import Graph, Quantization, check_node
from tinyabi.ir.builder import GraphBuilder
from tinyabi.spec import load_spec
from tinyabi.tflite.exporter import export_tflite

#: The spec operators the backend claims 16x8 signatures of, with those signatures (the
#: 16x8 LSTM extension node has no spec cases: test_cmsis_lstm.py builds its own).
OPS_16X8 = {
    op: tuple(s for s in sigs if s.startswith("int16"))
    for op, sigs in constraints.SIGNATURES.items()
    if any(s.startswith("int16") for s in sigs)
    and op not in ("RESHAPE", "SQUEEZE")
    and op not in constraints.EXTENSIONS
}


#: The input scales of int16 LOGISTIC/TANH that ``arm_nn_activation_s16`` computes (the
#: conformance cases draw random ones, which it declines).
POWER_OF_TWO_SCALES = {"LOGISTIC": (2.0**-12,), "TANH": (2.0**-12, 2.0**-11)}


def claimed_cases(op: str, count: int, seed: int) -> list[tuple[Graph, dict[str, np.ndarray]]]:
    """Up to ``count`` conformance cases per 16x8 signature of ``op`` that cmsis-nn claims
    (LOGISTIC and TANH cases get a power-of-two input scale first)."""
    spec = load_spec().operators[op]
    found = []
    for sig in spec.signatures:
        if sig.name not in OPS_16X8[op]:
            continue
        for case in generate_cases(spec, sig, count, seed):
            graph, node = case.graph, case.graph.nodes[0]
            scales = POWER_OF_TWO_SCALES.get(op)
            if scales is not None:
                x = graph.tensor(str(node.inputs[0]))
                scale = scales[case.index % len(scales)]
                x.quant = Quantization(np.array([scale]), np.zeros(1, np.int64))
            if constraints.supports(node, graph, check_node(node, graph)):
                found.append((graph, case.inputs))
    return found


def merged_graph(
    cases: list[tuple[Graph, dict[str, np.ndarray]]], name: str
) -> tuple[Graph, dict[str, np.ndarray]]:
    """One graph holding every case (tensors prefixed ``c<i>_``), and its inputs."""
    b = GraphBuilder(name)
    feeds: dict[str, np.ndarray] = {}
    outputs: list[str] = []
    for i, (graph, inputs) in enumerate(cases):
        rename = {t: f"c{i}_{t}" for t in graph.tensors}
        for t in graph.tensors.values():
            new = rename[t.name]
            if t.name in graph.inputs:
                b.input(new, t.dtype, t.shape, t.quant)
                feeds[new] = inputs[t.name]
            elif t.is_constant:
                assert t.data is not None
                b.const(new, t.data, t.quant, dtype=t.dtype)
            else:
                b.tensor(new, t.dtype, t.shape, t.quant)
        for node in graph.nodes:
            b.node(
                node.op,
                [rename[n] if n is not None else None for n in node.inputs],
                [rename[n] for n in node.outputs],
                name=f"c{i}_{node.name}",
                version=node.version,
                **node.attrs,
            )
        outputs += [rename[n] for n in graph.outputs]
    return b.build(outputs=outputs), feeds


def random_int16_feeds(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Full-range int16 values for every input."""
    return {
        n: rng.integers(-32768, 32768, size=graph.tensor(n).shape).astype(np.int16)
        for n in graph.inputs
    }


def assert_same_as_tflm(
    graph: Graph, session: tinyabi.Session, feeds: list[dict[str, np.ndarray]]
) -> None:
    """``session`` gives TFLM's bytes (and the reference's) on every feed."""
    model = export_tflite(graph)
    reference = tinyabi.Session(graph, backends=["reference"])
    for feed in feeds:
        got = session.run(feed)
        want = reference.run(feed)
        truth = run_tflm(model, [feed[n] for n in graph.inputs])
        for (name, expected), tf in zip(want.items(), truth):
            assert got[name].dtype == expected.dtype and got[name].shape == expected.shape, name
            assert got[name].tobytes() == tf.tobytes(), f"{name}: differs from TFLM"
            assert got[name].tobytes() == expected.tobytes(), f"{name}: differs from reference"
