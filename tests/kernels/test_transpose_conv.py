"""TRANSPOSE_CONV against the real runtimes: int8 and int16 (16x8) byte-identical with
TensorFlow Lite Micro, float32 within the spec's tolerance of LiteRT. Every case is a seeded
random single-operator graph run on the reference backend alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.kernels.spec_check import assert_within, tolerance
from tests.kernels.test_conv import (
    ACTIVATIONS,
    float_values,
    int8_values,
    int8_weights,
    log_uniform,
    weight_quant,
)
from tests.kernels.test_conv_int16 import int16_values, run_reference, wide_bias
from tests.runtimes import run_litert, run_tflm
from tinyabi.errors import GraphError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph
from tinyabi.ir.shapes import infer_shapes
from tinyabi.ir.validate import validate_graph
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite

#: Test cases per signature (raise for a longer sweep).
CASES = 150


def output_size(rng: np.random.Generator, size: int, kernel: int, stride: int, padding: str) -> int:
    """A random output size that a convolution with these parameters maps back to ``size``."""
    low = (size - 1) * stride + (1 if padding == "SAME" else kernel)
    return int(rng.integers(low, low + stride))


def transpose_conv_graph(rng: np.random.Generator, signature: str) -> tuple[Graph, np.ndarray]:
    """A random TRANSPOSE_CONV of ``signature`` and an input for it."""
    n = int(rng.integers(1, 3))
    h, w = (int(v) for v in rng.integers(1, 8, 2))
    c, o = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    padding = "SAME" if rng.random() < 0.5 else "VALID"
    oh, ow = output_size(rng, h, kh, sh, padding), output_size(rng, w, kw, sw, padding)
    attrs: dict[str, Any] = {
        "padding": padding,
        "stride_h": sh,
        "stride_w": sw,
        "fused_activation": str(rng.choice(ACTIVATIONS)),
    }
    b = GraphBuilder("transpose_conv")
    shape = b.const("shape", np.array([n, oh, ow, o], dtype=np.int32))
    depth = kh * kw * c
    has_bias = rng.random() < 0.8
    bias = None
    if signature == "float32":
        x = b.input("x", "float32", (n, h, w, c))
        values = rng.standard_normal((o, kh, kw, c)) / np.sqrt(depth)
        weights = b.const("w", values.astype(np.float32))
        if has_bias:
            bias = b.const("b", rng.standard_normal(o).astype(np.float32))
        y = b.tensor("y", "float32", (n, oh, ow, o))
        x_value = float_values(rng, (n, h, w, c))
    else:
        w_quant = weight_quant(rng, o, 0, per_channel=rng.random() < 0.6)
        weights = b.const("w", int8_weights(rng, (o, kh, kw, c)), quant=w_quant)
        if signature == "int8":
            s_in = float(log_uniform(rng, 1e-3, 1e-1))
            spread = np.sqrt(depth) * 74.0 * 73.0 * s_in * float(np.mean(w_quant.scale))
            in_q = (s_in, int(rng.integers(-128, 128)))
            out_q = (float(spread / log_uniform(rng, 10, 150)), int(rng.integers(-128, 128)))
            x_value = int8_values(rng, (n, h, w, c))
            bias_type = "int32"
        else:
            s_in = float(log_uniform(rng, 1e-5, 1e-2))
            spread = np.sqrt(depth) * 18900.0 * 73.0 * s_in * float(np.mean(w_quant.scale))
            in_q, out_q = (s_in, 0), (float(spread / log_uniform(rng, 300, 30000)), 0)
            x_value = int16_values(rng, (n, h, w, c))
            bias_type = "int64"
        x = b.input("x", signature, (n, h, w, c), quant=in_q)
        if has_bias:
            values, b_quant = wide_bias(rng, o, depth, s_in, w_quant, bias_type)
            bias = b.const("b", values, quant=b_quant)
        y = b.tensor("y", signature, (n, oh, ow, o), quant=out_q)
    inputs = [shape, weights, x] + ([bias] if bias is not None else [])
    b.node("TRANSPOSE_CONV", inputs, [y], **attrs)
    return b.build([y]), x_value


def describe(graph: Graph) -> str:
    node = graph.nodes[0]
    shapes = [list(graph.tensor(t).shape) for t in node.inputs[1:] if t is not None]
    out = list(graph.tensor(node.outputs[0]).shape)
    return f"TRANSPOSE_CONV {shapes} -> {out} {node.attrs}"


@pytest.mark.parametrize("signature", ["int8", "int16", "float32"])
def test_transpose_conv_matches_the_runtimes(signature: str) -> None:
    rng = np.random.default_rng([41, len(signature)])
    tol = tolerance("TRANSPOSE_CONV", signature)
    runtime = run_litert if signature == "float32" else run_tflm
    for _ in range(CASES):
        graph, x = transpose_conv_graph(rng, signature)
        assert validate_graph(graph)[graph.nodes[0].name] == signature
        (want,) = runtime(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, describe(graph), graph, [x])


def test_float32_matches_tflm_too() -> None:
    """TFLite Micro's float kernel agrees as well (it reads the output tensor's shape)."""
    rng = np.random.default_rng(42)
    tol = tolerance("TRANSPOSE_CONV", "float32")
    for _ in range(40):
        graph, x = transpose_conv_graph(rng, "float32")
        (want,) = run_tflm(export_tflite(graph), [x])
        assert_within(run_reference(graph, [x]), want, tol, describe(graph), graph, [x])


def test_round_trip_through_tflite() -> None:
    """Import gives back the operator, its attributes and its operand order."""
    rng = np.random.default_rng(43)
    graph, x = transpose_conv_graph(rng, "int8")
    back = load_tflite(export_tflite(graph))
    node, original = back.nodes[0], graph.nodes[0]
    assert node.op == "TRANSPOSE_CONV"
    assert {k: node.attrs[k] for k in original.attrs} == original.attrs
    assert [back.tensor(t).shape for t in node.inputs if t] == [
        graph.tensor(t).shape for t in original.inputs if t
    ]
    assert np.array_equal(run_reference(back, [x]), run_reference(graph, [x]))


def _graph(
    out: Sequence[int], x_shape: Sequence[int], w_shape: Sequence[int], **attrs: Any
) -> Graph:
    b = GraphBuilder("shape")
    shape = b.const("shape", np.asarray(out, dtype=np.int32))
    w = b.const("w", np.zeros(w_shape, dtype=np.float32))
    x = b.input("x", "float32", x_shape)
    y = b.tensor("y", "float32", tuple(out))
    b.node("TRANSPOSE_CONV", [shape, w, x], [y], **attrs)
    return b.build([y])


@pytest.mark.parametrize(
    ("out", "x_shape", "attrs"),
    [
        ((1, 8, 7, 3), (1, 4, 4, 2), {"padding": "SAME", "stride_h": 2, "stride_w": 2}),
        ((1, 9, 10, 3), (1, 4, 4, 2), {"padding": "VALID", "stride_h": 2, "stride_w": 2}),
        ((2, 5, 5, 3), (2, 5, 5, 2), {"padding": "SAME"}),
    ],
)
def test_shape_rule(out: tuple[int, ...], x_shape: tuple[int, ...], attrs: dict[str, Any]) -> None:
    graph = _graph(out, x_shape, (3, 3, 3, 2), **attrs)
    assert infer_shapes(graph.nodes[0], graph) == [out]


@pytest.mark.parametrize(
    ("out", "x_shape", "w_shape", "message"),
    [
        ((1, 11, 11, 3), (1, 4, 4, 2), (3, 3, 3, 2), "maps the output"),
        ((1, 8, 8, 4), (1, 4, 4, 2), (3, 3, 3, 2), "channel"),
        ((1, 8, 8, 3), (1, 4, 4, 5), (3, 3, 3, 2), "channel"),
        ((1, 8, 8), (1, 4, 4, 2), (3, 3, 3, 2), "4 values"),
        ((1, 0, 8, 3), (1, 4, 4, 2), (3, 3, 3, 2), "empty"),
    ],
)
def test_shape_rule_errors(
    out: tuple[int, ...], x_shape: tuple[int, ...], w_shape: tuple[int, ...], message: str
) -> None:
    graph = _graph(out, x_shape, w_shape, padding="VALID", stride_h=2, stride_w=2)
    with pytest.raises(GraphError, match=message):
        infer_shapes(graph.nodes[0], graph)
    with pytest.raises(GraphError):
        Session(graph)


def test_int16_with_int32_bias_is_declined() -> None:
    """TFLM reads an int32 bias of a 16x8 TRANSPOSE_CONV as int64: no signature takes it."""
    rng = np.random.default_rng(44)
    graph, _ = transpose_conv_graph(rng, "int16")
    while len(graph.nodes[0].inputs) < 4:
        graph, _ = transpose_conv_graph(rng, "int16")
    bias = graph.tensor(graph.nodes[0].inputs[3])  # type: ignore[arg-type]
    bias.dtype = "int32"
    bias.data = bias.data.astype(np.int32)  # type: ignore[union-attr]
    with pytest.raises(GraphError, match="signature"):
        Session(graph, backends=["reference"], fallback="error")
