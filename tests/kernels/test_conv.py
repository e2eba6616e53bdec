"""Conv kernels (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) against the real runtimes.

int8 must be byte-identical with TensorFlow Lite Micro; float32 and hybrid (float activations,
int8 weights) within the tolerance their spec file declares, against LiteRT's default CPU path.
Every case is a single-operator graph built with seeded random shapes, attributes and
quantization parameters; the shared MLPerf Tiny models are checked node by node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.conftest import shared_model
from tests.kernels.spec_check import assert_within, tolerance
from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import GraphError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.ir.shapes import infer_shapes
from tinyabi.ir.shapes.conv import conv_output_size
from tinyabi.kernels import depthwise as depthwise_kernels
from tinyabi.kernels import prepare
from tinyabi.kernels.float_finish import dynamic_quantize_rows
from tinyabi.kernels.gemm import exact_dtype
from tinyabi.kernels.requantizer import Requantizer
from tinyabi.quantization.fixed_point import (
    multiply_by_quantized_multiplier,
    quantize_multipliers,
    wrap_int32,
)
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def run_reference(graph: Graph, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The single output of ``graph`` by the reference kernels, through a validating Session."""
    (out,) = Session(graph).run(list(inputs)).values()
    return out


# --------------------------------------------------------------------------------------------
# Random cases
# --------------------------------------------------------------------------------------------


def log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> Any:
    return 10 ** rng.uniform(np.log10(lo), np.log10(hi), size)


def int8_values(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Test activations: the full int8 range, sometimes saturated or narrow."""
    r = rng.random()
    if r < 0.05:
        return np.full(shape, -128 if rng.random() < 0.5 else 127, dtype=np.int8)
    if r < 0.2:
        centre = int(rng.integers(-100, 100))
        return np.clip(rng.integers(centre - 20, centre + 20, shape), -128, 127).astype(np.int8)
    return rng.integers(-128, 128, shape).astype(np.int8)


def float_values(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Test activations: normal values with a random scale and offset (sometimes all >= 0)."""
    x = rng.standard_normal(shape) * log_uniform(rng, 0.1, 10) + rng.uniform(-1, 1)
    if rng.random() < 0.3:
        x = np.maximum(x, 0)
    return x.astype(np.float32)


def int8_weights(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Symmetric int8 weights: uniform in [-127, 127], sometimes only the extremes."""
    if rng.random() < 0.1:
        return (rng.choice([-127, 127], shape)).astype(np.int8)
    return rng.integers(-127, 128, shape).astype(np.int8)


def weight_quant(
    rng: np.random.Generator, channels: int, axis: int, per_channel: bool
) -> Quantization:
    count = channels if per_channel else 1
    scales = log_uniform(rng, 1e-3, 5e-2, count)
    return Quantization(scales, np.zeros(count, dtype=np.int64), axis)


def int8_quantization(
    rng: np.random.Generator, depth: int, w_scale: np.ndarray
) -> tuple[tuple[float, int], tuple[float, int]]:
    """Input and output quantization that keep the outputs mostly inside the int8 range."""
    s_in = float(log_uniform(rng, 1e-3, 1e-1))
    spread = np.sqrt(depth) * 74.0 * 73.0 * s_in * float(np.mean(w_scale))
    s_out = float(spread / log_uniform(rng, 10, 150))
    return (s_in, int(rng.integers(-128, 128))), (s_out, int(rng.integers(-128, 128)))


def int32_bias(
    rng: np.random.Generator, channels: int, depth: int, s_in: float, w_quant: Quantization
) -> tuple[np.ndarray, Quantization]:
    values = rng.normal(0, np.sqrt(depth) * 74 * 73 / 4, channels)
    values = np.clip(values, -(2**31), 2**31 - 1).astype(np.int32)
    scales = s_in * w_quant.scale.astype(np.float64)
    return values, Quantization(scales, np.zeros(scales.size, dtype=np.int64), 0)


def window_case(rng: np.random.Generator) -> dict[str, Any]:
    """Random 2-D window geometry whose output is at least 1x1."""
    while True:
        h, w = (int(v) for v in rng.integers(1, 14, 2))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        dh, dw = (int(v) if rng.random() < 0.4 else 1 for v in rng.integers(1, 4, 2))
        padding = "SAME" if rng.random() < 0.5 else "VALID"
        oh = conv_output_size(h, kh, sh, dh, padding)
        ow = conv_output_size(w, kw, sw, dw, padding)
        if oh >= 1 and ow >= 1:
            return {
                "n": int(rng.integers(1, 3)),
                "hw": (h, w),
                "khw": (kh, kw),
                "out_hw": (oh, ow),
                "attrs": {
                    "padding": padding,
                    "stride_h": sh,
                    "stride_w": sw,
                    "dilation_h": dh,
                    "dilation_w": dw,
                    "fused_activation": str(rng.choice(ACTIVATIONS)),
                },
            }


def node_inputs(
    rng: np.random.Generator, op: str, x: str, weights: str, bias: str | None
) -> list[str | None]:
    """The node's inputs; an omitted bias is either left out or given as an omitted input.

    TFLM's DEPTHWISE_CONV_2D crashes (a null dereference in its Prepare) when the bias is an
    omitted input (index -1) rather than absent, so depthwise graphs always leave it out.
    """
    if bias is not None:
        return [x, weights, bias]
    if op == "DEPTHWISE_CONV_2D" or rng.random() < 0.5:
        return [x, weights]
    return [x, weights, None]


def conv_graph(rng: np.random.Generator, op: str, signature: str) -> tuple[Graph, np.ndarray]:
    """A random single CONV_2D or DEPTHWISE_CONV_2D graph and an input for it."""
    case = window_case(rng)
    n, (h, w), (kh, kw), (oh, ow) = case["n"], case["hw"], case["khw"], case["out_hw"]
    attrs: dict[str, Any] = dict(case["attrs"])
    c = int(rng.integers(1, 17))
    if op == "CONV_2D":
        groups = 1
        if rng.random() < 0.2:
            groups = int(rng.choice([g for g in range(1, c + 1) if c % g == 0]))
        o = groups * int(rng.integers(1, max(2, 17 // groups)))
        w_shape: tuple[int, ...] = (o, kh, kw, c // groups)
        axis, depth = 0, kh * kw * (c // groups)
    else:
        multiplier = int(rng.choice([1, 1, 2, 3]))
        o = c * multiplier
        attrs["depth_multiplier"] = multiplier
        w_shape, axis, depth = (1, kh, kw, o), 3, kh * kw
    # LiteRT refuses a CONV_2D without bias and crashes on a DEPTHWISE_CONV_2D without one.
    has_bias = signature != "int8" or rng.random() < 0.8
    b = GraphBuilder(op.lower())
    if signature == "int8":
        w_quant = weight_quant(rng, o, axis, per_channel=rng.random() < 0.5)
        in_q, out_q = int8_quantization(rng, depth, w_quant.scale)
        x = b.input("x", "int8", (n, h, w, c), quant=in_q)
        weights = b.const("w", int8_weights(rng, w_shape), quant=w_quant)
        bias = None
        if has_bias:
            values, b_quant = int32_bias(rng, o, depth, in_q[0], w_quant)
            bias = b.const("b", values, quant=b_quant)
        y = b.tensor("y", "int8", (n, oh, ow, o), quant=out_q)
        x_value = int8_values(rng, (n, h, w, c))
    else:
        x = b.input("x", "float32", (n, h, w, c))
        if signature == "float32":
            values = rng.standard_normal(w_shape) / np.sqrt(depth)
            weights = b.const("w", values.astype(np.float32))
        else:
            w_quant = weight_quant(rng, o, axis, per_channel=rng.random() < 0.5)
            weights = b.const("w", int8_weights(rng, w_shape), quant=w_quant)
        bias = b.const("b", rng.standard_normal(o).astype(np.float32)) if has_bias else None
        y = b.tensor("y", "float32", (n, oh, ow, o))
        x_value = float_values(rng, (n, h, w, c))
    b.node(op, node_inputs(rng, op, x, weights, bias), [y], **attrs)
    return b.build([y]), x_value


def fc_graph(rng: np.random.Generator, signature: str) -> tuple[Graph, np.ndarray]:
    """A random single FULLY_CONNECTED graph (input of rank 1 to 4) and an input for it."""
    depth = int(rng.integers(1, 70))
    units = int(rng.integers(1, 40))
    rank = int(rng.integers(1, 5))
    keep = bool(rng.random() < 0.3)
    lead = [int(v) for v in rng.integers(1, 4, rank - 1)]
    if keep or rng.random() < 0.5:
        in_shape = (*lead, depth)
    else:  # flattened: the rows cut across the input's own last dimension
        rows = int(np.prod(lead, dtype=np.int64))
        in_shape = (rows * depth,) if rng.random() < 0.5 else (rows, depth)
    out_shape = (*in_shape[:-1], units) if keep else (int(np.prod(in_shape)) // depth, units)
    attrs: dict[str, Any] = {
        "fused_activation": str(rng.choice(ACTIVATIONS)),
        "keep_num_dims": keep,
        "asymmetric_quantize_inputs": bool(rng.random() < 0.5),
    }
    has_bias = rng.random() < 0.8
    b = GraphBuilder("fully_connected")
    if signature == "int8":
        w_quant = weight_quant(rng, units, 0, per_channel=rng.random() < 0.5)
        in_q, out_q = int8_quantization(rng, depth, w_quant.scale)
        x = b.input("x", "int8", in_shape, quant=in_q)
        weights = b.const("w", int8_weights(rng, (units, depth)), quant=w_quant)
        bias = None
        if has_bias:
            values, b_quant = int32_bias(rng, units, depth, in_q[0], w_quant)
            bias = b.const("b", values, quant=b_quant)
        y = b.tensor("y", "int8", out_shape, quant=out_q)
        x_value = int8_values(rng, in_shape)
    else:
        x = b.input("x", "float32", in_shape)
        if signature == "float32":
            values = rng.standard_normal((units, depth)) / np.sqrt(depth)
            weights = b.const("w", values.astype(np.float32))
        else:
            w_quant = weight_quant(rng, units, 0, per_channel=rng.random() < 0.5)
            weights = b.const("w", int8_weights(rng, (units, depth)), quant=w_quant)
        bias = b.const("b", rng.standard_normal(units).astype(np.float32)) if has_bias else None
        y = b.tensor("y", "float32", out_shape)
        x_value = float_values(rng, in_shape)
    b.node("FULLY_CONNECTED", node_inputs(rng, "FULLY_CONNECTED", x, weights, bias), [y], **attrs)
    return b.build([y]), x_value


def random_graph(rng: np.random.Generator, op: str, signature: str) -> tuple[Graph, np.ndarray]:
    if op == "FULLY_CONNECTED":
        return fc_graph(rng, signature)
    return conv_graph(rng, op, signature)


def describe(graph: Graph) -> str:
    node = graph.nodes[0]
    shapes = [list(graph.tensor(t).shape) for t in node.inputs if t is not None]
    quant = graph.tensor(node.inputs[1]).quant  # type: ignore[arg-type]
    per = "per-tensor" if quant is None or not quant.per_axis else "per-channel"
    return f"{node.op} {shapes} {per} {node.attrs}"


# --------------------------------------------------------------------------------------------
# Random single-operator conformance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "cases"), [("CONV_2D", 600), ("DEPTHWISE_CONV_2D", 600), ("FULLY_CONNECTED", 600)]
)
def test_int8_is_bit_exact_with_tflm(op: str, cases: int) -> None:
    rng = np.random.default_rng([11, CONV_OPS.index(op)])
    tol = tolerance(op, "int8")
    assert tol.kind == "exact"
    for _ in range(cases):
        graph, x = random_graph(rng, op, "int8")
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, describe(graph), graph, [x])


@pytest.mark.parametrize("signature", ["int8", "float32"])
def test_depthwise_tap_loop(monkeypatch: pytest.MonkeyPatch, signature: str) -> None:
    """Large depthwise outputs loop over the kernel taps instead of gathering them; the random
    cases above are small, so force that path here."""
    monkeypatch.setattr(depthwise_kernels, "DEPTHWISE_GATHER_PIXELS", 0)
    rng = np.random.default_rng([16, len(signature)])
    tol = tolerance("DEPTHWISE_CONV_2D", signature)
    runtime = run_tflm if signature == "int8" else run_litert
    for _ in range(150):
        graph, x = conv_graph(rng, "DEPTHWISE_CONV_2D", signature)
        (want,) = runtime(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, describe(graph), graph, [x])


@pytest.mark.parametrize("op", CONV_OPS)
def test_float32_matches_litert(op: str) -> None:
    rng = np.random.default_rng([12, CONV_OPS.index(op)])
    tol = tolerance(op, "float32")
    for _ in range(300):
        graph, x = random_graph(rng, op, "float32")
        (want,) = run_litert(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, describe(graph), graph, [x])


@pytest.mark.parametrize("op", ["CONV_2D", "FULLY_CONNECTED"])
def test_hybrid_matches_litert(op: str) -> None:
    """The dynamic input quantization is reproduced: the tolerance is float rounding only."""
    rng = np.random.default_rng([13, CONV_OPS.index(op)])
    tol = tolerance(op, "hybrid")
    for _ in range(400):
        graph, x = random_graph(rng, op, "hybrid")
        (want,) = run_litert(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, describe(graph), graph, [x])


def test_hybrid_pointwise_conv_quantizes_per_pixel() -> None:
    """A 1x1 stride-1 convolution is a matrix product in XNNPACK: one quantization per pixel,
    except with a single input and output channel (then one per image)."""
    rng = np.random.default_rng(14)
    tol = tolerance("CONV_2D", "hybrid")
    for c, o in [(1, 1), (1, 3), (3, 1), (8, 8)]:
        for padding in ("SAME", "VALID"):
            b = GraphBuilder("pointwise")
            x = b.input("x", "float32", (2, 5, 4, c))
            w = b.const("w", int8_weights(rng, (o, 1, 1, c)), quant=weight_quant(rng, o, 0, True))
            bias = b.const("b", rng.standard_normal(o).astype(np.float32))
            y = b.tensor("y", "float32", (2, 5, 4, o))
            b.node("CONV_2D", [x, w, bias], [y], padding=padding)
            graph = b.build([y])
            value = float_values(rng, (2, 5, 4, c))
            (want,) = run_litert(export_tflite(graph), [value])
            assert_within(run_reference(graph, [value]), want, tol, f"1x1 conv {c}->{o}")


# --------------------------------------------------------------------------------------------
# Corner cases of the integer path
# --------------------------------------------------------------------------------------------


def int8_fc(
    depth: int,
    units: int,
    s_in: float,
    s_w: float | np.ndarray,
    s_out: float,
    weights: np.ndarray,
    zp_in: int = 0,
    zp_out: int = 0,
    bias: np.ndarray | None = None,
    activation: str = "NONE",
) -> Graph:
    w_scales = np.atleast_1d(np.asarray(s_w, dtype=np.float64))
    w_quant = Quantization(w_scales, np.zeros(w_scales.size, dtype=np.int64), 0)
    b = GraphBuilder("fc")
    x = b.input("x", "int8", (1, depth), quant=(s_in, zp_in))
    w = b.const("w", weights, quant=w_quant)
    bq = Quantization(s_in * w_scales, np.zeros(w_scales.size, dtype=np.int64), 0)
    bias_t = None if bias is None else b.const("b", bias.astype(np.int32), quant=bq)
    y = b.tensor("y", "int8", (1, units), quant=(s_out, zp_out))
    b.node("FULLY_CONNECTED", [x, w, bias_t], [y], fused_activation=activation)
    return b.build([y])


def check_int8(graph: Graph, x: np.ndarray, what: str) -> None:
    (want,) = run_tflm(export_tflite(graph), [x])
    assert_within(run_reference(graph, [x]), want, tolerance(graph.nodes[0].op, "int8"), what)


def test_int8_multipliers_above_one_and_tiny() -> None:
    """Requantization with a left shift (M > 1) and with very large right shifts."""
    rng = np.random.default_rng(15)
    for s_out in (1e-7, 1e-5, 3e-4, 2.0, 1e3, 1e5):
        for per_channel in (False, True):
            s_w = log_uniform(rng, 1e-3, 1e-1, 8) if per_channel else 0.01
            graph = int8_fc(
                24,
                8,
                0.05,
                s_w,
                s_out,
                int8_weights(rng, (8, 24)),
                zp_in=int(rng.integers(-128, 128)),
                zp_out=int(rng.integers(-128, 128)),
                bias=rng.integers(-5000, 5000, 8),
            )
            for _ in range(5):
                check_int8(graph, int8_values(rng, (1, 24)), f"s_out={s_out}")


def test_int8_fully_connected_multiplier_uses_double_product() -> None:
    """Per tensor as per channel, TFLM multiplies the input and filter scales in double
    precision: here rounding the product to float32 first would give another Q31 multiplier
    and move an output that sits next to a rounding tie."""
    s_in, s_w, s_out = 0.0042540752, 0.021641904, 0.054777663
    single = float(np.float32(np.float32(s_in) * np.float32(s_w))) / float(np.float32(s_out))
    double = float(np.float32(s_in)) * float(np.float32(s_w)) / float(np.float32(s_out))
    assert (
        quantize_multipliers(np.array([single]))[0] != quantize_multipliers(np.array([double]))[0]
    )
    weights = np.full((1, 1), 127, dtype=np.int8)
    graph = int8_fc(1, 1, s_in, s_w, s_out, weights, zp_out=-41, bias=np.array([-12005]))
    x = np.full((1, 1), -128, dtype=np.int8)  # accumulator -28261
    check_int8(graph, x, "double-precision multiplier")
    assert run_reference(graph, [x])[0, 0] == -88


def test_int8_deep_accumulation_is_exact_and_wraps_like_int32() -> None:
    """70000 extreme products overflow TFLite's int32 accumulator; float64 is needed to
    accumulate exactly (float32 would round)."""
    depth = 70000
    weights = np.full((2, depth), 127, dtype=np.int8)
    weights[1, ::2] = -127
    graph = int8_fc(depth, 2, 0.01, 1e-3, 1e-4, weights, zp_in=-128, zp_out=3)
    for value in (-128, 127, 0):
        check_int8(graph, np.full((1, depth), value, dtype=np.int8), f"x={value}")
    check_int8(
        graph, np.random.default_rng(16).integers(-128, 128, (1, depth)).astype(np.int8), "random"
    )


def test_int8_conv_float64_accumulation() -> None:
    """A convolution deep enough that float32 could not hold every partial sum exactly."""
    rng = np.random.default_rng(17)
    b = GraphBuilder("deep")
    x = b.input("x", "int8", (1, 4, 4, 400), quant=(0.02, -100))
    w_quant = weight_quant(rng, 3, 0, per_channel=True)
    w = b.const("w", rng.choice([-127, 127], (3, 3, 3, 400)).astype(np.int8), quant=w_quant)
    y = b.tensor("y", "int8", (1, 4, 4, 3), quant=(300.0, 0))
    b.node("CONV_2D", [x, w, None], [y], padding="SAME")
    graph = b.build([y])
    assert exact_dtype(np.array([3 * 3 * 400 * 127]), 128) is np.float64
    for _ in range(3):
        check_int8(graph, int8_values(rng, (1, 4, 4, 400)), "deep conv")


def test_requantizer_plans_match_the_literal_algorithm() -> None:
    """The folded integer multiply-add-shift, and the float64 plan whose multiplier rides in
    the weights, both equal TFLite's three-step requantization."""
    rng = np.random.default_rng(18)
    scaled_plans = 0
    for _ in range(300):
        channels = int(rng.integers(1, 6))
        real = log_uniform(rng, 1e-9, 50.0, channels)
        zero_point = int(rng.integers(-128, 128))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        mult, shift = quantize_multipliers(real)
        requant = Requantizer(mult, shift, zero_point, lo, hi)
        bound = float(2 ** rng.uniform(4, 31)) / (2.0 ** requant.left.max())
        offset = rng.integers(-bound / 4, bound / 4 + 1, channels)
        raw_bound = np.maximum(bound - np.abs(offset), 0)
        acc = np.trunc(rng.uniform(-1, 1, (200, channels)) * raw_bound)
        acc[:3] = np.floor(raw_bound) * np.array([[1], [-1], [0]])
        v = wrap_int32(acc.astype(np.int64) + offset)
        want = np.clip(multiply_by_quantized_multiplier(v, mult, shift) + zero_point, lo, hi)
        integer = requant.plan(raw_bound, offset, allow_scaled=False)
        assert integer.scale is None
        got = integer.finish(acc.copy())
        assert np.array_equal(got, want.astype(np.int8)), (real, zero_point, lo, hi)
        scaled = requant.plan(raw_bound, offset)
        if scaled.scale is not None:
            scaled_plans += 1
            got = scaled.finish(acc * scaled.scale)
            assert np.array_equal(got, want.astype(np.int8)), (real, zero_point, lo, hi)
    assert scaled_plans > 10


def test_int8_fully_connected_non_constant_weights() -> None:
    """In the int8 signature the filter and bias of FULLY_CONNECTED may be activations."""
    rng = np.random.default_rng(19)
    b = GraphBuilder("fc_dynamic")
    x = b.input("x", "int8", (3, 10), quant=(0.05, 4))
    w = b.input("w", "int8", (6, 10), quant=(0.02, 0))
    bias = b.input("b", "int32", (6,), quant=(0.001, 0))
    y = b.tensor("y", "int8", (3, 6), quant=(0.2, -3))
    b.node("FULLY_CONNECTED", [x, w, bias], [y], fused_activation="RELU")
    graph = b.build([y])
    feeds = [
        int8_values(rng, (3, 10)),
        int8_weights(rng, (6, 10)),
        rng.integers(-3000, 3000, 6).astype(np.int32),
    ]
    want = run_tflm(export_tflite(graph), feeds)[0]
    assert_within(run_reference(graph, feeds), want, tolerance("FULLY_CONNECTED", "int8"), "dyn")


def test_float_fully_connected_non_constant_weights() -> None:
    rng = np.random.default_rng(25)
    b = GraphBuilder("fc_dynamic_float")
    x = b.input("x", "float32", (4, 12))
    w = b.input("w", "float32", (5, 12))
    bias = b.input("b", "float32", (5,))
    y = b.tensor("y", "float32", (4, 5))
    b.node("FULLY_CONNECTED", [x, w, bias], [y], fused_activation="RELU6")
    graph = b.build([y])
    feeds = [float_values(rng, (4, 12)), float_values(rng, (5, 12)), float_values(rng, (5,))]
    (want,) = run_litert(export_tflite(graph), feeds)
    tol = tolerance("FULLY_CONNECTED", "float32")
    assert_within(run_reference(graph, feeds), want, tol, "dynamic", graph, feeds)


def test_hybrid_fully_connected_needs_constant_weights() -> None:
    b = GraphBuilder("fc_dynamic_hybrid")
    x = b.input("x", "float32", (4, 12))
    w = b.input("w", "int8", (5, 12), quant=(0.01, 0))
    y = b.tensor("y", "float32", (4, 5))
    b.node("FULLY_CONNECTED", [x, w], [y])
    graph = b.build([y])
    with pytest.raises(GraphError, match="constant"):
        Session(graph)


def test_dynamic_quantize_rows() -> None:
    d, scale = dynamic_quantize_rows(
        np.array([[0.0, 0.0], [-1.0, 3.0], [2.0, 4.0], [-2.0, -1.0]], dtype=np.float32)
    )
    assert scale[0] == 1.0 and np.all(d[0] == 0)
    # The row range maps onto 255 steps and zero stays exactly representable.
    assert np.isclose(scale[1], 4.0 / 255.0) and np.isclose(scale[2], 4.0 / 255.0)
    assert np.all(
        np.abs(d * scale[:, None] - [[0, 0], [-1, 3], [2, 4], [-2, -1]]) <= scale[:, None]
    )
    assert d.dtype == np.float32 and np.all(d == np.rint(d))


# --------------------------------------------------------------------------------------------
# What TFLM refuses, the spec declines
# --------------------------------------------------------------------------------------------


def test_per_tensor_fully_connected_with_inconsistent_bias_scale_is_declined() -> None:
    rng = np.random.default_rng(20)
    graph = int8_fc(16, 4, 0.05, 0.01, 0.01, int8_weights(rng, (4, 16)), bias=np.ones(4))
    graph.tensor("b").quant = Quantization(np.array([1.0]), np.array([0]), 0)
    with pytest.raises(RuntimeError):
        run_tflm(export_tflite(graph), [int8_values(rng, (1, 16))])
    with pytest.raises(GraphError, match="bias scale"):
        Session(graph)
    # Per channel, TFLite does not look at the bias scale.
    graph = int8_fc(
        16, 4, 0.05, np.full(4, 0.01), 0.01, int8_weights(rng, (4, 16)), bias=np.ones(4)
    )
    graph.tensor("b").quant = Quantization(np.ones(4), np.zeros(4, dtype=np.int64), 0)
    check_int8(graph, int8_values(rng, (1, 16)), "per-channel, odd bias scale")


def test_hybrid_models_are_refused_by_tflm_but_run_here() -> None:
    rng = np.random.default_rng(21)
    graph, x = conv_graph(rng, "CONV_2D", "hybrid")
    with pytest.raises(RuntimeError):
        run_tflm(export_tflite(graph), [x])
    assert run_reference(graph, [x]).dtype == np.float32


def _dw_graph(w_quant: Quantization | None = None, dtype: str = "int8", **attrs: Any) -> Graph:
    b = GraphBuilder("dw")
    quant = (0.1, 0) if dtype == "int8" else None
    x = b.input("x", dtype, (1, 5, 5, 4), quant=quant)
    wq = w_quant or Quantization(np.full(4, 0.01), np.zeros(4, dtype=np.int64), 3)
    w = b.const("w", np.ones((1, 3, 3, 4), dtype=np.int8), quant=wq)
    y = b.tensor(
        "y",
        "int8" if dtype == "int8" else "float32",
        (1, 5, 5, 4),
        quant=(0.1, 0) if dtype == "int8" else None,
    )
    b.node("DEPTHWISE_CONV_2D", [x, w], [y], padding="SAME", **attrs)
    return b.build([y])


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (_dw_graph(Quantization(np.full(4, 0.01), np.zeros(4, dtype=np.int64), 0)), "axis"),
        (_dw_graph(Quantization(np.full(4, 0.01), np.ones(4, dtype=np.int64), 3)), "symmetric"),
        (_dw_graph(dtype="float32"), "signature"),
    ],
)
def test_declined_depthwise_quantization(graph: Graph, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        Session(graph)
    with pytest.raises(GraphError):
        prepare(graph.nodes[0], graph)


def test_declined_combinations() -> None:
    rng = np.random.default_rng(22)
    # A filter that is not constant.
    b = GraphBuilder("dynamic_filter")
    x = b.input("x", "float32", (1, 4, 4, 2))
    w = b.input("w", "float32", (3, 1, 1, 2))
    y = b.tensor("y", "float32", (1, 4, 4, 3))
    b.node("CONV_2D", [x, w, None], [y], padding="VALID")
    graph = b.build([y])
    with pytest.raises(GraphError, match="constant"):
        Session(graph)
    with pytest.raises(GraphError, match="constant"):
        prepare(graph.nodes[0], graph)
    # int8 activations with float weights.
    b = GraphBuilder("mixed")
    x = b.input("x", "int8", (1, 4, 4, 2), quant=(0.1, 0))
    w = b.const("w", rng.standard_normal((3, 1, 1, 2)).astype(np.float32))
    y = b.tensor("y", "int8", (1, 4, 4, 3), quant=(0.1, 0))
    b.node("CONV_2D", [x, w, None], [y], padding="VALID")
    graph = b.build([y])
    with pytest.raises(GraphError):
        Session(graph)
    with pytest.raises(GraphError, match="no signature"):
        prepare(graph.nodes[0], graph)
    # A declared output shape that is not the computed one.
    b = GraphBuilder("wrong_shape")
    x = b.input("x", "float32", (1, 4, 4, 2))
    w = b.const("w", rng.standard_normal((3, 2, 2, 2)).astype(np.float32))
    y = b.tensor("y", "float32", (1, 4, 4, 3))
    b.node("CONV_2D", [x, w, None], [y], padding="VALID")
    graph = b.build([y])
    with pytest.raises(GraphError, match="shape"):
        Session(graph)
    with pytest.raises(GraphError, match="output shape"):
        prepare(graph.nodes[0], graph)


# --------------------------------------------------------------------------------------------
# Shape rules
# --------------------------------------------------------------------------------------------


def shape_graph(
    op: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    bias: int | None = None,
    **attrs: Any,
) -> Graph:
    b = GraphBuilder("shape")
    x = b.input("x", "float32", x_shape)
    w = b.const("w", np.zeros(w_shape, dtype=np.float32))
    bias_t = None if bias is None else b.const("b", np.zeros(bias, dtype=np.float32))
    y = b.tensor("y", "float32", (1,))
    b.node(op, [x, w, bias_t], [y], **attrs)
    return b.build([y])


@pytest.mark.parametrize(
    ("op", "x_shape", "w_shape", "attrs", "want"),
    [
        ("CONV_2D", (2, 9, 7, 4), (5, 3, 2, 4), {"padding": "SAME", "stride_h": 2}, (2, 5, 7, 5)),
        (
            "CONV_2D",
            (1, 9, 7, 4),
            (5, 3, 3, 4),
            {"padding": "VALID", "stride_w": 2, "dilation_h": 2},
            (1, 5, 3, 5),
        ),
        ("CONV_2D", (1, 6, 6, 6), (4, 1, 1, 3), {"padding": "VALID"}, (1, 6, 6, 4)),
        (
            "DEPTHWISE_CONV_2D",
            (1, 8, 8, 3),
            (1, 3, 3, 6),
            {"padding": "SAME", "stride_h": 3, "depth_multiplier": 2},
            (1, 3, 8, 6),
        ),
        ("FULLY_CONNECTED", (2, 3, 8), (5, 8), {}, (6, 5)),
        ("FULLY_CONNECTED", (2, 3, 8), (5, 8), {"keep_num_dims": True}, (2, 3, 5)),
        ("FULLY_CONNECTED", (48,), (5, 12), {}, (4, 5)),
    ],
)
def test_shape_rules(
    op: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    attrs: dict[str, Any],
    want: tuple[int, ...],
) -> None:
    graph = shape_graph(op, x_shape, w_shape, **attrs)
    assert infer_shapes(graph.nodes[0], graph) == [want]


@pytest.mark.parametrize(
    ("op", "x_shape", "w_shape", "bias", "attrs", "message"),
    [
        ("CONV_2D", (1, 5, 5, 4), (3, 3, 3, 3), None, {"padding": "SAME"}, "divide"),
        ("CONV_2D", (1, 5, 5, 4), (3, 3, 3, 2), None, {"padding": "SAME"}, "groups"),
        ("CONV_2D", (1, 5, 5, 4), (3, 3, 3), None, {"padding": "SAME"}, "rank 4"),
        ("CONV_2D", (1, 5, 5, 4), (3, 6, 3, 4), None, {"padding": "VALID"}, "does not fit"),
        (
            "CONV_2D",
            (1, 5, 5, 4),
            (3, 3, 3, 4),
            None,
            {"padding": "VALID", "dilation_h": 3},
            "does not fit",
        ),
        ("CONV_2D", (1, 5, 5, 4), (3, 3, 3, 4), 4, {"padding": "SAME"}, "bias"),
        ("CONV_2D", (1, 5, 5, 4), (3, 3, 3, 4), None, {"padding": "FULL"}, "padding"),
        (
            "CONV_2D",
            (1, 5, 5, 4),
            (3, 3, 3, 4),
            None,
            {"padding": "SAME", "stride_h": 0},
            "stride_h",
        ),
        (
            "DEPTHWISE_CONV_2D",
            (1, 5, 5, 4),
            (1, 3, 3, 6),
            None,
            {"padding": "SAME"},
            "depth_multiplier",
        ),
        ("DEPTHWISE_CONV_2D", (1, 5, 5, 4), (2, 3, 3, 4), None, {"padding": "SAME"}, "1, KH"),
        ("FULLY_CONNECTED", (2, 7), (3, 4), None, {}, "flattened"),
        ("FULLY_CONNECTED", (2, 8), (3, 4), None, {"keep_num_dims": True}, "keep_num_dims"),
        ("FULLY_CONNECTED", (2, 8), (3, 2, 4), None, {}, "rank 2"),
        ("FULLY_CONNECTED", (2, 8), (3, 8), 2, {}, "bias"),
    ],
)
def test_shape_rule_errors(
    op: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    bias: int | None,
    attrs: dict[str, Any],
    message: str,
) -> None:
    graph = shape_graph(op, x_shape, w_shape, bias, **attrs)
    with pytest.raises(GraphError, match=message):
        infer_shapes(graph.nodes[0], graph)


# --------------------------------------------------------------------------------------------
# The shared MLPerf Tiny models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8", "ad01_int8"])
def test_shared_int8_model_nodes_are_bit_exact(name: str) -> None:
    graph = load_tflite(shared_model(name))
    rng = np.random.default_rng(23)
    checked = 0
    for i, node in enumerate(graph.nodes):
        if node.op not in CONV_OPS:
            continue
        sub = graph.subgraph([i])
        model = export_tflite(sub)
        for _ in range(2):
            feeds = [int8_values(rng, sub.tensor(t).shape) for t in sub.inputs]
            (want,) = run_tflm(model, feeds)
            assert_within(
                run_reference(sub, feeds), want, tolerance(node.op, "int8"), f"{name} node {i}"
            )
        checked += 1
    assert checked > 0


def test_hybrid_kws_model_against_litert() -> None:
    """kws_ref_model_float32 is hybrid in its five CONV_2D nodes (int8 per-tensor filters,
    float activations and bias); its DEPTHWISE_CONV_2D and FULLY_CONNECTED are float32."""
    path = shared_model("kws_ref_model_float32")
    graph = load_tflite(path)
    kinds = [
        (node.op, graph.tensor(node.inputs[1]).dtype)  # type: ignore[arg-type]
        for node in graph.nodes
        if node.op in CONV_OPS
    ]
    assert kinds.count(("CONV_2D", "int8")) == 5 and ("CONV_2D", "float32") not in kinds
    rng = np.random.default_rng(24)
    for i, node in enumerate(graph.nodes):
        if node.op not in CONV_OPS:
            continue
        sub = graph.subgraph([i])
        signature = "hybrid" if graph.tensor(node.inputs[1]).dtype == "int8" else "float32"  # type: ignore[arg-type]
        model = export_tflite(sub)
        for _ in range(3):
            feeds = [float_values(rng, sub.tensor(t).shape) for t in sub.inputs]
            (want,) = run_litert(model, feeds)
            assert_within(
                run_reference(sub, feeds),
                want,
                tolerance(node.op, signature),
                f"kws float32 node {i} ({signature})",
                sub,
                feeds,
            )
    session = Session(graph)
    tol = tolerance("CONV_2D", "hybrid")
    data = path.read_bytes()
    for _ in range(3):
        x = (rng.standard_normal(graph.tensor(graph.inputs[0]).shape) * 30).astype(np.float32)
        (got,) = session.run([x]).values()
        (want,) = run_litert(data, [x])
        assert_within(got, want, tol, "whole kws_ref_model_float32")
