"""The tensor family (RESHAPE, SQUEEZE, CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE, QUANTIZE,
DEQUANTIZE) against TensorFlow Lite Micro (byte-identical) and LiteRT (the spec tolerance).

Every case is a seeded-random single-operator graph built with GraphBuilder, exported to a
.tflite model and run on the real runtimes and on the reference kernels.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from tests.kernels.spec_check import assert_within, op_spec, tolerance
from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import GraphError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph
from tinyabi.ir.shapes import infer_shapes
from tinyabi.kernels import prepare
from tinyabi.kernels.tensor import DEQUANTIZE_INPUTS, MOVED_TYPES, QUANTIZE_PAIRS
from tinyabi.session import Session
from tinyabi.spec.models import Tolerance
from tinyabi.tflite.exporter import export_tflite

FAMILY = [
    "RESHAPE",
    "SQUEEZE",
    "CONCATENATION",
    "PAD",
    "TRANSPOSE",
    "STRIDED_SLICE",
    "QUANTIZE",
    "DEQUANTIZE",
]
Quant = tuple[float, int] | None


# --------------------------------------------------------------------------------------------
# Helpers


def reference(graph: Graph, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The reference kernels' outputs, in graph output order."""
    outputs = Session(graph).run(list(inputs))
    return [outputs[name] for name in graph.outputs]


def assert_same(got: np.ndarray, want: np.ndarray, context: str) -> None:
    """Byte-identical, same dtype and shape."""
    assert got.dtype == want.dtype, f"{context}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{context}: shape {got.shape} != {want.shape}"
    if got.tobytes() != want.tobytes():
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))[:5]
        raise AssertionError(
            f"{context}: {bad.size}+ elements differ, e.g. at {bad.tolist()}: "
            f"got {got.reshape(-1)[bad].tolist()}, want {want.reshape(-1)[bad].tolist()}"
        )


def check_tflm(graph: Graph, inputs: Sequence[np.ndarray], context: str) -> bytes:
    """Reference outputs byte-identical with TFLM's; returns the model."""
    model = export_tflite(graph)
    want = run_tflm(model, inputs)
    got = reference(graph, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g, w, f"TFLM {context}")
    return model


def check_litert(
    graph: Graph,
    inputs: Sequence[np.ndarray],
    tol: Tolerance,
    context: str,
    model: bytes | None = None,
) -> None:
    """Reference outputs within ``tol`` of LiteRT's."""
    want = run_litert(model or export_tflite(graph), inputs)
    for g, w in zip(reference(graph, inputs), want):
        assert_within(g, w, tol, f"LiteRT {context}")


def assert_litert_off_by_one(
    graph: Graph, inputs: Sequence[np.ndarray], context: str, model: bytes
) -> None:
    """LiteRT's QUANTIZE (XNNPack) rounds differently from TFLM (it multiplies by the
    reciprocal scale and rounds ties to even, or to +inf when requantizing): it stays within
    1 of the reference but is not bit-exact, so only that is checked."""
    got = reference(graph, inputs)[0]
    want = run_litert(model, inputs)[0]
    assert (got.dtype, got.shape) == (want.dtype, want.shape), f"LiteRT {context}"
    assert np.abs(got.astype(np.int64) - want.astype(np.int64)).max() <= 1, f"LiteRT {context}"


def tflm_rejects(graph: Graph, inputs: Sequence[np.ndarray]) -> None:
    """TFLM refuses to prepare or run the graph."""
    with pytest.raises(RuntimeError):
        run_tflm(export_tflite(graph), inputs)


def declines(graph: Graph, words: str = "") -> None:
    """The reference kernels decline the graph with a GraphError naming the node."""
    with pytest.raises(GraphError, match=words) as info:
        prepare(graph.nodes[0], graph)
    assert graph.nodes[0].name in str(info.value)


def random_quant(rng: np.random.Generator, dtype: str) -> Quant:
    """Random per-tensor parameters for a quantized type (int16 symmetric), else None."""
    scale = float(10 ** rng.uniform(-3, 0.5))
    if dtype == "int8":
        return scale, int(rng.integers(-128, 128))
    if dtype == "uint8":
        return scale, int(rng.integers(0, 256))
    if dtype == "int16":
        return scale, 0
    return None


def random_data(rng: np.random.Generator, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """Random values covering the type's range (float32: a wide normal spread)."""
    shape = tuple(shape)
    if dtype == "float32":
        return (rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 3)).astype(np.float32)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    info = np.iinfo(np.dtype(dtype))
    return rng.integers(int(info.min), int(info.max), size=shape, endpoint=True, dtype=dtype)


def random_shape(rng: np.random.Generator, rank: int, high: int = 5) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(1, high + 1, size=rank))


def single_op(
    op: str,
    dtype: str,
    in_shapes: Sequence[Sequence[int]],
    out_shape: Sequence[int],
    consts: Sequence[np.ndarray | None] = (),
    quant: Quant = None,
    out_dtype: str | None = None,
    out_quant: Quant = None,
    in_quants: Sequence[Quant] | None = None,
    **attrs: Any,
) -> Graph:
    """A graph of one ``op`` node: data inputs, then constant operands (None = omitted)."""
    b = GraphBuilder(op.lower())
    names: list[str | None] = []
    for i, shape in enumerate(in_shapes):
        q = in_quants[i] if in_quants is not None else quant
        names.append(b.input(f"x{i}", dtype, shape, quant=q))
    for i, data in enumerate(consts):
        names.append(None if data is None else b.const(f"c{i}", data))
    y = b.tensor(
        "y",
        out_dtype or dtype,
        out_shape,
        quant=out_quant if out_dtype is not None or out_quant is not None else quant,
    )
    b.node(op, names, [y], name="node0", **attrs)
    return b.build([y])


def run_cases(count: int, seed: int, case: Callable[[np.random.Generator, int], None]) -> None:
    """Run ``case`` ``count`` times with seeded generators."""
    for i in range(count):
        case(np.random.default_rng([seed, i]), i)


# --------------------------------------------------------------------------------------------
# The spec files


@pytest.mark.parametrize("op", FAMILY)
def test_spec_file_is_valid(op: str) -> None:
    s = op_spec(op)
    assert s.name == op
    assert all(sig.tolerance.kind == "exact" for sig in s.signatures)


@pytest.mark.parametrize("op", list(MOVED_TYPES))
def test_spec_signatures_match_kernel_types(op: str) -> None:
    assert {sig.operands["output"].dtype for sig in op_spec(op).signatures} == set(MOVED_TYPES[op])


def test_spec_signatures_match_quantize_pairs() -> None:
    pairs = {
        (s.operands["input"].dtype, s.operands["output"].dtype)
        for s in op_spec("QUANTIZE").signatures
    }
    assert pairs == set(QUANTIZE_PAIRS)
    inputs = {s.operands["input"].dtype for s in op_spec("DEQUANTIZE").signatures}
    assert inputs == set(DEQUANTIZE_INPUTS)


# --------------------------------------------------------------------------------------------
# RESHAPE, SQUEEZE


def _factor_shape(rng: np.random.Generator, count: int, rank: int) -> list[int]:
    """A random shape of ``rank`` dims holding ``count`` elements."""
    dims = [1] * rank
    n = count
    p = 2
    factors = []
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    for f in factors:
        dims[int(rng.integers(rank))] *= f
    return dims


def test_reshape() -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        dtype = list(MOVED_TYPES["RESHAPE"])[i % 7]
        shape = random_shape(rng, int(rng.integers(1, 7)), 4)
        count = math.prod(shape)
        target = _factor_shape(rng, count, int(rng.integers(1, 7)))
        spelled = list(target)
        if rng.random() < 0.5:
            spelled[int(rng.integers(len(spelled)))] = -1
        mode = ("input", "attr", "both")[i % 3]
        consts = [np.array(spelled, np.int32)] if mode != "attr" else []
        attrs: dict[str, Any] = {"new_shape": spelled} if mode != "input" else {}
        quant = random_quant(rng, dtype)
        graph = single_op("RESHAPE", dtype, [shape], target, consts, quant=quant, **attrs)
        assert infer_shapes(graph.nodes[0], graph) == [tuple(target)]
        x = random_data(rng, dtype, shape)
        context = f"case {i}: {dtype} {shape} -> {spelled} ({mode})"
        model = check_tflm(graph, [x], context)
        check_litert(graph, [x], tolerance("RESHAPE", dtype), context, model)

    run_cases(84, 1, case)


def test_reshape_scalars() -> None:
    x = np.array([[3.5]], np.float32)
    to_scalar = single_op("RESHAPE", "float32", [(1, 1)], (), [np.zeros(0, np.int32)])
    assert infer_shapes(to_scalar.nodes[0], to_scalar) == [()]
    check_tflm(to_scalar, [x], "to scalar")
    legacy = single_op("RESHAPE", "float32", [(1, 1)], (), new_shape=[0])
    assert infer_shapes(legacy.nodes[0], legacy) == [()]
    assert reference(legacy, [x])[0].shape == ()
    from_scalar = single_op(
        "RESHAPE", "int8", [()], (1, 1, 1), [np.array([1, -1, 1], np.int32)], quant=(0.5, 3)
    )
    check_tflm(from_scalar, [np.array(-7, np.int8)], "from scalar")


def test_reshape_declared_shape_is_the_fallback() -> None:
    graph = single_op("RESHAPE", "int8", [(2, 6)], (3, 4), quant=(0.1, 0))
    assert infer_shapes(graph.nodes[0], graph) == [(3, 4)]
    x = np.arange(12, dtype=np.int8).reshape(2, 6)
    check_tflm(graph, [x], "no shape operand")


def test_squeeze() -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        dtype = list(MOVED_TYPES["SQUEEZE"])[i % 7]
        rank = int(rng.integers(1, 9))
        shape = tuple(1 if rng.random() < 0.5 else int(rng.integers(2, 4)) for _ in range(rank))
        ones = [a for a, d in enumerate(shape) if d == 1]
        if ones and rng.random() < 0.7:
            chosen = [a for a in ones if rng.random() < 0.6] or ones[:1]
            dims = [a - rank if rng.random() < 0.5 else a for a in chosen]
        else:
            chosen, dims = ones, []
        out = tuple(d for a, d in enumerate(shape) if a not in chosen)
        graph = single_op(
            "SQUEEZE", dtype, [shape], out, quant=random_quant(rng, dtype), squeeze_dims=dims
        )
        x = random_data(rng, dtype, shape)
        context = f"case {i}: {dtype} {shape} dims {dims}"
        model = check_tflm(graph, [x], context)
        check_litert(graph, [x], tolerance("SQUEEZE", dtype), context, model)

    run_cases(64, 2, case)


# --------------------------------------------------------------------------------------------
# CONCATENATION


def test_concatenation() -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        dtype = list(MOVED_TYPES["CONCATENATION"])[i % 6]
        rank = int(rng.integers(1, 7))
        base = random_shape(rng, rank, 4)
        axis = int(rng.integers(-rank, rank))
        n = int(rng.integers(1, 11))
        shapes = []
        for _ in range(n):
            s = list(base)
            s[axis] = int(rng.integers(1, 5))
            shapes.append(tuple(s))
        out = list(base)
        out[axis] = sum(s[axis] for s in shapes)
        quant = random_quant(rng, dtype)
        graph = single_op("CONCATENATION", dtype, shapes, out, quant=quant, axis=axis)
        xs = [random_data(rng, dtype, s) for s in shapes]
        context = f"case {i}: {dtype} {n} inputs of rank {rank}, axis {axis}"
        model = check_tflm(graph, xs, context)
        check_litert(graph, xs, tolerance("CONCATENATION", dtype), context, model)

    run_cases(96, 3, case)


def test_concatenation_declines_mixed_quantization() -> None:
    graph = single_op(
        "CONCATENATION",
        "int8",
        [(1, 2), (1, 2)],
        (1, 4),
        in_quants=[(0.1, 3), (0.2, 3)],
        out_quant=(0.1, 3),
        axis=1,
    )
    xs = [np.zeros((1, 2), np.int8)] * 2
    declines(graph, "same quantization")
    tflm_rejects(graph, xs)
    graph = single_op(
        "CONCATENATION",
        "int8",
        [(1, 2), (1, 2)],
        (1, 4),
        in_quants=[(0.1, 3), (0.1, 3)],
        out_quant=(0.1, 4),
        axis=1,
    )
    declines(graph, "same quantization")
    tflm_rejects(graph, xs)


def test_concatenation_declines_what_tflm_rejects() -> None:
    relu = single_op(
        "CONCATENATION", "float32", [(1, 2)] * 2, (1, 4), axis=1, fused_activation="RELU"
    )
    xs = [np.ones((1, 2), np.float32)] * 2
    declines(relu, "RELU")
    tflm_rejects(relu, xs)
    many = single_op("CONCATENATION", "float32", [(1, 1)] * 11, (1, 11), axis=1)
    declines(many, "at most 10")
    tflm_rejects(many, [np.ones((1, 1), np.float32)] * 11)
    rank7 = single_op("CONCATENATION", "float32", [(1,) * 7] * 2, (1,) * 6 + (2,), axis=-1)
    declines(rank7, "maximum rank of 6")
    tflm_rejects(rank7, [np.ones((1,) * 7, np.float32)] * 2)
    uint8 = single_op("CONCATENATION", "uint8", [(1, 2)] * 2, (1, 4), quant=(0.1, 3), axis=1)
    declines(uint8, "uint8")
    tflm_rejects(uint8, [np.ones((1, 2), np.uint8)] * 2)


# --------------------------------------------------------------------------------------------
# PAD


def test_pad() -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        dtype = list(MOVED_TYPES["PAD"])[i % 4]
        rank = int(rng.integers(1, 6))
        shape = random_shape(rng, rank, 4)
        paddings = rng.integers(0, 4, size=(rank, 2)).astype(np.int32)
        out = tuple(int(d + p.sum()) for d, p in zip(shape, paddings))
        quant = random_quant(rng, dtype)
        graph = single_op("PAD", dtype, [shape], out, [paddings], quant=quant)
        x = random_data(rng, dtype, shape)
        context = f"case {i}: {dtype} {shape} paddings {paddings.tolist()} quant {quant}"
        model = check_tflm(graph, [x], context)
        check_litert(graph, [x], tolerance("PAD", dtype), context, model)

    run_cases(80, 4, case)


def test_pad_int8_pads_with_the_output_zero_point() -> None:
    graph = single_op(
        "PAD", "int8", [(1, 1)], (1, 3), [np.array([[0, 0], [1, 1]], np.int32)], quant=(0.5, -7)
    )
    out = reference(graph, [np.array([[100]], np.int8)])[0]
    assert out.tolist() == [[-7, 100, -7]]


def test_pad_declines_what_tflm_rejects() -> None:
    rank6 = single_op(
        "PAD",
        "float32",
        [(2, 1, 1, 1, 1, 1)],
        (3, 1, 1, 1, 1, 1),
        [np.array([[0, 1]] + [[0, 0]] * 5, np.int32)],
    )
    declines(rank6, "maximum rank of 5")
    tflm_rejects(rank6, [np.ones((2, 1, 1, 1, 1, 1), np.float32)])
    int64 = single_op("PAD", "float32", [(2, 3)], (3, 6), [np.array([[0, 1], [1, 2]], np.int64)])
    declines(int64, "int32")
    tflm_rejects(int64, [np.ones((2, 3), np.float32)])
    uint8 = single_op(
        "PAD", "uint8", [(2, 3)], (3, 6), [np.array([[0, 1], [1, 2]], np.int32)], quant=(0.1, 3)
    )
    declines(uint8, "uint8")
    tflm_rejects(uint8, [np.ones((2, 3), np.uint8)])


def test_pad_declines_negative_paddings() -> None:
    graph = single_op("PAD", "float32", [(2, 3)], (2, 4), [np.array([[0, 0], [-1, 2]], np.int32)])
    declines(graph, "non-negative")
    with pytest.raises(RuntimeError):
        run_litert(export_tflite(graph), [np.ones((2, 3), np.float32)])


# --------------------------------------------------------------------------------------------
# TRANSPOSE


def test_transpose() -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        dtype = list(MOVED_TYPES["TRANSPOSE"])[i % 3]
        rank = int(rng.integers(1, 6))
        shape = random_shape(rng, rank, 5)
        perm = rng.permutation(rank).astype(np.int32)
        out = tuple(shape[p] for p in perm)
        graph = single_op("TRANSPOSE", dtype, [shape], out, [perm], quant=random_quant(rng, dtype))
        x = random_data(rng, dtype, shape)
        context = f"case {i}: {dtype} {shape} perm {perm.tolist()}"
        model = check_tflm(graph, [x], context)
        check_litert(graph, [x], tolerance("TRANSPOSE", dtype), context, model)

    run_cases(72, 5, case)


def test_transpose_declines_what_tflm_rejects() -> None:
    rank6 = single_op(
        "TRANSPOSE",
        "float32",
        [(2, 3, 1, 1, 1, 1)],
        (3, 2, 1, 1, 1, 1),
        [np.array([1, 0, 2, 3, 4, 5], np.int32)],
    )
    declines(rank6, "maximum rank of 5")
    tflm_rejects(rank6, [np.ones((2, 3, 1, 1, 1, 1), np.float32)])
    int32 = single_op("TRANSPOSE", "int32", [(2, 3)], (3, 2), [np.array([1, 0], np.int32)])
    declines(int32, "int32 is not supported")
    tflm_rejects(int32, [np.ones((2, 3), np.int32)])


# --------------------------------------------------------------------------------------------
# STRIDED_SLICE


def _random_slice(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
    """Random begin/end/strides and masks; mostly non-empty, with negative and out-of-range
    indices, negative strides and shrunk axes."""
    begin, end, strides = [], [], []
    masks = {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}
    for axis, n in enumerate(shape):
        stride = int(rng.choice([-3, -2, -1, 1, 1, 1, 2, 3]))
        if rng.random() < 0.2:  # anything, possibly empty or clamped
            b, e = (int(v) for v in rng.integers(-n - 2, n + 3, size=2))
        else:
            first = int(rng.integers(0, n))
            if stride > 0:
                e = int(rng.integers(first + 1, n + 3))
            else:
                e = int(rng.integers(-1, first)) if first > 0 else -1
                e = e - n if e >= 0 and rng.random() < 0.5 else (-n - 2 if e == -1 else e)
            b = first - n if rng.random() < 0.4 else first
        if stride > 0 and rng.random() < 0.2:
            masks["shrink_axis_mask"] |= 1 << axis
            b = int(rng.integers(-n, n))
        begin.append(b)
        end.append(e)
        strides.append(stride)
        if rng.random() < 0.15:
            masks["begin_mask"] |= 1 << axis
        if rng.random() < 0.15:
            masks["end_mask"] |= 1 << axis
    if rng.random() < 0.2:
        masks["begin_mask"] |= 1 << len(shape)  # a bit beyond the rank is ignored
    return {"begin": begin, "end": end, "strides": strides, **masks}


def _numpy_slice(x: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """An independent model of the slice: Python's slice objects resolve negative indices and
    clamp exactly as the spec does, a mask meaning "from/to the end in the walking direction"."""
    index: list[Any] = []
    for axis, n in enumerate(x.shape):
        b, e, st = s["begin"][axis], s["end"][axis], s["strides"][axis]
        begin_masked = s["begin_mask"] >> axis & 1
        if s["shrink_axis_mask"] >> axis & 1:
            index.append(0 if begin_masked else b + n if b < 0 else b)
        else:
            end_masked = s["end_mask"] >> axis & 1
            index.append(slice(None if begin_masked else b, None if end_masked else e, st))
    return x[tuple(index)]


def test_strided_slice() -> None:
    done = 0

    def case(rng: np.random.Generator, i: int) -> None:
        nonlocal done
        dtype = list(MOVED_TYPES["STRIDED_SLICE"])[i % 5]
        shape = random_shape(rng, int(rng.integers(1, 5)), 6)
        s = _random_slice(rng, shape)
        x = random_data(rng, dtype, shape)
        want = _numpy_slice(x, s)
        if want.size == 0:
            return
        consts = [np.array(s[k], np.int32) for k in ("begin", "end", "strides")]
        masks = {k: v for k, v in s.items() if k.endswith("mask")}
        graph = single_op(
            "STRIDED_SLICE",
            dtype,
            [shape],
            want.shape,
            consts,
            quant=random_quant(rng, dtype),
            **masks,
        )
        context = f"case {i}: {dtype} {shape} {s}"
        assert_same(reference(graph, [x])[0], want, f"numpy {context}")
        model = check_tflm(graph, [x], context)
        check_litert(graph, [x], tolerance("STRIDED_SLICE", dtype), context, model)
        done += 1

    run_cases(300, 6, case)
    assert done >= 220


def test_strided_slice_shrinks_to_a_scalar() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    consts = [np.array(v, np.int32) for v in ([-1, 2], [0, 0], [1, 1])]
    graph = single_op("STRIDED_SLICE", "float32", [(3, 4)], (), consts, shrink_axis_mask=3)
    assert infer_shapes(graph.nodes[0], graph) == [()]
    assert reference(graph, [x])[0].tolist() == 10.0
    model = check_tflm(graph, [x], "scalar")
    check_litert(graph, [x], tolerance("STRIDED_SLICE", "float32"), "scalar", model)


def _slice_graph(
    shape: tuple[int, ...],
    out: tuple[int, ...],
    begin: list[int],
    end: list[int],
    strides: list[int],
    **attrs: Any,
) -> Graph:
    consts = [np.array(v, np.int32) for v in (begin, end, strides)]
    return single_op("STRIDED_SLICE", "float32", [shape], out, consts, **attrs)


def test_strided_slice_declines_what_tflm_rejects() -> None:
    x5 = np.ones((2, 2, 2, 2, 2), np.float32)
    rank5 = _slice_graph((2,) * 5, (2,) * 5, [0] * 5, [2] * 5, [1] * 5)
    declines(rank5, "maximum rank of 4")
    tflm_rejects(rank5, [x5])
    x = np.ones((4, 5), np.float32)
    short = _slice_graph((4, 5), (2, 5), [0], [2], [1])
    declines(short, "one entry per input axis")
    tflm_rejects(short, [x])
    new_axis = _slice_graph((4, 5), (1, 2, 5), [0, 0], [2, 5], [1, 1], new_axis_mask=1)
    declines(new_axis, "new_axis_mask")
    tflm_rejects(new_axis, [x])
    ellipsis = _slice_graph((4, 5), (4, 5), [0, 0], [4, 5], [1, 1], ellipsis_mask=1)
    declines(ellipsis, "ellipsis_mask")
    empty = _slice_graph((4, 5), (0, 5), [3, 0], [1, 5], [1, 1])
    declines(empty, "selects no elements")
    tflm_rejects(empty, [x])
    uint8 = single_op(
        "STRIDED_SLICE",
        "uint8",
        [(4, 5)],
        (2, 5),
        [np.array(v, np.int32) for v in ([0, 0], [2, 5], [1, 1])],
        quant=(0.1, 3),
    )
    declines(uint8, "uint8")
    tflm_rejects(uint8, [np.ones((4, 5), np.uint8)])


def test_strided_slice_declines_offset_where_runtimes_disagree() -> None:
    graph = _slice_graph((4, 5), (2, 3), [1, 1], [2, 3], [1, 1], offset=True)
    declines(graph, "offset")
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    litert = run_litert(export_tflite(graph), [x])[0]
    assert litert.shape == (2, 3)  # LiteRT reads end as begin + end
    micro = _slice_graph((4, 5), (1, 2), [1, 1], [2, 3], [1, 1], offset=True)
    assert run_tflm(export_tflite(micro), [x])[0].shape == (1, 2)  # TFLM ignores offset


def test_strided_slice_declines_shrink_with_negative_stride() -> None:
    graph = _slice_graph((4, 5), (5,), [2, 0], [0, 5], [-1, 1], shrink_axis_mask=1)
    declines(graph, "positive stride")


# --------------------------------------------------------------------------------------------
# QUANTIZE, DEQUANTIZE


def _ties(rng: np.random.Generator, scale: float, count: int) -> np.ndarray:
    """Values whose quotient by ``scale`` is (close to) an exact half."""
    k = rng.integers(-300, 300, size=count)
    return ((k + 0.5) * scale).astype(np.float32)


def test_quantize_from_float32() -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        dtype = ("int8", "int16")[i % 2]
        scale = (
            float(2.0 ** int(rng.integers(-8, 2)))
            if i % 3 == 0
            else float(10 ** rng.uniform(-4, 0.5))
        )
        zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
        span = scale * (300 if dtype == "int8" else 40000)
        x = np.concatenate(
            [
                rng.uniform(-span, span, size=300).astype(np.float32),
                _ties(rng, scale, 100),
                np.array([0.0, -0.0, span * 10, -span * 10], np.float32),
            ]
        ).reshape(4, 101)
        graph = single_op(
            "QUANTIZE", "float32", [x.shape], x.shape, out_dtype=dtype, out_quant=(scale, zp)
        )
        context = f"case {i}: float32 -> {dtype} scale {scale} zp {zp}"
        model = check_tflm(graph, [x], context)
        assert_litert_off_by_one(graph, [x], context, model)

    run_cases(48, 7, case)


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="C leaves out-of-range float->int conversion undefined; the reference follows x86-64",
)
def test_quantize_out_of_range_values_match_tflm() -> None:
    x = np.array(
        [np.inf, -np.inf, np.nan, 1e10, -1e10, 3e9, 2.1e9, -2.1e9, 2.2e9, -2.2e9, 0.5, -0.5],
        np.float32,
    )
    for zp in (0, 5, -5, 127, -128):
        graph = single_op(
            "QUANTIZE", "float32", [x.shape], x.shape, out_dtype="int8", out_quant=(1.0, zp)
        )
        check_tflm(graph, [x], f"zp {zp}")


REQUANTIZE_PAIRS = sorted(p for p in QUANTIZE_PAIRS if p[0] != "float32")
#: Pairs LiteRT runs (it wants a zero input zero point for int16 -> int16 and no int8 -> int32).
LITERT_REQUANTIZE = {p for p in REQUANTIZE_PAIRS if p != ("int8", "int32")}


@pytest.mark.parametrize(("src", "dst"), REQUANTIZE_PAIRS)
def test_requantize(src: str, dst: str) -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        in_q: tuple[float, int] = (
            random_quant(rng, src) or (1.0, 0)
            if src != "int32"
            else (float(10 ** rng.uniform(-4, -1)), int(rng.integers(-1000, 1000)))
        )
        ratio = 10 ** rng.uniform(-3, 3) if i % 4 else 1.0
        if src == "int32" or dst == "int32":
            ratio = 10 ** rng.uniform(-3, 0) if src == "int32" else 10 ** rng.uniform(0, 3)
        out_q = random_quant(rng, dst) if dst != "int32" else (0.0, 0)
        out_q = (float(in_q[0] / ratio), out_q[1]) if out_q else None
        if src in ("int8", "uint8") and dst in ("int8", "uint8") and i % 4 == 0:
            # Same scale, zero point moved by 128: TFLM's bit-flip shortcut for int8 <-> uint8.
            out_q = (in_q[0], in_q[1] + (128 if dst == "uint8" else -128) * (src != dst))
        if src == "int32":
            x = rng.integers(-(2**24), 2**24, size=(8, 64)).astype(np.int32)
        elif src == "int16":
            x = random_data(rng, src, (8, 128))
        else:
            info = np.iinfo(np.dtype(src))
            x = np.arange(int(info.min), int(info.max) + 1).astype(src).reshape(2, 128)
        graph = single_op(
            "QUANTIZE", src, [x.shape], x.shape, quant=in_q, out_dtype=dst, out_quant=out_q
        )
        context = f"case {i}: {src} {in_q} -> {dst} {out_q}"
        model = check_tflm(graph, [x], context)
        if (src, dst) in LITERT_REQUANTIZE:
            assert_litert_off_by_one(graph, [x], context, model)

    run_cases(16, 8, case)


@pytest.mark.parametrize("src", DEQUANTIZE_INPUTS)
def test_dequantize(src: str) -> None:
    def case(rng: np.random.Generator, i: int) -> None:
        quant = random_quant(rng, src)
        assert quant is not None
        if src == "int16":
            x = random_data(rng, src, (4, 256))
        else:
            info = np.iinfo(np.dtype(src))
            x = np.arange(int(info.min), int(info.max) + 1).astype(src).reshape(2, 128)
        graph = single_op("DEQUANTIZE", src, [x.shape], x.shape, quant=quant, out_dtype="float32")
        context = f"case {i}: {src} {quant}"
        model = check_tflm(graph, [x], context)
        check_litert(graph, [x], tolerance("DEQUANTIZE", src), context, model)

    run_cases(16, 9, case)


def test_quantize_declines_what_tflm_rejects() -> None:
    x = np.ones((2, 3), np.float32)
    to_uint8 = single_op(
        "QUANTIZE", "float32", [(2, 3)], (2, 3), out_dtype="uint8", out_quant=(0.1, 3)
    )
    declines(to_uint8, "not supported")
    tflm_rejects(to_uint8, [x])
    u8 = np.ones((2, 3), np.uint8)
    u8_to_u8 = single_op(
        "QUANTIZE", "uint8", [(2, 3)], (2, 3), quant=(0.1, 3), out_dtype="uint8", out_quant=(0.2, 5)
    )
    declines(u8_to_u8, "not supported")
    tflm_rejects(u8_to_u8, [u8])
    unquantized = single_op("QUANTIZE", "float32", [(2, 3)], (2, 3), out_dtype="int8")
    declines(unquantized, "quantization parameters")
    tflm_rejects(unquantized, [x])


def test_dequantize_declines_what_tflm_rejects() -> None:
    graph = single_op("DEQUANTIZE", "int32", [(2, 3)], (2, 3), quant=(0.1, 0), out_dtype="float32")
    declines(graph, "not supported")
    tflm_rejects(graph, [np.ones((2, 3), np.int32)])


def test_int16_needs_a_zero_zero_point() -> None:
    graph = single_op("DEQUANTIZE", "int16", [(2, 3)], (2, 3), quant=(0.1, 3), out_dtype="float32")
    declines(graph, "zero point 3")
    with pytest.raises(RuntimeError):  # LiteRT refuses it too
        run_litert(export_tflite(graph), [np.ones((2, 3), np.int16)])


# --------------------------------------------------------------------------------------------
# Data movement keeps quantization


def test_data_movement_declines_changed_quantization() -> None:
    graph = single_op(
        "RESHAPE",
        "int8",
        [(2, 3)],
        (6,),
        [np.array([6], np.int32)],
        quant=(0.1, 0),
        out_quant=(0.2, 0),
    )
    declines(graph, "same quantization")
    graph = single_op(
        "TRANSPOSE", "int8", [(2, 3)], (3, 2), [np.array([1, 0], np.int32)], quant=None
    )
    declines(graph, "quantization parameters")


# --------------------------------------------------------------------------------------------
# Shape rules


def _rule_error(graph: Graph, words: str) -> None:
    with pytest.raises(GraphError, match=words) as info:
        infer_shapes(graph.nodes[0], graph)
    assert "node0" in str(info.value)


def test_reshape_shape_rule() -> None:
    g = single_op("RESHAPE", "float32", [(2, 3, 4)], (4, 6), [np.array([4, -1], np.int32)])
    assert infer_shapes(g.nodes[0], g) == [(4, 6)]
    g = single_op(
        "RESHAPE", "float32", [(2, 3, 4)], (6, 4), [np.array([6, 4], np.int32)], new_shape=[-1, 6]
    )
    assert infer_shapes(g.nodes[0], g) == [(6, 4)]  # the shape operand wins over new_shape
    g = single_op("RESHAPE", "float32", [(2, 3, 4)], (24,), new_shape=[-1])
    assert infer_shapes(g.nodes[0], g) == [(24,)]
    _rule_error(
        single_op("RESHAPE", "float32", [(2, 3)], (6,), [np.array([-1, -1], np.int32)]),
        "more than one -1",
    )
    _rule_error(
        single_op("RESHAPE", "float32", [(2, 3)], (6,), [np.array([4], np.int32)]), "4 elements"
    )
    _rule_error(
        single_op("RESHAPE", "float32", [(2, 3)], (6,), [np.array([4, -1], np.int32)]),
        "cannot resolve",
    )
    _rule_error(single_op("RESHAPE", "float32", [(2, 3)], (6,), [np.array([[6]], np.int32)]), "1-D")
    _rule_error(single_op("RESHAPE", "float32", [(2, 3)], (6,), [np.array([6], np.int64)]), "int32")
    b = GraphBuilder()
    x = b.input("x", "float32", (2, 3))
    s = b.input("s", "int32", (1,))
    y = b.tensor("y", "float32", (6,))
    b.node("RESHAPE", [x, s], [y], name="node0")
    _rule_error(b.build([y]), "constant")


def test_reshape_kernel_declines_a_declared_shape_the_operands_contradict() -> None:
    graph = single_op("RESHAPE", "float32", [(2, 3)], (3, 2), [np.array([2, 3], np.int32)])
    declines(graph, "declared with shape")


def test_squeeze_shape_rule() -> None:
    g = single_op("SQUEEZE", "float32", [(1, 2, 1, 3)], (2, 3))
    assert infer_shapes(g.nodes[0], g) == [(2, 3)]
    g = single_op("SQUEEZE", "float32", [(1, 2, 1, 3)], (1, 2, 3), squeeze_dims=[-2, 2])
    assert infer_shapes(g.nodes[0], g) == [(1, 2, 3)]
    _rule_error(single_op("SQUEEZE", "float32", [(1, 2)], (1,), squeeze_dims=[1]), "size 2")
    _rule_error(single_op("SQUEEZE", "float32", [(1, 2)], (2,), squeeze_dims=[2]), "out of range")
    _rule_error(single_op("SQUEEZE", "float32", [(1,) * 9], ()), "maximum rank of 8")


def test_concatenation_shape_rule() -> None:
    g = single_op("CONCATENATION", "float32", [(2, 3), (2, 5)], (2, 8), axis=-1)
    assert infer_shapes(g.nodes[0], g) == [(2, 8)]
    _rule_error(
        single_op("CONCATENATION", "float32", [(2, 3), (3, 3)], (2, 6), axis=1),
        "differ outside axis",
    )
    _rule_error(
        single_op("CONCATENATION", "float32", [(2, 3), (2, 3, 1)], (2, 6), axis=1),
        "differ outside axis",
    )
    _rule_error(single_op("CONCATENATION", "float32", [(2, 3)], (2, 3), axis=2), "out of range")


def test_pad_shape_rule() -> None:
    g = single_op("PAD", "float32", [(2, 3)], (5, 4), [np.array([[1, 2], [0, 1]], np.int32)])
    assert infer_shapes(g.nodes[0], g) == [(5, 4)]
    _rule_error(
        single_op("PAD", "float32", [(2, 3)], (2, 3), [np.zeros((3, 2), np.int32)]),
        r"shape \[2, 2\]",
    )
    _rule_error(single_op("PAD", "float32", [()], (), [np.zeros((0, 2), np.int32)]), "minimum of 1")


def test_transpose_shape_rule() -> None:
    g = single_op("TRANSPOSE", "float32", [(2, 3, 4)], (4, 2, 3), [np.array([2, 0, 1], np.int32)])
    assert infer_shapes(g.nodes[0], g) == [(4, 2, 3)]
    _rule_error(
        single_op("TRANSPOSE", "float32", [(2, 3)], (2, 2), [np.array([0, 0], np.int32)]),
        "not a permutation",
    )
    _rule_error(
        single_op("TRANSPOSE", "float32", [(2, 3)], (2, 3), [np.array([0, 1, 2], np.int32)]),
        "2 entries",
    )


def test_strided_slice_shape_rule() -> None:
    g = _slice_graph((5, 6), (3, 2), [-1, 1], [0, -1], [-2, 2], end_mask=1)
    assert infer_shapes(g.nodes[0], g) == [(3, 2)]
    _rule_error(_slice_graph((4, 5), (4, 5), [0, 0], [4, 5], [1, 0]), "stride of axis 1 is 0")
    _rule_error(
        _slice_graph((4, 5), (5,), [4, 0], [5, 5], [1, 1], shrink_axis_mask=1), "outside size 4"
    )


def test_quantize_shape_rule() -> None:
    g = single_op("QUANTIZE", "float32", [(2, 3)], (2, 3), out_dtype="int8", out_quant=(0.1, 0))
    assert infer_shapes(g.nodes[0], g) == [(2, 3)]
    mismatch = single_op(
        "DEQUANTIZE", "int8", [(2, 3)], (3, 2), quant=(0.1, 0), out_dtype="float32"
    )
    declines(mismatch, "declared with shape")
