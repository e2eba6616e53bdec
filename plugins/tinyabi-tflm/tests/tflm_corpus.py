"""Models of each class TFLM runs, built with tinyabi's graph builder, and TFLM's own
interpreter run over consecutive inputs: the plugin's corpus tests compare a tflm Session with it.

(Not a conftest: see ``tflm_support``.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tinyabi_tflm.signal_forms import custom_options, filter_bank_tables

from tests.modelgen import random_int8_model
from tests.runtimes import tflm_arena_size
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.quantization.conv import bias_scales

#: Audio front end: samples per step, frame (and FFT) length, filterbank channels.
STEP, FRAME, CHANNELS = 8, 16, 4


def signal_front_end() -> Graph:
    """TFLM's audio front end as its signal library builds it: frame the int16 samples, window,
    scale, FFT, energy, filterbank, square root, log; then CAST, DIV and RESHAPE to features."""
    b = GraphBuilder("front_end")
    x = b.input("audio", "int16", (1, STEP))
    frames, valid = b.tensor("frames", "int16", (1, 1, FRAME)), b.tensor("valid", "bool", ())
    b.node(
        "tflite.custom.SignalFramer",
        [x],
        [frames, valid],
        custom_options=custom_options(frame_size=FRAME, frame_step=STEP, prefill=True),
    )
    frame = b.tensor("frame", "int16", (FRAME,))
    b.node("RESHAPE", [frames, b.const("frame_shape", np.array([FRAME], np.int32))], [frame])
    window = np.round(np.hanning(FRAME) * (1 << 12)).astype(np.int16)
    windowed = b.tensor("windowed", "int16", (FRAME,))
    b.node(
        "tflite.custom.SignalWindow",
        [frame, b.const("window", window)],
        [windowed],
        custom_options=custom_options(shift=12),
    )
    scaled, bits = b.tensor("scaled", "int16", (FRAME,)), b.tensor("scale_bits", "int32", ())
    b.node("tflite.custom.SignalFftAutoScale", [windowed], [scaled, bits])
    spectrum = b.tensor("spectrum", "int16", (FRAME + 2,))
    b.node(
        "tflite.custom.SignalRfft",
        [scaled],
        [spectrum],
        custom_options=custom_options(T=7, fft_length=FRAME),  # T: int16's TensorType
    )
    energy = b.tensor("energy", "uint32", (FRAME // 2 + 1,))
    b.node(
        "tflite.custom.SignalEnergy",
        [spectrum],
        [energy],
        custom_options=custom_options(end_index=FRAME // 2, start_index=1),
    )
    bank = b.tensor("bank", "uint64", (CHANNELS,))
    b.node(
        "tflite.custom.SignalFilterBank",
        [energy, *filter_bank_tables(b, CHANNELS)],
        [bank],
        custom_options=custom_options(num_channels=CHANNELS),
    )
    root = b.tensor("root", "uint32", (CHANNELS,))
    b.node("tflite.custom.SignalFilterBankSquareRoot", [bank, bits], [root])
    logs = b.tensor("logs", "int16", (CHANNELS,))
    b.node(
        "tflite.custom.SignalFilterBankLog",
        [root],
        [logs],
        custom_options=custom_options(input_correction_bits=3, output_scale=1600),
    )
    as_float = b.tensor("as_float", "float32", (CHANNELS,))
    b.node("tflite.CAST", [logs], [as_float])
    scaled_float = b.tensor("features_flat", "float32", (CHANNELS,))
    b.node(
        "tflite.DIV", [as_float, b.const("divisor", np.array([25.6], np.float32))], [scaled_float]
    )
    features = b.tensor("features", "float32", (1, CHANNELS))
    shape = b.const("features_shape", np.array([1, CHANNELS], np.int32))
    b.node("RESHAPE", [scaled_float, shape], [features])
    return b.build([features])


def int8_cnn() -> Graph:
    """A random int8 CNN of spec operators (tests/modelgen)."""
    return random_int8_model(seed=5, layers=6)


def _int8_weights(
    b: GraphBuilder, name: str, shape: tuple[int, ...], seed: int
) -> tuple[str, Quantization]:
    n = shape[0]
    q = Quantization(np.full(n, 0.01), np.zeros(n, np.int64), axis=0)
    data = np.random.default_rng(seed).integers(-127, 128, shape).astype(np.int8)
    return b.const(name, data, q), q


def _int64_bias(b: GraphBuilder, name: str, in_scale: float, wq: Quantization) -> str:
    n = len(wq.scale)
    q = Quantization(bias_scales(in_scale, wq.scale), np.zeros(n, np.int64))
    return b.const(name, np.arange(n, dtype=np.int64) * 40 - 60, q)


def int16_conv_fc() -> Graph:
    """A 16x8 model: int16 activations, int8 per-channel weights, int64 biases (CONV_2D,
    DEPTHWISE_CONV_2D, FULLY_CONNECTED)."""
    b = GraphBuilder("conv_fc_16x8")
    s_in, s_mid = 0.0005, 0.001
    x = b.input("x", "int16", (1, 6, 6, 2), quant=(s_in, 0))
    w, wq = _int8_weights(b, "conv_w", (4, 3, 3, 2), 1)
    conv = b.tensor("conv", "int16", (1, 4, 4, 4), quant=(s_mid, 0))
    b.node("CONV_2D", [x, w, _int64_bias(b, "conv_b", s_in, wq)], [conv], padding="VALID")
    dw_data = np.random.default_rng(2).integers(-127, 128, (1, 3, 3, 4)).astype(np.int8)
    dq = Quantization(np.full(4, 0.01), np.zeros(4, np.int64), axis=3)
    dw = b.const("dw_w", dw_data, dq)
    depth = b.tensor("depth", "int16", (1, 2, 2, 4), quant=(s_mid, 0))
    dw_bias = _int64_bias(b, "dw_b", s_mid, dq)
    b.node("DEPTHWISE_CONV_2D", [conv, dw, dw_bias], [depth], padding="VALID", depth_multiplier=1)
    flat = b.tensor("flat", "int16", (1, 16), quant=(s_mid, 0))
    b.node("RESHAPE", [depth, b.const("flat_shape", np.array([1, 16], np.int32))], [flat])
    fw, fq = _int8_weights(b, "fc_w", (5, 16), 3)
    y = b.tensor("y", "int16", (1, 5), quant=(0.002, 0))
    b.node("FULLY_CONNECTED", [flat, fw, _int64_bias(b, "fc_b", s_mid, fq)], [y])
    return b.build([y])


def float_model() -> Graph:
    """A float32 model: CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX."""
    rng = np.random.default_rng(4)
    b = GraphBuilder("float_cnn")
    x = b.input("x", "float32", (1, 6, 6, 2))
    w = b.const("w", rng.uniform(-1, 1, (3, 3, 3, 2)).astype(np.float32))
    conv = b.tensor("conv", "float32", (1, 6, 6, 3))
    bias = b.const("b", rng.uniform(-0.5, 0.5, 3).astype(np.float32))
    b.node("CONV_2D", [x, w, bias], [conv], padding="SAME", fused_activation="RELU")
    pool = b.tensor("pool", "float32", (1, 3, 3, 3))
    b.node(
        "MAX_POOL_2D",
        [conv],
        [pool],
        padding="VALID",
        filter_h=2,
        filter_w=2,
        stride_h=2,
        stride_w=2,
    )
    flat = b.tensor("flat", "float32", (1, 27))
    b.node("RESHAPE", [pool, b.const("shape", np.array([1, 27], np.int32))], [flat])
    fw = b.const("fw", rng.uniform(-1, 1, (4, 27)).astype(np.float32))
    logits = b.tensor("logits", "float32", (1, 4))
    b.node("FULLY_CONNECTED", [flat, fw, b.const("fb", np.zeros(4, np.float32))], [logits])
    y = b.tensor("y", "float32", (1, 4))
    b.node("SOFTMAX", [logits], [y], beta=1.0)
    return b.build([y])


def _options(kind: str, **fields: object) -> dict[str, object]:
    return {"options_type": kind, "options": {"__class__": f"{kind}T", **fields}}


def extension_mix() -> Graph:
    """int8 spec operators mixed with builtins the spec lacks: TRANSPOSE_CONV (whose first input
    is the output shape), SPLIT (axis first), RESIZE_NEAREST_NEIGHBOR, MAXIMUM, CAST."""
    q = (0.05, 3)
    b = GraphBuilder("extension_mix")
    x = b.input("x", "int8", (1, 4, 4, 2), quant=q)
    w, wq = _int8_weights(b, "tw", (2, 2, 2, 2), 6)
    bq = Quantization(bias_scales(q[0], wq.scale), np.zeros(2, np.int64))
    tb = b.const("tb", np.array([30, -30], np.int32), bq)
    up = b.tensor("up", "int8", (1, 8, 8, 2), quant=q)
    b.node(
        "tflite.TRANSPOSE_CONV",
        [b.const("out_shape", np.array([1, 8, 8, 2], np.int32)), w, x, tb],
        [up],
        **_options("TransposeConvOptions", padding=1, strideW=2, strideH=2),
    )
    left, right = (
        b.tensor("left", "int8", (1, 8, 8, 1), quant=q),
        b.tensor("right", "int8", (1, 8, 8, 1), quant=q),
    )
    b.node(
        "tflite.SPLIT",
        [b.const("axis", np.array(3, np.int32)), up],
        [left, right],
        **_options("SplitOptions", numSplits=2),
    )
    big = b.tensor("big", "int8", (1, 8, 8, 1), quant=q)
    b.node("tflite.MAXIMUM", [left, right], [big])
    pooled = b.tensor("pooled", "int8", (1, 4, 4, 1), quant=q)
    b.node(
        "AVERAGE_POOL_2D",
        [big],
        [pooled],
        padding="VALID",
        filter_h=2,
        filter_w=2,
        stride_h=2,
        stride_w=2,
    )
    resized = b.tensor("resized", "int8", (1, 8, 8, 1), quant=q)
    b.node(
        "tflite.RESIZE_NEAREST_NEIGHBOR",
        [pooled, b.const("size", np.array([8, 8], np.int32))],
        [resized],
        **_options("ResizeNearestNeighborOptions"),
    )
    y = b.tensor("y", "int32", (1, 8, 8, 1))
    b.node("tflite.CAST", [resized], [y], **_options("CastOptions", inDataType=9, outDataType=2))
    return b.build([y])


def tflm_outputs(
    model: bytes, outputs: int, feeds: list[list[np.ndarray]], reset_before: int | None = None
) -> list[list[np.ndarray]]:
    """The ``outputs`` outputs of one TFLM interpreter run on each input list in turn, with
    ``reset()`` called before run number ``reset_before``."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model, arena_size=tflm_arena_size(model))
    results = []
    for run, inputs in enumerate(feeds):
        if run == reset_before:
            interpreter.reset()
        for i, value in enumerate(inputs):
            interpreter.set_input(value, i)
        interpreter.invoke()
        results.append([np.array(interpreter.get_output(i)) for i in range(outputs)])
    return results


CORPUS: dict[str, Callable[[], Graph]] = {
    "int8_cnn": int8_cnn,
    "int16_conv_fc": int16_conv_fc,
    "signal_front_end": signal_front_end,
    "float_cnn": float_model,
    "extension_mix": extension_mix,
}
