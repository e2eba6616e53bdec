"""ADD, SUB and MUL: reference kernels against TFLite Micro (int8, int32: bit-exact) and LiteRT
(float32: within the spec's tolerance), over many seeded-random shapes, broadcasts, constant
operands, quantization parameters and fused activations; plus the shape rule and the parameter
combinations the spec declines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable

import numpy as np
import pytest

from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import GraphError, TinyABIError
from tinyabi.ir.builder import GraphBuilder, QuantLike
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.shapes import infer_shapes
from tinyabi.ir.shapes.elementwise import MAX_RANK, broadcast_shape
from tinyabi.kernels import prepare
from tinyabi.kernels.elementwise import PAIR_TABLE_MIN_ELEMENTS
from tinyabi.session import Session
from tinyabi.spec import load_spec
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite

OPS = ["ADD", "SUB", "MUL"]
ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
CONSTANTS = ["none", "first", "second", "both"]
Shape = tuple[int, ...]


# ----------------------------------------------------------------------------- helpers


def float_tolerance(op: str) -> tuple[float, float]:
    """``(atol, rtol)`` of the op's float32 signature, read from its spec file."""
    signature = next(s for s in load_spec().operators[op].signatures if s.name == "float32")
    assert signature.tolerance.kind == "float"
    return signature.tolerance.atol, signature.tolerance.rtol


def build(
    op: str,
    dtype: str,
    first: np.ndarray,
    second: np.ndarray,
    quants: tuple[QuantLike, QuantLike, QuantLike] = (None, None, None),
    activation: str = "NONE",
    constant: str = "none",
    out_shape: Shape | None = None,
) -> tuple[Graph, list[np.ndarray]]:
    """A single-operator graph and its feeds; ``constant`` says which inputs are constants."""
    b = GraphBuilder(f"{op.lower()}_{dtype}")
    feeds = []
    names = []
    for index, (value, quant) in enumerate(zip((first, second), quants[:2]), start=1):
        if constant in ("both", ("first", "second")[index - 1]):
            names.append(b.const(f"in{index}", value, quant, dtype=dtype))
        else:
            names.append(b.input(f"in{index}", dtype, value.shape, quant))
            feeds.append(value)
    shape = np.broadcast_shapes(first.shape, second.shape) if out_shape is None else out_shape
    out = b.tensor("out", dtype, shape, quants[2])
    b.node(op, names, [out], fused_activation=activation)
    return b.build([out]), feeds


def run_reference(graph: Graph, feeds: list[np.ndarray]) -> np.ndarray:
    return Session(graph).run(feeds)[graph.outputs[0]]


def random_shapes(rng: np.random.Generator) -> tuple[Shape, Shape]:
    """Two broadcast-compatible shapes of rank 0..6: broadcasts in random dimensions, dropped
    leading dimensions, scalars ``[]`` and ``[1]``."""
    rank = int(rng.integers(0, MAX_RANK + 1))
    full = tuple(int(d) for d in rng.integers(1, 5, rank))

    def operand() -> Shape:
        draw = rng.random()
        if draw < 0.08:
            return ()
        if draw < 0.14:
            return (1,)
        shape = tuple(d if rng.random() < 0.6 else 1 for d in full)
        return shape[int(rng.integers(0, rank + 1)) :] if rng.random() < 0.3 else shape

    return operand(), operand()


def random_int8(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    return np.asarray(rng.integers(-128, 128, shape), dtype=np.int8)


def random_float(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    magnitude = 10.0 ** rng.uniform(-3, 3, shape)
    return np.asarray(rng.standard_normal(shape) * magnitude, dtype=np.float32)


def f32(value: float) -> float:
    return float(np.float32(value))


def random_quants(
    op: str, rng: np.random.Generator
) -> tuple[tuple[float, int], tuple[float, int], tuple[float, int]]:
    """Quantization of the two inputs and the output: independent random scales and zero
    points, or an output scale tied to what the inputs produce, or all three shared."""

    def zp() -> int:
        return int(rng.integers(-128, 128))

    s1, s2 = (f32(10 ** rng.uniform(-3, 0.5)) for _ in range(2))
    draw = rng.random()
    if draw < 0.4:
        so = f32(10 ** rng.uniform(-3, 0.5))
    elif draw < 0.85:
        natural = s1 * s2 * 128 if op == "MUL" else max(s1, s2) * 2
        so = f32(natural * 10 ** rng.uniform(-1.5, 1))
    else:
        s2 = so = s1
        return (s1, zp()), (s2, zp()), (so, zp())
    return (s1, zp()), (s2, zp()), (so, zp())


def assert_int_equal(ours: np.ndarray, ref: np.ndarray, context: object) -> None:
    assert ours.dtype == ref.dtype and ours.shape == ref.shape, (ours.dtype, ours.shape, ref.shape)
    if not np.array_equal(ours, ref):
        diff = np.abs(ours.astype(np.int64) - ref.astype(np.int64))
        raise AssertionError(
            f"{context}: {int((diff > 0).sum())}/{diff.size} elements differ, max {diff.max()}"
        )


# ----------------------------------------------------------------------------- int8 vs TFLM


@pytest.mark.parametrize("op", OPS)
def test_int8_random_matches_tflm(op: str) -> None:
    rng = np.random.default_rng({"ADD": 11, "SUB": 12, "MUL": 13}[op])
    for case in range(400):
        shape1, shape2 = random_shapes(rng)
        quants = random_quants(op, rng)
        activation = ACTIVATIONS[case % 4]
        constant = CONSTANTS[int(rng.integers(0, 4))] if case % 3 == 0 else "none"
        first, second = random_int8(rng, shape1), random_int8(rng, shape2)
        graph, feeds = build(op, "int8", first, second, quants, activation, constant)
        ours = run_reference(graph, feeds)
        ref = run_tflm(export_tflite(graph), feeds)[0]
        assert_int_equal(ours, ref, (op, case, shape1, shape2, quants, activation, constant))


def random_int16_quants(
    op: str, rng: np.random.Generator
) -> tuple[tuple[float, int], tuple[float, int], tuple[float, int]]:
    """16x8 quantization: symmetric (the converters' choice) and, for ADD/SUB, sometimes with
    the non-zero zero points TFLM also accepts there; MUL's output scale keeps its multiplier
    below one."""
    s1, s2, so = (f32(10 ** rng.uniform(-4, -1)) for _ in range(3))
    if op == "MUL":
        so = f32(s1 * s2 * 10 ** rng.uniform(0.01, 4))
        return (s1, 0), (s2, 0), (so, 0)
    if rng.random() < 0.3:
        z1, z2, zo = (int(rng.integers(-300, 300)) for _ in range(3))
        return (s1, z1), (s2, z2), (so, zo)
    return (s1, 0), (s2, 0), (so, 0)


@pytest.mark.parametrize("op", OPS)
def test_int16_random_matches_tflm(op: str) -> None:
    """The 16x8 signatures: random shapes, broadcasts, constants, activations, int16 values
    over their whole range."""
    rng = np.random.default_rng({"ADD": 31, "SUB": 32, "MUL": 33}[op])
    for case in range(80):
        shape1, shape2 = random_shapes(rng)
        quants = random_int16_quants(op, rng)
        activation = ACTIVATIONS[case % 4]
        constant = CONSTANTS[int(rng.integers(0, 4))] if case % 3 == 0 else "none"
        first = np.asarray(rng.integers(-32768, 32768, shape1), dtype=np.int16)
        second = np.asarray(rng.integers(-32768, 32768, shape2), dtype=np.int16)
        graph, feeds = build(op, "int16", first, second, quants, activation, constant)
        ours = run_reference(graph, feeds)
        ref = run_tflm(export_tflite(graph), feeds)[0]
        assert_int_equal(ours, ref, (op, case, shape1, shape2, quants, activation, constant))


#: int16 extremes: |q - zp| = 65535 (the largest shift by 15 that fits int32), the smallest
#: output scale ADD/SUB accept, MUL's largest product with a multiplier just below one.
INT16_EXTREMES = {
    "ADD": [((0.5, -32768), (0.25, 32767), (1.0, 0)), ((1e-3, 0), (1e-3, 0), (6.2e-8, 0))],
    "SUB": [((1.0, 32767), (1.0, -32768), (1e-3, 100)), ((1e-3, 0), (1e-3, 0), (6.2e-8, 0))],
    "MUL": [((1.0, 0), (1.0, 0), (1.0001, 0)), ((1e-3, 0), (2e-3, 0), (1e-2, 0))],
}


@pytest.mark.parametrize("op", OPS)
def test_int16_extremes_match_tflm(op: str) -> None:
    values = np.array([-32768, -32767, -12345, -1, 0, 1, 23456, 32766, 32767], np.int16)
    for quants in INT16_EXTREMES[op]:
        for activation in ACTIVATIONS:
            graph, feeds = build(
                op, "int16", values.reshape(-1, 1), values.reshape(1, -1), quants, activation
            )
            ref = run_tflm(export_tflite(graph), feeds)[0]
            assert_int_equal(run_reference(graph, feeds), ref, (op, quants, activation))


# (s1, zp1), (s2, zp2), (s_out, zp_out), activation: hand-picked extremes.
EXTREME_QUANTS = [
    ((0.05, 0), (0.05, 0), (0.05, 0), "NONE"),
    ((1.0, -128), (0.001, 127), (0.5, 0), "NONE"),
    ((0.001, 127), (1.0, -128), (0.002, -128), "RELU"),
    ((0.0123, -5), (0.0456, 17), (0.03, -1), "RELU6"),
    ((0.1, 3), (0.2, -3), (0.01, 0), "RELU_N1_TO_1"),
    ((0.5, 0), (0.25, 0), (1e-4, 0), "RELU"),
    ((0.0078125, -128), (0.0078125, -128), (0.0078125, -128), "NONE"),
    ((3.0e-3, 100), (7.0e-4, -100), (4.0e-3, 12), "RELU6"),
]


@pytest.mark.parametrize("op", OPS)
def test_int8_all_input_pairs_match_tflm(op: str) -> None:
    """Every (q1, q2) pair at once, through a [256, 1] x [1, 256] broadcast, for extreme and
    random quantization parameters: catches rare rounding ties (e.g. multipliers derived in
    float32 instead of double differ from TFLM on a handful of pairs)."""
    rng = np.random.default_rng({"ADD": 21, "SUB": 22, "MUL": 23}[op])
    values = np.arange(-128, 128, dtype=np.int8)
    cases = list(EXTREME_QUANTS)
    for _ in range(40):
        q1, q2, qo = random_quants(op, rng)
        cases.append((q1, q2, qo, ACTIVATIONS[int(rng.integers(0, 4))]))
    for q1, q2, qo, activation in cases:
        graph, feeds = build(
            op, "int8", values.reshape(256, 1), values.reshape(1, 256), (q1, q2, qo), activation
        )
        ours = run_reference(graph, feeds)
        ref = run_tflm(export_tflite(graph), feeds)[0]
        assert_int_equal(ours, ref, (op, q1, q2, qo, activation))


@pytest.mark.parametrize("op", OPS)
def test_int8_large_outputs_match_tflm(op: str) -> None:
    """Outputs of PAIR_TABLE_MIN_ELEMENTS or more go through the kernel's pair-table path."""
    rng = np.random.default_rng({"ADD": 26, "SUB": 27, "MUL": 28}[op])
    shapes = [((1, 64, 64, 16), (16,)), ((1, 32, 1, 64), (1, 1, 40, 64)), ((70000,), ())]
    for shape1, shape2 in shapes:
        assert np.prod(np.broadcast_shapes(shape1, shape2)) >= PAIR_TABLE_MIN_ELEMENTS
        quants = random_quants(op, rng)
        first, second = random_int8(rng, shape1), random_int8(rng, shape2)
        graph, feeds = build(op, "int8", first, second, quants, "RELU6", "second")
        ref = run_tflm(export_tflite(graph), feeds)[0]
        assert_int_equal(run_reference(graph, feeds), ref, (op, shape1, shape2, quants))


@pytest.mark.parametrize("op", OPS)
def test_int8_broadcast_in_each_dimension(op: str) -> None:
    """A rank-6 tensor against the same shape with one dimension (or all but one) set to 1,
    in both operand orders."""
    rng = np.random.default_rng(31)
    full = (2, 3, 2, 3, 2, 3)
    quants = ((0.04, 7), (0.03, -9), (0.05 if op != "MUL" else 0.6, 2))
    for axis in range(MAX_RANK):
        one = tuple(1 if i == axis else d for i, d in enumerate(full))
        only = tuple(d if i == axis else 1 for i, d in enumerate(full))
        for shape1, shape2 in [(full, one), (one, full), (full, only), (only, full), (one, only)]:
            first, second = random_int8(rng, shape1), random_int8(rng, shape2)
            graph, feeds = build(op, "int8", first, second, quants, "NONE")
            ref = run_tflm(export_tflite(graph), feeds)[0]
            assert_int_equal(run_reference(graph, feeds), ref, (op, shape1, shape2))


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_int8_add_sub_output_scale_near_limit(op: str) -> None:
    """The smallest output scales TFLM accepts (output multiplier just below 1)."""
    values = np.arange(-128, 128, dtype=np.int8)
    for s1, s2 in [(1.0, 0.5), (0.01, 0.02), (0.3, 0.3)]:
        so = f32(2 * max(s1, s2) / 2**20 * 1.0001)
        graph, feeds = build(
            op, "int8", values.reshape(256, 1), values.reshape(1, 256), ((s1, 4), (s2, -6), (so, 1))
        )
        ref = run_tflm(export_tflite(graph), feeds)[0]
        assert_int_equal(run_reference(graph, feeds), ref, (op, s1, s2, so))


def test_int8_mul_large_multipliers_match_tflm() -> None:
    """Real multipliers above 1 (positive shifts) up to just below the 2**15 limit."""
    values = np.arange(-128, 128, dtype=np.int8)
    for multiplier in [1.5, 7.3, 100.0, 2**14.9, 32767.0]:
        for zps in [(0, 0, 0), (5, -7, 3), (-128, 127, -128)]:
            quants = ((1.0, zps[0]), (0.5, zps[1]), (f32(0.5 / multiplier), zps[2]))
            graph, feeds = build(
                "MUL", "int8", values.reshape(256, 1), values.reshape(1, 256), quants
            )
            ref = run_tflm(export_tflite(graph), feeds)[0]
            assert_int_equal(run_reference(graph, feeds), ref, (multiplier, zps))


def test_int8_roundtrip_through_tflite_file() -> None:
    """The exported model, imported again, runs to the same bytes."""
    rng = np.random.default_rng(41)
    first, second = random_int8(rng, (1, 5, 5, 8)), random_int8(rng, (8,))
    graph, feeds = build(
        "ADD", "int8", first, second, ((0.02, -3), (0.05, 9), (0.06, 1)), "RELU", "second"
    )
    model = export_tflite(graph)
    imported = load_tflite(model)
    assert imported.nodes[0].op == "ADD"
    assert imported.nodes[0].attrs["fused_activation"] == "RELU"
    ours = Session(model).run(feeds)[imported.outputs[0]]
    assert_int_equal(ours, run_tflm(model, feeds)[0], "roundtrip")


# ----------------------------------------------------------------------------- float32 vs LiteRT


@pytest.mark.parametrize("op", OPS)
def test_float32_random_matches_litert(op: str) -> None:
    atol, rtol = float_tolerance(op)
    rng = np.random.default_rng({"ADD": 51, "SUB": 52, "MUL": 53}[op])
    for case in range(300):
        shape1, shape2 = random_shapes(rng)
        activation = ACTIVATIONS[case % 4]
        constant = CONSTANTS[int(rng.integers(0, 4))] if case % 3 == 0 else "none"
        first, second = random_float(rng, shape1), random_float(rng, shape2)
        graph, feeds = build(op, "float32", first, second, activation=activation, constant=constant)
        ours = run_reference(graph, feeds)
        ref = run_litert(export_tflite(graph), feeds)[0]
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_allclose(
            ours, ref, atol=atol, rtol=rtol, err_msg=f"{op} {case} {shape1} {shape2} {activation}"
        )


# ----------------------------------------------------------------------------- int32 vs TFLM


@pytest.mark.parametrize("op", OPS)
def test_int32_random_matches_tflm(op: str) -> None:
    """Exact, including wraparound: half the cases draw from the whole int32 range."""
    rng = np.random.default_rng({"ADD": 61, "SUB": 62, "MUL": 63}[op])
    for case in range(200):
        shape1, shape2 = random_shapes(rng)
        activation = "NONE" if op == "ADD" else ACTIVATIONS[case % 4]
        bound = 2**31 if case % 2 else 50
        constant = CONSTANTS[int(rng.integers(0, 4))] if case % 3 == 0 else "none"
        first, second = (
            np.asarray(rng.integers(-bound, bound, s), dtype=np.int32) for s in (shape1, shape2)
        )
        graph, feeds = build(op, "int32", first, second, activation=activation, constant=constant)
        ref = run_tflm(export_tflite(graph), feeds)[0]
        assert_int_equal(run_reference(graph, feeds), ref, (op, case, shape1, shape2, activation))


# ----------------------------------------------------------------------------- shape rule


@pytest.mark.parametrize(
    ("shape1", "shape2", "expected"),
    [
        ((), (), ()),
        ((), (2, 3), (2, 3)),
        ((1,), (2, 3), (2, 3)),
        ((4, 1, 3), (5, 1), (4, 5, 3)),
        ((1, 2, 1, 4, 1, 6), (3, 1, 5, 1, 7, 1), (3, 2, 5, 4, 7, 6)),
        ((0, 3), (1, 3), (0, 3)),
        ((2, 1), (2, 1), (2, 1)),
    ],
)
def test_shape_rule_broadcasts(shape1: Shape, shape2: Shape, expected: Shape) -> None:
    node = Node("n", "ADD", ["a", "b"], ["c"])
    assert broadcast_shape(node, shape1, shape2) == expected
    assert broadcast_shape(node, shape2, shape1) == expected
    assert expected == np.broadcast_shapes(shape1, shape2)


def test_shape_rule_matches_numpy_on_random_shapes() -> None:
    rng = np.random.default_rng(71)
    node = Node("n", "MUL", ["a", "b"], ["c"])
    for _ in range(300):
        shape1, shape2 = random_shapes(rng)
        assert broadcast_shape(node, shape1, shape2) == np.broadcast_shapes(shape1, shape2)


@pytest.mark.parametrize(
    ("shape1", "shape2", "message"),
    [
        ((2, 3), (3, 2), "do not broadcast"),
        ((4,), (1, 3), "do not broadcast"),
        ((0,), (2,), "do not broadcast"),
        ((1,) * 7, (1,), "at most 6 dimensions"),
        ((2,), (1,) * 7, "at most 6 dimensions"),
    ],
)
def test_shape_rule_errors(shape1: Shape, shape2: Shape, message: str) -> None:
    b = GraphBuilder("bad")
    x = b.input("x", "float32", shape1)
    y = b.input("y", "float32", shape2)
    z = b.tensor("z", "float32", (1,))
    b.node("SUB", [x, y], [z], name="the_sub")
    graph = b.build([z])
    with pytest.raises(GraphError, match=message) as info:
        infer_shapes(graph.nodes[0], graph)
    assert "the_sub" in str(info.value)
    with pytest.raises(GraphError, match=message):
        prepare(graph.nodes[0], graph)


def test_wrong_output_shape_is_rejected() -> None:
    first, second = np.zeros((2, 3), np.float32), np.zeros((3,), np.float32)
    graph, _ = build("ADD", "float32", first, second, out_shape=(6,))
    with pytest.raises(TinyABIError, match="shape rule"):
        Session(graph)
    with pytest.raises(GraphError, match="broadcast"):
        prepare(graph.nodes[0], graph)


def test_wrong_input_count_is_rejected() -> None:
    b = GraphBuilder("bad")
    x = b.input("x", "float32", (3,))
    z = b.tensor("z", "float32", (3,))
    b.node("MUL", [x], [z])
    graph = b.build([z])
    with pytest.raises(GraphError, match="two inputs"):
        infer_shapes(graph.nodes[0], graph)


# ----------------------------------------------------------------------------- declined combos


def _declined(graph: Graph, message: str) -> None:
    with pytest.raises(GraphError, match=message) as info:
        prepare(graph.nodes[0], graph)
    assert graph.nodes[0].name in str(info.value)


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_int8_add_sub_reject_tiny_output_scale(op: str) -> None:
    """Output multiplier 2 max(s1, s2) / (2**20 s_out) >= 1: TFLM aborts, the spec declines."""
    values = np.zeros((4,), np.int8)
    graph, _ = build(op, "int8", values, values, ((1.0, 0), (0.5, 0), (1.9e-6, 0)))
    _declined(graph, "output multiplier")


def test_tflm_aborts_on_tiny_add_output_scale(tmp_path: object) -> None:
    """The decline above mirrors TFLM, which kills the process on such a model."""
    values = np.zeros((4,), np.int8)
    graph, _ = build("ADD", "int8", values, values, ((1.0, 0), (0.5, 0), (1.9e-6, 0)))
    path = f"{tmp_path}/tiny_scale.tflite"
    with open(path, "wb") as f:
        f.write(export_tflite(graph))
    code = textwrap.dedent(
        f"""
        import numpy as np
        from tflite_micro.python.tflite_micro import runtime
        interpreter = runtime.Interpreter.from_file({path!r}, arena_size=1 << 20)
        for i in range(2):
            interpreter.set_input(np.zeros((4,), np.int8), i)
        interpreter.invoke()
        print("ran")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode != 0 or b"ran" not in result.stdout


def test_int8_mul_rejects_huge_multiplier() -> None:
    values = np.zeros((4,), np.int8)
    graph, _ = build("MUL", "int8", values, values, ((1.0, 0), (1.0, 0), (f32(2.0**-15), 0)))
    _declined(graph, "below 2\\*\\*15")


def test_int32_add_rejects_fused_activation() -> None:
    values = np.zeros((4,), np.int32)
    for activation in ["RELU", "RELU6", "RELU_N1_TO_1"]:
        graph, _ = build("ADD", "int32", values, values, activation=activation)
        _declined(graph, "int32 ADD")
        with pytest.raises(TinyABIError, match="int32 ADD"):
            Session(graph)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: build(
                "ADD", "int8", np.zeros(3, np.int8), np.zeros(3, np.int8), (None, (0.1, 0), None)
            ),
            "no quantization",
        ),
        (
            lambda: build(
                "MUL",
                "float32",
                np.zeros(3, np.float32),
                np.zeros(3, np.float32),
                ((0.1, 0), None, None),
            ),
            "must not be quantized",
        ),
        (
            lambda: build(
                "SUB",
                "int32",
                np.zeros(3, np.int32),
                np.zeros(3, np.int32),
                (None, None, (1.0, 0)),
            ),
            "must not be quantized",
        ),
        (
            lambda: build(
                "MUL",
                "int16",
                np.zeros(3, np.int16),
                np.zeros(3, np.int16),
                ((0.1, 3), (0.1, 0), (0.1, 0)),
            ),
            "zero points 0",
        ),
        (
            lambda: build(
                "MUL",
                "int16",
                np.zeros(3, np.int16),
                np.zeros(3, np.int16),
                ((0.5, 0), (0.5, 0), (0.1, 0)),
            ),
            "below 1 for int16",
        ),
        (
            lambda: build(
                "ADD",
                "int16",
                np.zeros(3, np.int16),
                np.zeros(3, np.int16),
                ((0.1, 0), (0.1, 0), (1e-6, 0)),
            ),
            "2\\*\\*15",
        ),
        (
            lambda: build(
                "ADD",
                "uint8",
                np.zeros(3, np.uint8),
                np.zeros(3, np.uint8),
                ((0.1, 0), (0.1, 0), (0.1, 0)),
            ),
            "not supported",
        ),
        (
            lambda: build(
                "ADD",
                "int8",
                np.zeros(3, np.int8),
                np.zeros(3, np.int8),
                ((0.1, 0), (0.1, 0), (0.1, 0)),
                activation="TANH",
            ),
            "fused activation",
        ),
    ],
)
def test_kernel_declines_bad_signatures(
    make: Callable[[], tuple[Graph, list[np.ndarray]]], message: str
) -> None:
    graph, _ = make()
    _declined(graph, message)


def test_kernel_declines_mixed_types_and_per_axis_quantization() -> None:
    from tinyabi.ir.graph import Quantization

    b = GraphBuilder("mixed")
    x = b.input("x", "int8", (2, 3), (0.1, 0))
    y = b.input("y", "float32", (2, 3))
    z = b.tensor("z", "int8", (2, 3), (0.1, 0))
    b.node("ADD", [x, y], [z])
    _declined(b.build([z]), "share one element type")

    b = GraphBuilder("per_axis")
    x = b.input("x", "int8", (2, 3), Quantization(np.array([0.1, 0.2, 0.3]), np.zeros(3), 1))
    y = b.input("y", "int8", (2, 3), (0.1, 0))
    z = b.tensor("z", "int8", (2, 3), (0.1, 0))
    b.node("MUL", [x, y], [z])
    _declined(b.build([z]), "per tensor")
