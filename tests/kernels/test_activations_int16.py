"""The 16x8 (int16) activations LEAKY_RELU, LOGISTIC, TANH and SOFTMAX: the reference kernels
against TFLite Micro, bit for bit, over every int16 input value and seeded-random
quantization; the quantizations the spec declines (and TFLM refuses); HARD_SWISH, which TFLM
runs only for int8."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from tests.kernels.spec_check import op_spec
from tests.runtimes import run_tflm
from tinyabi.errors import GraphError
from tinyabi.ir.builder import GraphBuilder, QuantLike
from tinyabi.ir.graph import Graph
from tinyabi.kernels import lut16, prepare
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite

#: Every int16 value, as a [256, 256] tensor.
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16).reshape(256, 256)
Q15 = (2.0**-15, 0)


def f32(value: float) -> float:
    return float(np.float32(value))


def unary(
    op: str, shape: tuple[int, ...], quant: QuantLike, out_quant: QuantLike, **attrs: Any
) -> Graph:
    """A one-node int16 graph ``y = op(x)``."""
    b = GraphBuilder(op.lower())
    x = b.input("x", "int16", shape, quant=quant)
    y = b.tensor("y", "int16", shape, quant=out_quant)
    b.node(op, [x], [y], name="act", **attrs)
    return b.build([y])


def run_reference(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The reference backend alone (no fallback), so the int16 signature must really be taken."""
    session = Session(graph, backends=["reference"], fallback="error")
    return session.run([x])[graph.outputs[0]]


def assert_same(graph: Graph, x: np.ndarray, context: object) -> None:
    ours = run_reference(graph, x)
    ref = run_tflm(export_tflite(graph), [x])[0]
    assert ours.dtype == ref.dtype == np.int16 and ours.shape == ref.shape
    if not np.array_equal(ours, ref):
        differ = np.flatnonzero(ours.ravel() != ref.ravel())
        raise AssertionError(
            f"{context}: {differ.size} values differ, e.g. input {x.ravel()[differ[:4]]} gives "
            f"{ours.ravel()[differ[:4]]}, TFLM {ref.ravel()[differ[:4]]}"
        )


def sigmoid_like_scales(rng: np.random.Generator, count: int) -> list[float]:
    """Input scales of LOGISTIC/TANH: the power-of-two ones TFLM special-cases, then random
    ones from tiny (the multiplier's shift reaches 31) to the largest accepted."""
    fixed = [2.0**-12, 2.0**-11, 2.0**-13, 2.0**-10, 2.0**-20, 2.0**-12 * 1.0001, 2.6]
    return fixed + [f32(10 ** rng.uniform(-9, 0.4)) for _ in range(count)]


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_int16_sigmoid_like_is_bit_exact_with_tflm(op: str) -> None:
    rng = np.random.default_rng({"LOGISTIC": 41, "TANH": 42}[op])
    for s_in in sigmoid_like_scales(rng, 10):
        assert_same(unary(op, ALL_INT16.shape, (s_in, 0), Q15), ALL_INT16, (op, s_in))


def test_int16_leaky_relu_is_bit_exact_with_tflm() -> None:
    """Random scales, alphas of both signs and zero points (TFLM accepts any here)."""
    rng = np.random.default_rng(43)
    for case in range(16):
        s_in = f32(10 ** rng.uniform(-4, -1))
        zp_in = int(rng.integers(-300, 300)) if case % 3 == 0 else 0
        zp_out = int(rng.integers(-300, 300)) if case % 4 == 0 else 0
        s_out = f32(s_in * 10 ** rng.uniform(-1, 1))
        alpha = f32(rng.uniform(-2, 2))
        graph = unary("LEAKY_RELU", ALL_INT16.shape, (s_in, zp_in), (s_out, zp_out), alpha=alpha)
        assert_same(graph, ALL_INT16, (s_in, zp_in, s_out, zp_out, alpha))


def test_int16_softmax_is_bit_exact_with_tflm() -> None:
    """Random rows (full range, or narrow so that many entries are near the maximum), depths
    from 1 to 1000, betas and input scales."""
    rng = np.random.default_rng(44)
    for case in range(24):
        depth = int(rng.choice([1, 2, 3, 10, 33, 100, 1000]))
        x = rng.integers(-32768, 32768, (int(rng.integers(1, 5)), depth)).astype(np.int16)
        if case % 2:
            x = (x // int(rng.integers(1, 3000))).astype(np.int16)
        s_in = f32(10 ** rng.uniform(-5, -0.5))
        beta = f32(rng.choice([1.0, rng.uniform(0.1, 3.0)]))
        graph = unary("SOFTMAX", x.shape, (s_in, 0), Q15, beta=beta)
        assert_same(graph, x, (case, depth, s_in, beta))


def test_int16_softmax_tables_match_their_definition() -> None:
    """The exp table starts near exp(-10) and ends at 1.0 saturated; 1 / (1 + x) runs from 1
    to 1/2 (Q0.15): the tables cover what the spec says they cover."""
    exps, reciprocals = lut16.exp_table(), lut16.reciprocal_table()
    assert exps.shape == reciprocals.shape == (lut16.INT16_LUT_SIZE,)
    assert exps[-1] == 32767 and 0 < exps[0] <= 2
    assert reciprocals[0] == 32767 and reciprocals[-1] == 16384
    assert np.all(np.diff(exps) >= 0) and np.all(np.diff(reciprocals) <= 0)


def test_the_spec_writes_out_the_sigmoid_table() -> None:
    """LOGISTIC's semantics list the 256 entries the kernels interpolate, in order."""
    text = op_spec("LOGISTIC").semantics
    block = text[text.index("SIGMOID_TABLE") :]
    numbers = [int(n) for n in re.findall(r"\b\d{5}\b", block)[:256]]
    assert numbers == lut16.SIGMOID_TABLE.tolist()


# Graphs the spec declines, with what the error names; TFLM refuses each of them too.
DECLINED = [
    (lambda: unary("LOGISTIC", (4,), (2.0**-12, 3), Q15), "zero point 3"),
    (lambda: unary("LOGISTIC", (4,), (2.0**-12, 0), (2.0**-8, 0)), "scale"),
    (lambda: unary("TANH", (4,), (2.0**-12, 0), (2.0**-15, 5)), "zero point 5"),
    (lambda: unary("SOFTMAX", (4,), (0.01, 7), Q15, beta=1.0), "zero point 7"),
    (lambda: unary("SOFTMAX", (4,), (0.01, 0), (1.0 / 256, 0), beta=1.0), "scale"),
]


@pytest.mark.parametrize(("make", "message"), DECLINED)
def test_int16_declined_quantizations(make: Any, message: str) -> None:
    graph = make()
    with pytest.raises(GraphError, match=message):
        prepare(graph.nodes[0], graph)
    with pytest.raises(RuntimeError):
        run_tflm(export_tflite(graph), [np.zeros(4, np.int16)])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: unary("TANH", (4,), (3.0, 0), Q15), "too large"),
        (lambda: unary("SOFTMAX", (4,), (8.0, 0), Q15, beta=1.0), "too large"),
    ],
)
def test_int16_declined_where_tflm_overflows(make: Any, message: str) -> None:
    """Scales whose int32 arithmetic overflows in TFLM (undefined behaviour in its C++): the
    spec leaves them out."""
    graph = make()
    with pytest.raises(GraphError, match=message):
        prepare(graph.nodes[0], graph)


def test_hard_swish_has_no_int16_signature_as_tflm_has_no_int16_kernel() -> None:
    graph = unary("HARD_SWISH", (4,), (2.0**-12, 0), (2.0**-12, 0))
    assert "int16" not in {s.name for s in op_spec("HARD_SWISH").signatures}
    with pytest.raises(GraphError, match="int16"):
        prepare(graph.nodes[0], graph)
    with pytest.raises(RuntimeError):
        run_tflm(export_tflite(graph), [np.zeros(4, np.int16)])
