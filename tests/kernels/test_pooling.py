"""Pooling kernels (AVERAGE_POOL_2D, MAX_POOL_2D, MEAN) against the real runtimes.

Integer signatures must be byte-identical with TensorFlow Lite Micro; float32 ones within the
tolerance their spec file declares, against LiteRT. Every case is a single-operator graph built
with seeded random shapes, attributes and quantization parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.kernels.spec_check import assert_within, op_spec, tolerance
from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import GraphError, TinyABIError
from tinyabi.ir.builder import GraphBuilder, QuantLike
from tinyabi.ir.graph import Graph
from tinyabi.ir.shapes import infer_shapes
from tinyabi.kernels import pooling as pooling_kernels
from tinyabi.kernels import prepare
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite

POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def run_reference(graph: Graph, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The single output of ``graph`` by the reference kernels (through a validating Session)."""
    (out,) = Session(graph).run(list(inputs)).values()
    return out


def run_litert_builtin(model: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """LiteRT with its builtin kernels only (no default XNNPACK delegate)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def random_values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Test inputs: the full integer range (sometimes saturated), or normal floats."""
    if dtype == "float32":
        scale = 10 ** rng.uniform(-1, 1)
        return (rng.standard_normal(shape) * scale + rng.uniform(-3, 3)).astype(np.float32)
    info = np.iinfo(np.dtype(dtype))
    if rng.random() < 0.05:
        return np.full(shape, info.min if rng.random() < 0.5 else info.max, dtype=dtype)
    return rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)


def random_quant(rng: np.random.Generator, dtype: str) -> tuple[float, int] | None:
    if dtype == "float32":
        return None
    if dtype == "int16":
        return float(10 ** rng.uniform(-5, -2)), int(rng.integers(-2000, 2000))
    return float(10 ** rng.uniform(-3, 0)), int(rng.integers(-128, 128))


# --------------------------------------------------------------------------------------------
# 2-D pooling
# --------------------------------------------------------------------------------------------


def expected_pool_size(size: int, window: int, stride: int, padding: str) -> int:
    """Output positions along one axis, worked out independently of the shape rule."""
    return -(-size // stride) if padding == "SAME" else (size - window) // stride + 1


def pool_graph(
    op: str,
    dtype: str,
    shape: tuple[int, int, int, int],
    filter_hw: tuple[int, int],
    stride_hw: tuple[int, int],
    padding: str,
    activation: str,
    quant: QuantLike,
    out_quant: QuantLike = None,
) -> Graph:
    """A single AVERAGE_POOL_2D / MAX_POOL_2D graph."""
    (fh, fw), (sh, sw) = filter_hw, stride_hw
    oh, ow = (
        expected_pool_size(shape[1], fh, sh, padding),
        expected_pool_size(shape[2], fw, sw, padding),
    )
    b = GraphBuilder(op.lower())
    x = b.input("x", dtype, shape, quant=quant)
    y = b.tensor("y", dtype, (shape[0], oh, ow, shape[3]), quant=out_quant or quant)
    b.node(
        op,
        [x],
        [y],
        padding=padding,
        stride_h=sh,
        stride_w=sw,
        filter_h=fh,
        filter_w=fw,
        fused_activation=activation,
    )
    return b.build([y])


def random_pool_case(rng: np.random.Generator, dtype: str) -> dict[str, Any]:
    shape = (
        int(rng.integers(1, 3)),
        int(rng.integers(1, 24)),
        int(rng.integers(1, 24)),
        int(rng.integers(1, 10)),
    )
    filter_hw = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    stride_hw = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    fits = filter_hw[0] <= shape[1] and filter_hw[1] <= shape[2]
    padding = "VALID" if fits and rng.random() < 0.5 else "SAME"
    return {
        "shape": shape,
        "filter_hw": filter_hw,
        "stride_hw": stride_hw,
        "padding": padding,
        "activation": str(rng.choice(ACTIVATIONS)),
        "quant": random_quant(rng, dtype),
    }


@pytest.mark.parametrize(("dtype", "cases"), [("int8", 600), ("int16", 200)])
@pytest.mark.parametrize("op", POOLS)
def test_integer_pooling_is_bit_exact_with_tflm(op: str, dtype: str, cases: int) -> None:
    rng = np.random.default_rng([POOLS.index(op), cases])
    tol = tolerance(op, dtype)
    assert tol.kind == "exact"
    for _ in range(cases):
        case = random_pool_case(rng, dtype)
        graph = pool_graph(op, dtype, **case)
        x = random_values(rng, dtype, case["shape"])
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{op} {dtype} {case}")


def test_int8_average_pool_integer_division_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The integer-division fallback (for windows of 2**21 positions or more) agrees too."""
    monkeypatch.setattr(pooling_kernels, "FLOAT_DIVIDE_COUNT_LIMIT", 0)
    rng = np.random.default_rng(23)
    for _ in range(100):
        case = random_pool_case(rng, "int8")
        graph = pool_graph("AVERAGE_POOL_2D", "int8", **case)
        x = random_values(rng, "int8", case["shape"])
        (want,) = run_tflm(export_tflite(graph), [x])
        (got,) = prepare(graph.nodes[0], graph)([x])
        assert got.tobytes() == want.tobytes(), f"{case}"


@pytest.mark.parametrize("op", POOLS)
def test_float_pooling_matches_litert(op: str) -> None:
    rng = np.random.default_rng([7, POOLS.index(op)])
    tol = tolerance(op, "float32")
    done = 0
    while done < 500:
        case = random_pool_case(rng, "float32")
        (h, w), (fh, fw) = case["shape"][1:3], case["filter_hw"]
        if op == "AVERAGE_POOL_2D" and (fh > h or fw > w):
            continue  # XNNPACK's quirk, see test_float_average_pool_with_filter_larger_than_input
        graph = pool_graph(op, "float32", **case)
        x = random_values(rng, "float32", case["shape"])
        (want,) = run_litert(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{op} float32 {case}")
        done += 1


def test_float_average_pool_with_filter_larger_than_input() -> None:
    """Windows cut on both sides: the count is that of the real positions, as in LiteRT's
    builtin kernels and TFLite Micro (LiteRT's default XNNPACK delegate differs here)."""
    rng = np.random.default_rng(11)
    tol = tolerance("AVERAGE_POOL_2D", "float32")
    for _ in range(60):
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        case = {
            "shape": (1, h, w, int(rng.integers(1, 5))),
            "filter_hw": (h + int(rng.integers(0, 5)), w + int(rng.integers(0, 5))),
            "stride_hw": (int(rng.integers(1, 4)), int(rng.integers(1, 4))),
            "padding": "SAME",
            "activation": "NONE",
            "quant": None,
        }
        graph = pool_graph("AVERAGE_POOL_2D", "float32", **case)
        model = export_tflite(graph)
        x = random_values(rng, "float32", case["shape"])
        got = run_reference(graph, [x])
        assert_within(got, run_litert_builtin(model, [x])[0], tol, f"builtin {case}")
        assert_within(got, run_tflm(model, [x])[0], tol, f"tflm {case}")


#: Pools of the MLPerf Tiny models: KWS DS-CNN, IC ResNet-8, VWW MobileNet, plus a strided one.
MLPERF_POOLS = [
    ((1, 25, 5, 64), (25, 5), (25, 5), "VALID"),
    ((1, 8, 8, 64), (8, 8), (8, 8), "VALID"),
    ((1, 3, 3, 256), (3, 3), (3, 3), "VALID"),
    ((1, 48, 48, 16), (2, 2), (2, 2), "SAME"),
]


@pytest.mark.parametrize(("shape", "filter_hw", "stride_hw", "padding"), MLPERF_POOLS)
@pytest.mark.parametrize("op", POOLS)
def test_model_sized_pools(
    op: str, shape: Any, filter_hw: Any, stride_hw: Any, padding: str
) -> None:
    rng = np.random.default_rng(3)
    for dtype in ("int8", "float32"):
        graph = pool_graph(
            op, dtype, shape, filter_hw, stride_hw, padding, "NONE", random_quant(rng, dtype)
        )
        x = random_values(rng, dtype, shape)
        model = export_tflite(graph)
        want = (run_tflm if dtype == "int8" else run_litert)(model, [x])[0]
        assert_within(run_reference(graph, [x]), want, tolerance(op, dtype), f"{op} {dtype}")


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize(("out_quant", "problem"), [((0.2, 3), "scale"), ((0.1, 4), "zero point")])
def test_integer_pooling_declines_requantization(
    op: str, out_quant: tuple[float, int], problem: str
) -> None:
    """TFLM refuses int8 pooling whose output is not quantized like its input; so do we."""
    graph = pool_graph(
        op, "int8", (1, 4, 4, 2), (2, 2), (2, 2), "VALID", "NONE", (0.1, 3), out_quant
    )
    with pytest.raises(GraphError, match=rf"{op}.*quantized like the input.*{problem}"):
        prepare(graph.nodes[0], graph)
    with pytest.raises(TinyABIError, match="same quantization as input"):
        Session(graph)
    with pytest.raises(RuntimeError, match="allocate"):
        run_tflm(export_tflite(graph), [np.zeros((1, 4, 4, 2), np.int8)])


@pytest.mark.parametrize("op", POOLS)
def test_integer_pooling_kernel_accepts_tflms_scale_slack(op: str) -> None:
    """TFLM lets the scales differ by up to 1e-6; the kernel follows it (the spec asks for
    equality, so a validating Session refuses the graph)."""
    rng = np.random.default_rng(5)
    quant, out_quant = (0.02, -5), (0.02 + 5e-7, -5)
    graph = pool_graph(op, "int8", (1, 9, 9, 3), (3, 3), (2, 2), "SAME", "RELU6", quant, out_quant)
    x = random_values(rng, "int8", (1, 9, 9, 3))
    (got,) = prepare(graph.nodes[0], graph)([x])
    assert got.tobytes() == run_tflm(export_tflite(graph), [x])[0].tobytes()


def _pool_node_graph(shape: tuple[int, ...], out_shape: tuple[int, ...], **attrs: Any) -> Graph:
    b = GraphBuilder("bad")
    x = b.input("x", "float32", shape)
    y = b.tensor("y", "float32", out_shape)
    b.node("MAX_POOL_2D", [x], [y], name="pool", **attrs)
    return b.build([y])


GOOD_POOL = {"padding": "VALID", "stride_h": 1, "stride_w": 1, "filter_h": 2, "filter_w": 2}


@pytest.mark.parametrize(
    ("shape", "attrs", "words"),
    [
        ((4, 4, 3), GOOD_POOL, "4-D"),
        ((1, 3, 3, 1), GOOD_POOL | {"filter_h": 4}, "does not fit"),
        ((1, 3, 3, 1), GOOD_POOL | {"padding": "FULL"}, "padding must be SAME or VALID"),
        ((1, 3, 3, 1), GOOD_POOL | {"stride_w": 0}, "stride_w must be an integer >= 1"),
        ((1, 3, 3, 1), {k: v for k, v in GOOD_POOL.items() if k != "filter_h"}, "filter_h"),
    ],
)
def test_pool_shape_rule_errors(shape: tuple[int, ...], attrs: dict[str, Any], words: str) -> None:
    graph = _pool_node_graph(shape, (1, 1, 1, 1), **attrs)
    with pytest.raises(GraphError, match=rf"'pool' \(MAX_POOL_2D\).*{words}"):
        infer_shapes(graph.nodes[0], graph)


def test_pool_shape_rule_same_and_valid() -> None:
    graph = _pool_node_graph(
        (2, 7, 10, 3), (1, 1, 1, 1), **(GOOD_POOL | {"filter_h": 3, "stride_h": 2, "stride_w": 3})
    )
    assert infer_shapes(graph.nodes[0], graph) == [(2, 3, 3, 3)]
    graph.nodes[0].attrs["padding"] = "SAME"
    assert infer_shapes(graph.nodes[0], graph) == [(2, 4, 4, 3)]


def test_pool_kernel_rejects_wrong_output() -> None:
    graph = _pool_node_graph((1, 4, 4, 1), (1, 2, 2, 1), **GOOD_POOL)
    with pytest.raises(GraphError, match="shape rule"):
        prepare(graph.nodes[0], graph)
    b = GraphBuilder("types")
    x = b.input("x", "int8", (1, 4, 4, 1), quant=(0.1, 0))
    y = b.tensor("y", "float32", (1, 3, 3, 1))
    b.node("AVERAGE_POOL_2D", [x], [y], **GOOD_POOL)
    graph = b.build([y])
    with pytest.raises(GraphError, match="output type float32 differs"):
        prepare(graph.nodes[0], graph)


# --------------------------------------------------------------------------------------------
# MEAN
# --------------------------------------------------------------------------------------------


def mean_out_shape(
    shape: tuple[int, ...], axes: Sequence[int] | np.ndarray, keep_dims: bool
) -> tuple[int, ...]:
    """MEAN's output shape, worked out independently of the shape rule."""
    reduced = {a % len(shape) for a in np.asarray(axes).reshape(-1).tolist()}
    if keep_dims:
        return tuple(1 if i in reduced else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in reduced)


def mean_graph(
    dtype: str,
    shape: tuple[int, ...],
    axes: Sequence[int] | np.ndarray,
    keep_dims: bool,
    quant: QuantLike = None,
    out_quant: QuantLike = None,
) -> Graph:
    """A single MEAN graph."""
    b = GraphBuilder("mean")
    x = b.input("x", dtype, shape, quant=quant)
    axis = b.const("axis", np.asarray(axes, dtype=np.int32))
    y = b.tensor("y", dtype, mean_out_shape(shape, axes, keep_dims), quant=out_quant)
    b.node("MEAN", [x, axis], [y], keep_dims=keep_dims)
    return b.build([y])


def axis_lists(rng: np.random.Generator, rank: int) -> list[list[int]]:
    """Every subset of the axes of a rank-``rank`` input, in random order, some negative,
    some repeated."""
    result = []
    for size in range(rank + 1):
        for subset in itertools.combinations(range(rank), size):
            axes = [a - rank if rng.random() < 0.4 else a for a in rng.permutation(subset).tolist()]
            if axes and rng.random() < 0.25:
                again = axes[int(rng.integers(len(axes)))]
                again = again + rank if again < 0 else again - rank  # the other spelling
                axes.insert(int(rng.integers(len(axes) + 1)), again)
            result.append(axes)
    return result


@pytest.mark.parametrize(
    ("dtype", "ranks", "rounds"), [("int8", (1, 2, 3, 4, 5), 3), ("int16", (1, 2, 3, 4), 1)]
)
def test_integer_mean_is_bit_exact_with_tflm(
    dtype: str, ranks: tuple[int, ...], rounds: int
) -> None:
    """All axis subsets, keep_dims both ways, input and output quantization equal or not."""
    rng = np.random.default_rng([13, len(ranks)])
    tol = tolerance("MEAN", dtype)
    for rank in [r for r in ranks for _ in range(rounds)]:
        for axes, keep_dims, same_quant in itertools.product(
            axis_lists(rng, rank), (False, True), (False, True)
        ):
            shape = tuple(int(d) for d in rng.integers(1, 7, size=rank))
            quant = random_quant(rng, dtype)
            out_quant = quant if same_quant else random_quant(rng, dtype)
            graph = mean_graph(dtype, shape, axes, keep_dims, quant, out_quant)
            x = random_values(rng, dtype, shape)
            (want,) = run_tflm(export_tflite(graph), [x])
            what = f"MEAN {dtype} {shape} axes={axes} keep={keep_dims} {quant}->{out_quant}"
            assert_within(run_reference(graph, [x]), want, tol, what)


def test_int8_mean_over_height_and_width() -> None:
    """The global-average-pool pattern (4-D, axes {1, 2}), which older TFLM versions sent down
    a special path: the installed TFLM uses the one integer algorithm, quantization equal or not."""
    rng = np.random.default_rng(29)
    tol = tolerance("MEAN", "int8")
    for i in range(300):
        shape = tuple(int(d) for d in rng.integers(1, 12, size=4))
        axes = [[1, 2], [2, 1], [-3, -2], [-2, 1]][i % 4]
        quant = random_quant(rng, "int8")
        out_quant = quant if i % 3 == 0 else random_quant(rng, "int8")
        graph = mean_graph("int8", shape, axes, bool(i % 2), quant, out_quant)
        x = random_values(rng, "int8", shape)
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{shape} {axes} {quant}->{out_quant}")


def test_int8_mean_large_reductions_and_extreme_scales() -> None:
    """Many elements per mean (the 1/n fold is clamped) and scale ratios from 1e-7 to 1e4."""
    rng = np.random.default_rng(17)
    tol = tolerance("MEAN", "int8")
    for i in range(120):
        shape = (int(rng.integers(1, 3)), int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3)
        axes = [[1, 2], [2, 1], [-3, -2], [0, 1, 2], [1], [0, 1, 2, 3]][i % 6]
        s_in = float(10 ** rng.uniform(-4, 0))
        quant = (s_in, int(rng.integers(-128, 128)))
        out_quant = (s_in / 10 ** rng.uniform(-7, 4), int(rng.integers(-128, 128)))
        graph = mean_graph("int8", shape, axes, bool(i % 2), quant, out_quant)
        x = random_values(rng, "int8", shape)
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, f"{shape} {axes} {quant}->{out_quant}")


def test_float_mean_matches_litert() -> None:
    rng = np.random.default_rng(19)
    tol = tolerance("MEAN", "float32")
    for rank in (1, 2, 3, 4, 5) * 2:
        for axes, keep_dims in itertools.product(axis_lists(rng, rank), (False, True)):
            shape = tuple(int(d) for d in rng.integers(1, 12, size=rank))
            graph = mean_graph("float32", shape, axes, keep_dims)
            x = random_values(rng, "float32", shape)
            (want,) = run_litert(export_tflite(graph), [x])
            what = f"MEAN float32 {shape} axes={axes} keep={keep_dims}"
            assert_within(run_reference(graph, [x]), want, tol, what)


@pytest.mark.parametrize(
    ("shape", "axes", "keep_dims", "expected"),
    [
        ((2, 3, 4, 5), [-1, 1, 3], False, (2, 4)),
        ((2, 3, 4, 5), [-1, 1, 3], True, (2, 1, 4, 1)),
        ((2, 3), np.array(0), False, (3,)),  # scalar axis operand
        ((2, 3), [], False, (2, 3)),
        ((2, 3), [0, 1, -1], False, ()),
    ],
)
def test_mean_shape_rule(
    shape: tuple[int, ...], axes: Any, keep_dims: bool, expected: tuple[int, ...]
) -> None:
    graph = mean_graph("float32", shape, axes, keep_dims)
    assert infer_shapes(graph.nodes[0], graph) == [expected]


def _mean_node(shape: tuple[int, ...], axis: np.ndarray, *, constant: bool = True) -> Graph:
    b = GraphBuilder("bad")
    x = b.input("x", "float32", shape)
    a = b.const("axis", axis) if constant else b.input("axis", str(axis.dtype), axis.shape)
    y = b.tensor("y", "float32", (1,))
    b.node("MEAN", [x, a], [y], name="mean", keep_dims=False)
    return b.build([y])


@pytest.mark.parametrize(
    ("shape", "axis", "constant", "words"),
    [
        ((2, 3, 4, 5), np.array([4], np.int32), True, "axis 4 is out of range"),
        ((2, 3), np.array([1, -3], np.int32), True, "axis -3 is out of range"),
        ((2, 3), np.array([1], np.int32), False, "must be a constant"),
        ((2, 3), np.array([1], np.int64), True, "int32 scalar or 1-D"),
        ((2, 3), np.array([[0, 1]], np.int32), True, "int32 scalar or 1-D"),
        ((1, 2, 1, 2, 1, 2), np.array([1], np.int32), True, "rank 6 exceeds the maximum 5"),
    ],
)
def test_mean_shape_rule_errors(
    shape: tuple[int, ...], axis: np.ndarray, constant: bool, words: str
) -> None:
    graph = _mean_node(shape, axis, constant=constant)
    with pytest.raises(GraphError, match=rf"'mean' \(MEAN\).*{words}"):
        infer_shapes(graph.nodes[0], graph)
    with pytest.raises(GraphError, match=words):
        prepare(graph.nodes[0], graph)


def test_mean_kernel_rejects_wrong_output() -> None:
    graph = mean_graph("int8", (2, 3, 4), [1], True, (0.1, 0), (0.1, 0))
    graph.tensor("y").shape = (2, 4)
    with pytest.raises(GraphError, match="shape rule of MEAN gives"):
        prepare(graph.nodes[0], graph)
    graph = mean_graph("int8", (2, 3, 4), [1], True, (0.1, 0), (0.1, 0))
    graph.tensor("y").quant = None
    with pytest.raises(GraphError, match="must be quantized"):
        prepare(graph.nodes[0], graph)


@pytest.mark.parametrize("op", [*POOLS, "MEAN"])
def test_spec_file_is_valid(op: str) -> None:
    spec = op_spec(op)
    assert spec.name == op
    assert {s.name for s in spec.signatures} == {"int8", "int16", "float32"}
