"""A small int8 model built in code, for the ``tinyabi demo`` command and for tests.

The network is a miniature keyword-spotting DS-CNN: CONV_2D, DEPTHWISE_CONV_2D, CONV_2D,
HARD_SWISH, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED and SOFTMAX, with per-channel int8
weights drawn from a seeded generator, so it needs no download.
"""

from __future__ import annotations

import numpy as np

from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization

__all__ = ["build_demo_model"]


def _weights(
    rng: np.random.Generator, shape: tuple[int, ...], axis: int
) -> tuple[np.ndarray, Quantization]:
    data = rng.integers(-127, 128, size=shape).astype(np.int8)
    channels = shape[axis]
    scale = rng.uniform(0.002, 0.02, size=channels)
    return data, Quantization(scale, np.zeros(channels, dtype=np.int64), axis=axis)


def _bias(
    rng: np.random.Generator, input_scale: float, w: Quantization, channels: int
) -> tuple[np.ndarray, Quantization]:
    scale = input_scale * w.scale.astype(np.float64)
    data = rng.integers(-2000, 2000, size=channels).astype(np.int32)
    return data, Quantization(scale, np.zeros(scale.size, dtype=np.int64), axis=0)


def build_demo_model(seed: int = 0) -> Graph:
    """The demo network: input int8[1, 16, 8, 1], output int8[1, 4] class scores."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("demo_ds_cnn")
    in_scale = 0.05
    x = b.input("audio_features", "int8", (1, 16, 8, 1), quant=(in_scale, -10))

    w, wq = _weights(rng, (8, 3, 3, 1), axis=0)
    bias, bq = _bias(rng, in_scale, wq, 8)
    c1 = b.tensor("conv1", "int8", (1, 8, 4, 8), quant=(0.04, -128))
    b.node(
        "CONV_2D",
        [x, b.const("conv1_w", w, wq), b.const("conv1_b", bias, bq)],
        [c1],
        padding="SAME",
        stride_h=2,
        stride_w=2,
        fused_activation="RELU",
    )

    w, wq = _weights(rng, (1, 3, 3, 8), axis=3)
    bias, bq = _bias(rng, 0.04, wq, 8)
    d1 = b.tensor("dw1", "int8", (1, 8, 4, 8), quant=(0.03, -128))
    b.node(
        "DEPTHWISE_CONV_2D",
        [c1, b.const("dw1_w", w, wq), b.const("dw1_b", bias, bq)],
        [d1],
        padding="SAME",
        depth_multiplier=1,
        fused_activation="RELU6",
    )

    w, wq = _weights(rng, (16, 1, 1, 8), axis=0)
    bias, bq = _bias(rng, 0.03, wq, 16)
    c2 = b.tensor("conv2", "int8", (1, 8, 4, 16), quant=(0.05, -128))
    b.node(
        "CONV_2D",
        [d1, b.const("conv2_w", w, wq), b.const("conv2_b", bias, bq)],
        [c2],
        padding="VALID",
        fused_activation="RELU",
    )

    swished = b.tensor("hard_swish", "int8", (1, 8, 4, 16), quant=(0.04, -120))
    b.node("HARD_SWISH", [c2], [swished])
    pooled = b.tensor("pool", "int8", (1, 1, 1, 16), quant=(0.04, -120))
    b.node(
        "AVERAGE_POOL_2D",
        [swished],
        [pooled],
        padding="VALID",
        stride_h=8,
        stride_w=4,
        filter_h=8,
        filter_w=4,
    )
    flat = b.tensor("flatten", "int8", (1, 16), quant=(0.04, -120))
    shape = b.const("flatten_shape", np.array([1, 16], dtype=np.int32))
    b.node("RESHAPE", [pooled, shape], [flat], new_shape=[1, 16])

    w, wq = _weights(rng, (4, 16), axis=0)
    wq = Quantization(wq.scale[:1], wq.zero_point[:1])
    bias, bq = _bias(rng, 0.04, wq, 4)
    logits = b.tensor("logits", "int8", (1, 4), quant=(0.3, 0))
    b.node("FULLY_CONNECTED", [flat, b.const("fc_w", w, wq), b.const("fc_b", bias, bq)], [logits])
    probs = b.tensor("scores", "int8", (1, 4), quant=(1 / 256, -128))
    b.node("SOFTMAX", [logits], [probs], beta=0.1)
    return b.build(outputs=[probs])
