"""The 16x8 signatures of the conv family (int16 activations, int8 weights) against TFLM.

CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with an int64 bias, an int32 bias (where TFLM
takes one) or none must be byte-identical with TensorFlow Lite Micro; every case is a seeded
random single-operator graph, run through a strict reference Session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.kernels.spec_check import assert_within, tolerance
from tests.kernels.test_conv import (
    ACTIVATIONS,
    describe,
    int8_weights,
    log_uniform,
    node_inputs,
    weight_quant,
    window_case,
)
from tests.runtimes import run_tflm
from tinyabi.errors import GraphError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.ir.validate import validate_graph
from tinyabi.kernels import prepare
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite

#: Test cases per operator signature (raise for a longer sweep).
CASES = 150


def run_reference(graph: Graph, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The single output on the reference backend alone, no fallback."""
    session = Session(graph, backends=["reference"], fallback="error")
    (out,) = session.run(list(inputs)).values()
    return out


def int16_values(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Test activations: the full int16 range, sometimes saturated or narrow."""
    r = rng.random()
    if r < 0.05:
        return np.full(shape, -32768 if rng.random() < 0.5 else 32767, dtype=np.int16)
    if r < 0.2:
        centre = int(rng.integers(-30000, 30000))
        return np.clip(rng.integers(centre - 500, centre + 500, shape), -32768, 32767).astype(
            np.int16
        )
    return rng.integers(-32768, 32768, shape).astype(np.int16)


def int16_quantization(
    rng: np.random.Generator, depth: int, w_scale: np.ndarray
) -> tuple[tuple[float, int], tuple[float, int]]:
    """Symmetric input and output quantization keeping most outputs inside the int16 range."""
    s_in = float(log_uniform(rng, 1e-5, 1e-2))
    spread = np.sqrt(depth) * 18900.0 * 73.0 * s_in * float(np.mean(w_scale))
    s_out = float(spread / log_uniform(rng, 300, 30000))
    return (s_in, 0), (s_out, 0)


def wide_bias(
    rng: np.random.Generator,
    channels: int,
    depth: int,
    s_in: float,
    w_quant: Quantization,
    dtype: str,
) -> tuple[np.ndarray, Quantization]:
    """An int64 (sometimes far beyond 32 bits) or int32 bias with scale ``s_in x s_w``."""
    spread = np.sqrt(depth) * 18900 * 73 / 2
    if dtype == "int64" and rng.random() < 0.2:
        spread = float(log_uniform(rng, 2**31, 2**40))
    values = rng.normal(0, spread, channels)
    info = np.iinfo(np.dtype(dtype))
    values = np.clip(values, info.min, info.max).astype(dtype)
    scales = s_in * w_quant.scale.astype(np.float64)
    return values, Quantization(scales, np.zeros(scales.size, dtype=np.int64), 0)


def conv16_graph(rng: np.random.Generator, op: str, bias: str | None) -> tuple[Graph, np.ndarray]:
    """A random 16x8 CONV_2D or DEPTHWISE_CONV_2D with an ``bias`` bias (``None``: none)."""
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
    b = GraphBuilder(op.lower())
    w_quant = weight_quant(rng, o, axis, per_channel=rng.random() < 0.6)
    in_q, out_q = int16_quantization(rng, depth, w_quant.scale)
    x = b.input("x", "int16", (n, h, w, c), quant=in_q)
    weights = b.const("w", int8_weights(rng, w_shape), quant=w_quant)
    bias_t = None
    if bias is not None:
        values, b_quant = wide_bias(rng, o, depth, in_q[0], w_quant, bias)
        bias_t = b.const("b", values, quant=b_quant)
    y = b.tensor("y", "int16", (n, oh, ow, o), quant=out_q)
    b.node(op, node_inputs(rng, op, x, weights, bias_t), [y], **attrs)
    return b.build([y]), int16_values(rng, (n, h, w, c))


def fc16_graph(rng: np.random.Generator, bias: str | None) -> tuple[Graph, np.ndarray]:
    """A random 16x8 FULLY_CONNECTED (input of rank 1 to 3)."""
    depth, units = int(rng.integers(1, 70)), int(rng.integers(1, 40))
    lead = [int(v) for v in rng.integers(1, 4, int(rng.integers(0, 3)))]
    keep = bool(rng.random() < 0.3)
    in_shape = (*lead, depth)
    rows = int(np.prod(lead, dtype=np.int64))
    out_shape = (*lead, units) if keep else (rows, units)
    b = GraphBuilder("fully_connected")
    w_quant = weight_quant(rng, units, 0, per_channel=rng.random() < 0.6)
    in_q, out_q = int16_quantization(rng, depth, w_quant.scale)
    x = b.input("x", "int16", in_shape, quant=in_q)
    weights = b.const("w", int8_weights(rng, (units, depth)), quant=w_quant)
    bias_t = None
    if bias is not None:
        values, b_quant = wide_bias(rng, units, depth, in_q[0], w_quant, bias)
        bias_t = b.const("b", values, quant=b_quant)
    y = b.tensor("y", "int16", out_shape, quant=out_q)
    attrs = {"fused_activation": str(rng.choice(ACTIVATIONS)), "keep_num_dims": keep}
    b.node("FULLY_CONNECTED", node_inputs(rng, "FULLY_CONNECTED", x, weights, bias_t), [y], **attrs)
    return b.build([y]), int16_values(rng, in_shape)


def graph16(rng: np.random.Generator, op: str, bias: str | None) -> tuple[Graph, np.ndarray]:
    if op == "FULLY_CONNECTED":
        return fc16_graph(rng, bias)
    return conv16_graph(rng, op, bias)


@pytest.mark.parametrize(
    ("op", "signature"),
    [
        ("CONV_2D", "int16"),
        ("CONV_2D", "int16_int32_bias"),
        ("DEPTHWISE_CONV_2D", "int16"),
        ("FULLY_CONNECTED", "int16"),
        ("FULLY_CONNECTED", "int16_int32_bias"),
    ],
)
def test_int16_is_bit_exact_with_tflm(op: str, signature: str) -> None:
    rng = np.random.default_rng([31, len(op), len(signature)])
    tol = tolerance(op, signature)
    assert tol.kind == "exact"
    for _ in range(CASES):
        bias = "int32" if signature == "int16_int32_bias" else str(rng.choice(["int64", "none"]))
        graph, x = graph16(rng, op, None if bias == "none" else bias)
        assert validate_graph(graph)[graph.nodes[0].name] == signature
        (want,) = run_tflm(export_tflite(graph), [x])
        assert want.dtype == np.int16
        assert_within(run_reference(graph, [x]), want, tol, describe(graph))


def _fixed_conv16(op: str, bias: str | None = "int64") -> Graph:
    rng = np.random.default_rng(32)
    while True:
        graph, _ = conv16_graph(rng, op, bias)
        if bias is None or len(graph.nodes[0].inputs) == 3:
            return graph


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"])
def test_int16_zero_points_must_be_zero(op: str) -> None:
    """TFLM ignores int16 zero points; the spec requires them to be 0."""
    rng = np.random.default_rng(33)
    for role in ("x", "y"):
        graph, _ = graph16(rng, op, "int64")
        t = graph.tensor(role)
        assert t.quant is not None
        t.quant = Quantization(t.quant.scale, np.array([3]), 0)
        with pytest.raises(GraphError, match=r"symmetric|zero point"):
            Session(graph, backends=["reference"], fallback="error")


def test_depthwise_int16_with_an_int32_bias_is_declined() -> None:
    """TFLM reads a 16x8 depthwise bias as int64, so an int32 one gives garbage there."""
    graph = _fixed_conv16("DEPTHWISE_CONV_2D", "int32")
    with pytest.raises(GraphError, match="signature"):
        Session(graph, backends=["reference"], fallback="error")
    with pytest.raises(GraphError, match="int64"):
        prepare(graph.nodes[0], graph)


def test_int16_multiplier_beyond_the_64_bit_shift_range_is_refused() -> None:
    """TFLite's 64-bit requantization shifts left by at most 7."""
    graph = _fixed_conv16("CONV_2D")
    y = graph.tensor("y")
    y.quant = Quantization(np.array([1e-9]), np.array([0]), 0)
    with pytest.raises(GraphError, match=r"2\*\*7"):
        Session(graph)
    with pytest.raises(GraphError, match=r"2\*\*7"):
        prepare(graph.nodes[0], graph)
