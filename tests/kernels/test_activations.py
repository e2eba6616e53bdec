"""Activation kernels (SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH) against the
real runtimes.

int8 signatures must be byte-identical with TensorFlow Lite Micro; float32 ones within the
tolerance their spec file declares, against LiteRT. Every case is a single-operator graph built
with seeded random shapes, attributes and quantization parameters (scales over several orders of
magnitude, zero points across the int8 range); the int8 inputs cover all 256 values whenever the
tensor is large enough.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.kernels.spec_check import assert_within, op_spec, tolerance
from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import BackendError, GraphError, TinyABIError
from tinyabi.ir.builder import GraphBuilder, QuantLike
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.ir.shapes import infer_shapes
from tinyabi.kernels import activations as act
from tinyabi.kernels import prepare
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite

ROOT = Path(__file__).resolve().parents[2]
UNARY = ("RELU", "RELU6", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH")
ALL_OPS = (*UNARY, "SOFTMAX")
#: Output quantization TFLM's int8 kernels assume.
FIXED_OUTPUT = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0), "SOFTMAX": (1 / 256, -128)}
#: Plain values of the required attributes.
ATTRS: dict[str, dict[str, Any]] = {"LEAKY_RELU": {"alpha": 0.1}, "SOFTMAX": {"beta": 1.0}}


def unary_graph(
    op: str,
    dtype: str,
    shape: Sequence[int],
    quant: QuantLike = None,
    out_quant: QuantLike = None,
    **attrs: Any,
) -> Graph:
    """A one-node graph ``y = op(x)``."""
    b = GraphBuilder(op.lower())
    x = b.input("x", dtype, shape, quant=quant)
    y = b.tensor("y", dtype, shape, quant=out_quant)
    b.node(op, [x], [y], name="act", **attrs)
    return b.build([y])


def run_reference(graph: Graph, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The single output of ``graph`` by the reference kernels (through a validating Session)."""
    (out,) = Session(graph).run(list(inputs)).values()
    return out


def scale(rng: np.random.Generator, low: float = -4.0, high: float = 1.5) -> float:
    """A float32 scale, log-uniform in [10**low, 10**high]."""
    return float(np.float32(10 ** rng.uniform(low, high)))


def zero_point(rng: np.random.Generator) -> int:
    return int(rng.integers(-128, 128))


def random_shape(rng: np.random.Generator, min_rank: int = 0, max_rank: int = 6) -> tuple[int, ...]:
    rank = int(rng.integers(min_rank, max_rank + 1))
    return tuple(int(d) for d in rng.integers(1, 6, size=rank))


def int8_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random int8 data; every one of the 256 values appears when the tensor has room."""
    size = int(np.prod(shape, dtype=np.int64))
    values = rng.permutation(np.arange(-128, 128))
    if size > 256:
        values = np.concatenate([values, rng.integers(-128, 128, size=size - 256)])
    return values[:size].astype(np.int8).reshape(shape)


# --- int8: element-wise activations --------------------------------------------------------------


def int8_case(op: str, rng: np.random.Generator, i: int) -> tuple[Graph, np.ndarray, str]:
    """One random int8 case of an element-wise activation: (graph, input, description)."""
    s_in, zp_in = scale(rng), zero_point(rng)
    attrs: dict[str, Any] = {}
    if op == "RELU":
        out = (s_in * float(10 ** rng.uniform(-2, 2)), zero_point(rng))
    elif op == "RELU6":
        out = (s_in, zp_in)
    elif op == "LEAKY_RELU":
        choices = [0.0, 0.01, 0.1, 0.2, 0.3, 1.0, 1.5, -0.5, -2.0]
        alpha = choices[i % len(choices)] if i % 2 else float(rng.uniform(-3, 3))
        attrs["alpha"] = alpha
        out = (s_in * float(10 ** rng.uniform(-1.5, 1.5)), zero_point(rng))
    elif op == "HARD_SWISH":
        # Output scales from s_in/30 to 1e4 s_in: the final int16 shift reaches 16 and beyond.
        s_in = scale(rng, -7.0, 2.0)
        out = (s_in * float(10 ** rng.uniform(-1.5, 4)), zero_point(rng))
    else:  # LOGISTIC, TANH: inputs from 1e-8 (radius > 255) to 100 (radius 0).
        s_in = scale(rng, -8.0, 2.0)
        out = FIXED_OUTPUT[op]
    shape = (2, 128) if i % 3 == 0 else random_shape(rng)
    graph = unary_graph(op, "int8", shape, (s_in, zp_in), out, **attrs)
    what = f"{op} #{i} {shape} in=({s_in:.4g}, {zp_in}) out=({out[0]:.4g}, {out[1]}) {attrs}"
    return graph, int8_values(rng, shape), what


@pytest.mark.parametrize("op", UNARY)
def test_int8_activation_is_bit_exact_with_tflm(op: str) -> None:
    rng = np.random.default_rng(sum(map(ord, op)))
    tol = tolerance(op, "int8")
    for i in range(150):
        graph, x, what = int8_case(op, rng, i)
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, what)


def test_int8_activations_at_extreme_scale_ratios() -> None:
    """Scale ratios far from 1 on both sides, zero points at the ends of the range."""
    tol = tolerance("RELU", "int8")
    x = np.arange(-128, 128, dtype=np.int8)
    cases: list[tuple[str, tuple[float, int], tuple[float, int], dict[str, Any]]] = []
    for s_in, s_out in [(1e-6, 1.0), (1.0, 1e-6), (1.0, 2e-9), (3e-3, 3e-3), (5.0, 0.02)]:
        for zp_in, zp_out in [(-128, 127), (127, -128), (0, 0)]:
            cases.append(("RELU", (s_in, zp_in), (s_out, zp_out), {}))
            cases.append(("LEAKY_RELU", (s_in, zp_in), (s_out, zp_out), {"alpha": -0.7}))
            cases.append(("RELU6", (s_in, zp_in), (s_in, zp_in), {}))
    for s_in in [1e-7, 3e-4, 0.02, 0.5, 10.0, 300.0]:
        for ratio in [1 / 100, 1.0, 300.0, 1e6]:
            cases.append(("HARD_SWISH", (s_in, 127), (s_in * ratio, -128), {}))
            cases.append(("HARD_SWISH", (s_in, -128), (s_in * ratio, 127), {}))
    for s_in in [2**-28, 1e-8, 1e-6, 0.1, 7.5, 60.0, 120.0, 1e4]:
        for zp in (-128, 0, 127):
            cases.append(("LOGISTIC", (s_in, zp), FIXED_OUTPUT["LOGISTIC"], {}))
            cases.append(("TANH", (s_in, zp), FIXED_OUTPUT["TANH"], {}))
    for op, qin, qout, attrs in cases:
        graph = unary_graph(op, "int8", x.shape, qin, qout, **attrs)
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{op} {qin} -> {qout} {attrs}")


# --- int8: SOFTMAX -------------------------------------------------------------------------------


def softmax_values(rng: np.random.Generator, shape: tuple[int, ...], kind: int) -> np.ndarray:
    """Full-range data, a narrow cluster, or rows with many ties at the maximum."""
    if kind == 0:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if kind == 1:
        center = int(rng.integers(-120, 120))
        return np.clip(center + rng.integers(-4, 5, size=shape), -128, 127).astype(np.int8)
    x = rng.integers(-128, 100, size=shape).astype(np.int8)
    ties = rng.random(shape) < 0.5
    x[ties] = 100
    return x


def test_int8_softmax_is_bit_exact_with_tflm() -> None:
    rng = np.random.default_rng(7)
    tol = tolerance("SOFTMAX", "int8")
    for i in range(300):
        shape = (*random_shape(rng, 0, 4), int(rng.integers(1, 300)))
        s_in, zp_in = scale(rng), zero_point(rng)
        beta = 1.0 if i % 3 == 0 else float(np.float32(10 ** rng.uniform(-2, 2)))
        graph = unary_graph(
            "SOFTMAX", "int8", shape, (s_in, zp_in), FIXED_OUTPUT["SOFTMAX"], beta=beta
        )
        x = softmax_values(rng, shape, i % 3)
        (want,) = run_tflm(export_tflite(graph), [x])
        what = f"SOFTMAX #{i} {shape} in=({s_in:.4g}, {zp_in}) beta={beta:.4g}"
        assert_within(run_reference(graph, [x]), want, tol, what)


def test_scalar_reciprocal_is_the_vectorized_one() -> None:
    """int8 SOFTMAX inverts the sums of a few rows in Python ints: the same function."""
    rng = np.random.default_rng(3)
    a = np.concatenate(
        [
            np.array([0, 1, 2, 2**30, 2**31 - 2, 2**31 - 1], np.int64),
            rng.integers(0, 2**31, 200_000, dtype=np.int64),
        ]
    )
    want = act.one_over_one_plus_x_for_x_in_0_1(a)
    got = np.array([act.one_over_one_plus_x_int(int(v)) for v in a], np.int64)
    assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("s_in", "beta"),
    [
        (1.5e-8, 1.0),  # beta * s * 2^26 just above 1: the smallest multiplier TFLM accepts
        (1e-3, 1e-3),
        (20.0, 1.0),  # multiplier capped at 2^31 - 1: only the row maximum survives
        (1.0, 1e6),
        (0.05, 1.0),
    ],
)
def test_int8_softmax_extreme_multipliers_and_long_rows(s_in: float, beta: float) -> None:
    rng = np.random.default_rng(11)
    tol = tolerance("SOFTMAX", "int8")
    for depth in (1, 2, 255, 511):
        x = rng.integers(-128, 128, size=(4, depth), dtype=np.int8)
        x[1] = 17  # a constant row
        x[2, ::2] = 127  # half the row at the maximum
        x[3] = -128
        graph = unary_graph(
            "SOFTMAX", "int8", x.shape, (s_in, 3), FIXED_OUTPUT["SOFTMAX"], beta=beta
        )
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{s_in} {beta} depth {depth}")


def test_int8_softmax_rejects_rows_with_512_maxima() -> None:
    """At 512 or more entries at the row maximum TFLM's output shift check aborts; the
    reference raises instead (rows with 511 are fine, see the test above)."""
    graph = unary_graph("SOFTMAX", "int8", (2, 600), (0.1, 0), FIXED_OUTPUT["SOFTMAX"], beta=1.0)
    x = np.full((2, 600), -128, np.int8)
    x[1, :512] = 5
    with pytest.raises(BackendError, match=r"SOFTMAX.*reaches 512"):
        run_reference(graph, [x])


TFLM_ABORT_SCRIPT = """
import numpy as np
from tests.runtimes import run_tflm
from tinyabi.ir.builder import GraphBuilder
from tinyabi.tflite.exporter import export_tflite
b = GraphBuilder("abort")
x = b.input("x", "int8", (1, 600), quant=({s_in}, 0))
y = b.tensor("y", "int8", (1, 600), quant=(1 / 256, -128))
b.node("SOFTMAX", [x], [y], beta={beta})
data = np.full((1, 600), -128, np.int8)
data[0, :{count}] = 5
run_tflm(export_tflite(b.build([y])), [data])
print("survived")
"""


@pytest.mark.parametrize(
    ("s_in", "beta", "count"), [(1e-4, 1e-4, 1), (0.1, 1.0, 512)], ids=["tiny-beta", "512-maxima"]
)
def test_tflm_aborts_where_the_reference_declines(s_in: float, beta: float, count: int) -> None:
    """The two SOFTMAX cases the spec excludes crash TFLM (run in a subprocess)."""
    script = textwrap.dedent(TFLM_ABORT_SCRIPT).format(s_in=s_in, beta=beta, count=count)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "survived" not in done.stdout


# --- float32 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ALL_OPS)
def test_float_activation_matches_litert(op: str) -> None:
    rng = np.random.default_rng(100 + sum(map(ord, op)))
    tol = tolerance(op, "float32")
    for i in range(40):
        attrs: dict[str, Any] = {}
        if op == "LEAKY_RELU":
            attrs["alpha"] = float(rng.uniform(-2, 2))
        if op == "SOFTMAX":
            attrs["beta"] = 1.0 if i % 3 == 0 else float(10 ** rng.uniform(-2, 1))
            shape = (*random_shape(rng, 0, 3), int(rng.integers(1, 200)))
        else:
            shape = random_shape(rng) if i % 2 else (3, 500)
        graph = unary_graph(op, "float32", shape, **attrs)
        x = np.asarray(rng.standard_normal(shape) * 10 ** rng.uniform(-2, 1.5), np.float32)
        (want,) = run_litert(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{op} float32 #{i} {shape} {attrs}")


# --- combinations the spec (and TFLM) decline ----------------------------------------------------


@pytest.mark.parametrize(
    ("op", "qin", "qout", "attrs", "words", "tflm_rejects"),
    [
        ("LOGISTIC", (0.1, 0), (1 / 256, -100), {}, "scale 0.00390625 and zero point -128", True),
        ("LOGISTIC", (0.1, 0), (0.01, -128), {}, "scale 0.00390625 and zero point -128", False),
        ("TANH", (0.1, 0), (1 / 128, 5), {}, "scale 0.0078125 and zero point 0", False),
        ("TANH", (0.1, 0), (0.01, 0), {}, "scale 0.0078125 and zero point 0", False),
        ("SOFTMAX", (0.1, 0), (1 / 256, -127), {"beta": 1.0}, "zero point -128", True),
        ("SOFTMAX", (0.1, 0), (1 / 255, -128), {"beta": 1.0}, "zero point -128", True),
        ("SOFTMAX", (1e-4, 0), (1 / 256, -128), {"beta": 1e-4}, "must exceed 2\\*\\*-26", None),
        ("HARD_SWISH", (0.5, 0), (0.5 / 200, 0), {}, "too small for input scale", True),
        ("LOGISTIC", (1e-9, 0), (1 / 256, -128), {}, "below 2\\*\\*-28", None),
        ("TANH", (2e-9, 0), (1 / 128, 0), {}, "below 2\\*\\*-28", None),
        ("RELU", (1.0, 0), (2**-31, 0), {}, "too large", None),
        ("LEAKY_RELU", (1.0, 0), (1.0, 0), {"alpha": 4e9}, "too large", None),
        ("LEAKY_RELU", (1.0, 0), (1.0, 0), {"alpha": float("inf")}, "must be finite", None),
        ("RELU6", (0.1, 0), (0.2, 0), {}, "scale 0.1.* and zero point 0", False),
    ],
)
def test_int8_declined_combinations(
    op: str,
    qin: tuple[float, int],
    qout: tuple[float, int],
    attrs: dict[str, Any],
    words: str,
    tflm_rejects: bool | None,
) -> None:
    """The kernel declines; ``tflm_rejects`` says whether TFLM fails to prepare (True), runs
    with a meaning the spec does not give (False) or aborts the process (None, not run)."""
    graph = unary_graph(op, "int8", (1, 8), qin, qout, **attrs)
    with pytest.raises(GraphError, match=rf"'act' \({op}\).*{words}"):
        prepare(graph.nodes[0], graph)
    with pytest.raises(TinyABIError):
        Session(graph)
    if tflm_rejects is not None:
        model = export_tflite(graph)
        x = np.zeros((1, 8), np.int8)
        if tflm_rejects:
            with pytest.raises(RuntimeError, match="allocate"):
                run_tflm(model, [x])
        else:
            run_tflm(model, [x])


def test_relu6_output_quantization_must_match_input() -> None:
    graph = unary_graph("RELU6", "int8", (4,), (0.1, 3), (0.1, 4))
    with pytest.raises(TinyABIError, match="same quantization as input"):
        Session(graph)


@pytest.mark.parametrize("op", ALL_OPS)
def test_int8_signature_errors(op: str) -> None:
    attrs = ATTRS.get(op, {})
    out = FIXED_OUTPUT.get(op, (0.1, 0))
    node_re = rf"'act' \({op}\)"
    graph = unary_graph(op, "int8", (2, 4), None, out, **attrs)
    with pytest.raises(GraphError, match=rf"{node_re}.*per-tensor quantization"):
        prepare(graph.nodes[0], graph)
    per_axis = Quantization(np.array([0.1, 0.2]), np.array([0, 0]), axis=0)
    graph = unary_graph(op, "int8", (2, 4), per_axis, out, **attrs)
    with pytest.raises(GraphError, match=rf"{node_re}.*per-tensor quantization"):
        prepare(graph.nodes[0], graph)
    b = GraphBuilder("mixed")
    x = b.input("x", "int8", (2, 4), quant=(0.1, 0))
    y = b.tensor("y", "float32", (2, 4))
    b.node(op, [x], [y], name="act", **attrs)
    graph = b.build([y])
    with pytest.raises(GraphError, match=rf"{node_re}.*int8 -> float32"):
        prepare(graph.nodes[0], graph)


@pytest.mark.parametrize(("op", "attr"), [("LEAKY_RELU", "alpha"), ("SOFTMAX", "beta")])
def test_missing_required_attribute(op: str, attr: str) -> None:
    graph = unary_graph(op, "float32", (2, 3))
    with pytest.raises(GraphError, match=f"missing required attribute.*{attr}"):
        prepare(graph.nodes[0], graph)
    with pytest.raises(GraphError, match=f"missing required attribute.*{attr}"):
        Session(graph)


# --- shape rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ALL_OPS)
def test_shape_rule_keeps_the_input_shape(op: str) -> None:
    shapes = [(5,), (2, 3), (1, 4, 4, 3), (2, 1, 2, 1, 2, 1, 2)]
    for shape in shapes if op == "SOFTMAX" else [(), *shapes]:
        graph = unary_graph(op, "float32", shape, **ATTRS.get(op, {}))
        assert infer_shapes(graph.nodes[0], graph) == [shape]


def test_softmax_needs_a_dimension() -> None:
    graph = unary_graph("SOFTMAX", "float32", (), beta=1.0)
    with pytest.raises(GraphError, match=r"'act' \(SOFTMAX\).*at least one dimension"):
        infer_shapes(graph.nodes[0], graph)
    with pytest.raises(GraphError, match="at least one dimension"):
        prepare(graph.nodes[0], graph)


@pytest.mark.parametrize("op", ALL_OPS)
def test_shape_rule_errors(op: str) -> None:
    b = GraphBuilder("two")
    x = b.input("x", "float32", (2, 3))
    x2 = b.input("x2", "float32", (2, 3))
    y = b.tensor("y", "float32", (2, 3))
    b.node(op, [x, x2], [y], name="act")
    graph = b.build([y])
    with pytest.raises(GraphError, match=rf"'act' \({op}\).*exactly one input"):
        infer_shapes(graph.nodes[0], graph)
    graph = unary_graph(op, "float32", (2, 3), **ATTRS.get(op, {}))
    graph.tensor("y").shape = (3, 2)
    with pytest.raises(GraphError, match=rf"'act' \({op}\).*shape rule"):
        prepare(graph.nodes[0], graph)
    with pytest.raises(GraphError, match="shape rule"):
        Session(graph)


# --- the fixed-point functions themselves --------------------------------------------------------


def test_fixed_point_functions_approximate_their_real_counterparts() -> None:
    a = np.linspace(-15.9, 0, 2001)
    for bits in (4, 5):
        raw = np.round(a * 2.0 ** (31 - bits)).astype(np.int64)
        got = act.exp_on_negative_values(raw, bits) / 2.0**31
        assert np.max(np.abs(got - np.exp(raw / 2.0 ** (31 - bits)))) < 3e-7
    v = np.linspace(-15.9, 15.9, 2001)
    raw = np.round(v * 2.0**27).astype(np.int64)
    real = raw / 2.0**27
    assert np.max(np.abs(act.fixed_logistic(raw, 4) / 2.0**31 - 1 / (1 + np.exp(-real)))) < 1e-7
    assert np.max(np.abs(act.fixed_tanh(raw, 4) / 2.0**31 - np.tanh(real))) < 2e-7
    u = np.linspace(0, 1, 1001, endpoint=False)
    raw = np.round(u * 2.0**31).astype(np.int64)
    assert np.max(np.abs(act.one_over_one_plus_x_for_x_in_0_1(raw) / 2.0**31 - 1 / (1 + u))) < 1e-8
    got = act.one_minus_x_over_one_plus_x_for_x_in_0_1(raw) / 2.0**31
    assert np.max(np.abs(got - (1 - u) / (1 + u))) < 2e-8
    clz = act.count_leading_zeros_u32(np.array([0, 1, 2**19, 2**31, 2**32 - 1]))
    assert clz.tolist() == [32, 31, 12, 0, 0]


def test_int16_rounding_shift_degenerates_like_tflm_for_large_exponents() -> None:
    x = np.array([-300, -1, 0, 1, 300])
    assert list(act._rounding_divide_by_pot16(x, 3)) == [-38, 0, 0, 0, 38]
    assert list(act._rounding_divide_by_pot16(x, 20)) == [-1, -1, 1, 1, 1]


def test_int8_softmax_is_vectorized_over_rows() -> None:
    """A large batch runs without a Python loop over rows (well under a second)."""
    import time

    graph = unary_graph(
        "SOFTMAX", "int8", (2000, 1000), (0.05, 0), FIXED_OUTPUT["SOFTMAX"], beta=1.0
    )
    evaluate = prepare(graph.nodes[0], graph)
    x = np.random.default_rng(0).integers(-128, 128, size=(2000, 1000), dtype=np.int8)
    start = time.perf_counter()
    (out,) = evaluate([x])
    assert time.perf_counter() - start < 5.0
    assert out.shape == x.shape and out.dtype == np.int8


@pytest.mark.parametrize("op", ALL_OPS)
def test_spec_file_is_valid(op: str) -> None:
    spec = op_spec(op)
    assert spec.name == op
    with_int16 = ("LEAKY_RELU", "LOGISTIC", "TANH", "SOFTMAX")
    expected = {"int8", "int16", "float32"} if op in with_int16 else {"int8", "float32"}
    assert {s.name for s in spec.signatures} == expected
    assert tolerance(op, "int8").kind == "exact"
