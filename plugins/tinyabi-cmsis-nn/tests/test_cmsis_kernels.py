"""The portable CMSIS-NN subset (``tinyabi_cmsis_nn/csrc``) against tinyabi's reference kernels.

The C sources are built into a host shared library and called through ctypes with the same
parameter structs generated code fills. Every function runs over many seeded-random shapes,
strides, paddings, dilations, depth multipliers, quantization parameters and activation
ranges; its output bytes must equal those of the reference kernels (TFLite Micro-exact) on the
equivalent single-operator graph, and for a subset those of TFLite Micro itself. The same cases
run again on a build with AddressSanitizer and UndefinedBehaviorSanitizer (in a child process,
scratch buffers allocated at exactly the advertised size), and every source file must compile
warning-free for Cortex-M4 and Cortex-M55 with the Arm toolchain.

Run this file as a script (``python test_cmsis_kernels.py LIBRARY SCALE``) to check a given
build of the library; that is how the sanitizer run works.
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyabi.backends.reference import ReferencePartition
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.ir.shapes.conv import conv_output_size, same_padding
from tinyabi.quantization import elementwise as elementwise_quant
from tinyabi.quantization.fixed_point import (
    activation_range,
    quantize_multiplier,
    quantize_multipliers,
)
from tinyabi.session import Session
from tinyabi.tflite.exporter import export_tflite

CSRC = Path(__file__).resolve().parents[1] / "tinyabi_cmsis_nn" / "csrc"
SOURCES = sorted((CSRC / "src").glob("*.c"))
HARNESS = Path(__file__).resolve().parent / "csrc"
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{CSRC / 'include'}"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]
_M55 = ["-mcpu=cortex-m55", "-mthumb", "-fno-if-conversion", "-fno-if-conversion2"]
#: Compiler flags per target: the M55 with a soft float ABI has no MVE (DSP code paths), with
#: a hard float ABI it has (MVE code paths).
ARM_TARGETS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb"],
    "cortex-m55": _M55,
    "cortex-m55-mve": [*_M55, "-mfloat-abi=hard"],
}
#: QEMU machine and target flags of each core (as the firmware builds use them).
QEMU_MACHINES = {
    "cortex-m4": (
        "mps2-an386",
        [*ARM_TARGETS["cortex-m4"], "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    ),
    "cortex-m55": ("mps3-an547", ARM_TARGETS["cortex-m55-mve"]),
}
#: Rounds of cases the C cross-check runs (each round calls every public function).
CROSS_CHECK_ROUNDS = 300
ARM_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
#: Cases per function family at scale 1 (the sanitizer run uses a fraction).
CASES = {"conv": 500, "depthwise": 500, "fc": 400, "pool": 400, "softmax": 200, "elementwise": 300}


# --------------------------------------------------------------------------------------------
# The library and its structs
# --------------------------------------------------------------------------------------------

i32 = ctypes.c_int32
vp = ctypes.c_void_p


class Tile(ctypes.Structure):
    _fields_ = [("w", i32), ("h", i32)]


class Dims(ctypes.Structure):
    _fields_ = [("n", i32), ("h", i32), ("w", i32), ("c", i32)]


class Context(ctypes.Structure):
    _fields_ = [("buf", vp), ("size", i32)]


class Activation(ctypes.Structure):
    _fields_ = [("min", i32), ("max", i32)]


class ConvParams(ctypes.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("output_offset", i32),
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("activation", Activation),
    ]


class DwConvParams(ctypes.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("output_offset", i32),
        ("ch_mult", i32),
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("activation", Activation),
    ]


class PoolParams(ctypes.Structure):
    _fields_ = [("stride", Tile), ("padding", Tile), ("activation", Activation)]


class FcParams(ctypes.Structure):
    _fields_ = [
        ("input_offset", i32),
        ("filter_offset", i32),
        ("output_offset", i32),
        ("activation", Activation),
    ]


class PerChannel(ctypes.Structure):
    _fields_ = [("multiplier", vp), ("shift", vp)]


class PerTensor(ctypes.Structure):
    _fields_ = [("multiplier", i32), ("shift", i32)]


P = ctypes.POINTER
_CONV_ARGS = [P(Context), None, P(PerChannel), P(Dims), vp, P(Dims), vp, P(Dims), vp]
SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "arm_convolve_wrapper_s8": (
        i32,
        [*_CONV_ARGS[:1], P(ConvParams), *_CONV_ARGS[2:], P(Dims), vp],
    ),
    "arm_convolve_s8": (
        i32,
        [*_CONV_ARGS[:1], P(ConvParams), *_CONV_ARGS[2:], P(Dims), P(Dims), vp],
    ),
    "arm_convolve_1x1_s8_fast": (
        i32,
        [*_CONV_ARGS[:1], P(ConvParams), *_CONV_ARGS[2:], P(Dims), vp],
    ),
    "arm_depthwise_conv_wrapper_s8": (
        i32,
        [*_CONV_ARGS[:1], P(DwConvParams), *_CONV_ARGS[2:], P(Dims), vp],
    ),
    "arm_depthwise_conv_s8": (
        i32,
        [*_CONV_ARGS[:1], P(DwConvParams), *_CONV_ARGS[2:], P(Dims), vp],
    ),
    "arm_depthwise_conv_3x3_s8": (
        i32,
        [*_CONV_ARGS[:1], P(DwConvParams), *_CONV_ARGS[2:], P(Dims), vp],
    ),
    "arm_convolve_wrapper_s8_get_buffer_size": (i32, [P(ConvParams), P(Dims), P(Dims), P(Dims)]),
    "arm_convolve_s8_get_buffer_size": (i32, [P(Dims), P(Dims)]),
    "arm_convolve_1x1_s8_fast_get_buffer_size": (i32, [P(Dims)]),
    "arm_depthwise_conv_wrapper_s8_get_buffer_size": (
        i32,
        [P(DwConvParams), P(Dims), P(Dims), P(Dims)],
    ),
    "arm_fully_connected_s8": (
        i32,
        [P(Context), P(FcParams), P(PerTensor), P(Dims), vp, P(Dims), vp, P(Dims), vp, P(Dims), vp],
    ),
    "arm_fully_connected_s8_get_buffer_size": (i32, [P(Dims)]),
    "arm_vector_sum_s8": (i32, [vp, i32, i32, vp, i32, i32, vp]),
    "arm_avgpool_s8": (i32, [P(Context), P(PoolParams), P(Dims), vp, P(Dims), P(Dims), vp]),
    "arm_avgpool_s8_get_buffer_size": (i32, [ctypes.c_int, ctypes.c_int]),
    "arm_max_pool_s8": (i32, [P(Context), P(PoolParams), P(Dims), vp, P(Dims), P(Dims), vp]),
    "arm_softmax_s8": (None, [vp, i32, i32, i32, i32, i32, vp]),
    "arm_elementwise_add_s8": (i32, [vp, vp, i32, i32, i32, i32, i32, i32, i32, vp, *[i32] * 6]),
    "arm_elementwise_mul_s8": (i32, [vp, vp, i32, i32, vp, *[i32] * 6]),
}


def build_library(path: Path, flags: Sequence[str] = ("-O2",)) -> Path:
    """Compile every portable source into the shared library ``path``."""
    cmd = ["gcc", *C_FLAGS, *flags, "-fPIC", "-shared", *map(str, SOURCES), "-o", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return path


def load_library(path: Path | str) -> ctypes.CDLL:
    """The library with the argument and result types of every public function set."""
    lib = ctypes.CDLL(str(path))
    for name, (restype, argtypes) in SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def ptr(array: np.ndarray | None) -> int | None:
    """The address of an array's data (None for no array)."""
    return None if array is None else int(array.ctypes.data)


def dims(n: int, h: int, w: int, c: int) -> Dims:
    return Dims(n, h, w, c)


def scratch(size: int) -> tuple[Context, np.ndarray | None]:
    """A context whose buffer is exactly ``size`` bytes (NULL for 0), and the buffer."""
    if size <= 0:
        return Context(None, 0), None
    buffer = np.zeros(size, dtype=np.int8)
    return Context(ptr(buffer), size), buffer


# --------------------------------------------------------------------------------------------
# Random cases and the parameters TFLite Micro derives from a graph
# --------------------------------------------------------------------------------------------


def log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> Any:
    return 10 ** rng.uniform(np.log10(lo), np.log10(hi), size)


def f32(value: Any) -> Any:
    """Scales as a .tflite file stores them (float32), widened back to float64."""
    return np.asarray(value, dtype=np.float32).astype(np.float64)


def int8_values(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Activations over the full int8 range, sometimes saturated or narrow."""
    r = rng.random()
    if r < 0.05:
        return np.full(shape, -128 if rng.random() < 0.5 else 127, dtype=np.int8)
    if r < 0.2:
        centre = int(rng.integers(-100, 100))
        return np.clip(rng.integers(centre - 20, centre + 20, shape), -128, 127).astype(np.int8)
    return rng.integers(-128, 128, shape).astype(np.int8)


def int8_weights(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    if rng.random() < 0.1:
        return rng.choice([-127, 127], shape).astype(np.int8)
    return rng.integers(-127, 128, shape).astype(np.int8)


def quant_pair(rng: np.random.Generator, depth: int, w_scale: float) -> tuple[Any, Any]:
    """Input and output (scale, zero point) that keep outputs mostly inside int8."""
    s_in = float(f32(log_uniform(rng, 1e-3, 1e-1)))
    spread = math.sqrt(depth) * 74.0 * 73.0 * s_in * w_scale
    s_out = float(f32(spread / log_uniform(rng, 10, 150)))
    return (s_in, int(rng.integers(-128, 128))), (s_out, int(rng.integers(-128, 128)))


def bias_values(rng: np.random.Generator, channels: int, depth: int) -> np.ndarray:
    values = rng.normal(0, math.sqrt(depth) * 74 * 73 / 4, channels)
    return np.clip(values, -(2**31), 2**31 - 1).astype(np.int32)


@dataclass
class Window:
    """A random 2-D window geometry (TFLite padding) whose output is at least 1x1."""

    n: int
    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    padding: str
    oh: int
    ow: int

    @property
    def pad(self) -> tuple[int, int]:
        """CMSIS-NN's (top, left) padding: the "before" half TFLite computes."""
        if self.padding == "VALID":
            return 0, 0
        top = same_padding(self.h, self.kh, self.sh, self.dh, self.oh)[0]
        left = same_padding(self.w, self.kw, self.sw, self.dw, self.ow)[0]
        return top, left


def random_window(rng: np.random.Generator, dilation: bool, max_size: int = 14) -> Window:
    while True:
        h, w = (int(v) for v in rng.integers(1, max_size, 2))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        dh, dw = (int(v) if dilation and rng.random() < 0.4 else 1 for v in rng.integers(1, 4, 2))
        padding = "SAME" if rng.random() < 0.5 else "VALID"
        oh = conv_output_size(h, kh, sh, dh, padding)
        ow = conv_output_size(w, kw, sw, dw, padding)
        if oh >= 1 and ow >= 1:
            return Window(int(rng.integers(1, 3)), h, w, kh, kw, sh, sw, dh, dw, padding, oh, ow)


def reference(graph: Graph, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """The graph's single output by tinyabi's reference kernels."""
    values = dict(zip(graph.inputs, inputs))
    (out,) = ReferencePartition(graph).run(values).values()
    return np.asarray(out)


@dataclass
class Case:
    """One single-operator graph, its inputs, and the portable library's output for them."""

    graph: Graph
    inputs: list[np.ndarray]
    got: np.ndarray
    what: str


def requant(s_in: float, w_scales: np.ndarray, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Q31 multipliers and shifts of s_in * s_w / s_out, as int32 arrays."""
    mult, shift = quantize_multipliers(s_in * np.asarray(w_scales, dtype=np.float64) / s_out)
    return mult.astype(np.int32), shift.astype(np.int32)


def act_range(rng: np.random.Generator, out_q: tuple[float, int]) -> tuple[str, Activation]:
    act = str(rng.choice(ACTIVATIONS))
    lo, hi = activation_range(act, "int8", out_q[0], out_q[1])
    return act, Activation(int(lo), int(hi))


# --------------------------------------------------------------------------------------------
# Cases per function family
# --------------------------------------------------------------------------------------------


def conv_case(lib: ctypes.CDLL, rng: np.random.Generator) -> list[Case]:
    """CONV_2D through arm_convolve_wrapper_s8 and the function it dispatches to."""
    g = random_window(rng, dilation=True)
    if rng.random() < 0.3:  # pointwise shapes exercise the 1x1 fast path
        g = Window(g.n, g.h, g.w, 1, 1, 1, 1, 1, 1, g.padding, g.h, g.w)
    c = int(rng.integers(1, 17)) if rng.random() < 0.9 else int(rng.integers(17, 48))
    groups = 1
    if rng.random() < 0.15:
        groups = int(rng.choice([d for d in range(1, c + 1) if c % d == 0]))
    o = groups * int(rng.integers(1, max(2, 17 // groups)))
    kc = c // groups
    per_channel = rng.random() < 0.5
    w_scales = f32(log_uniform(rng, 1e-3, 5e-2, o if per_channel else 1))
    in_q, out_q = quant_pair(rng, g.kh * g.kw * kc, float(np.mean(w_scales)))
    act, activation = act_range(rng, out_q)
    weights = int8_weights(rng, (o, g.kh, g.kw, kc))
    bias = bias_values(rng, o, g.kh * g.kw * kc) if rng.random() < 0.8 else None

    b = GraphBuilder("conv")
    x = b.input("x", "int8", (g.n, g.h, g.w, c), quant=in_q)
    w_name = b.const("w", weights, quant=Quantization(w_scales, np.zeros(w_scales.size, int), 0))
    inputs: list[str | None] = [x, w_name]
    if bias is not None:
        bq = Quantization(in_q[0] * w_scales, np.zeros(w_scales.size, int), 0)
        inputs.append(b.const("b", bias, quant=bq))
    y = b.tensor("y", "int8", (g.n, g.oh, g.ow, o), quant=out_q)
    attrs: dict[str, Any] = {"padding": g.padding, "stride_h": g.sh, "stride_w": g.sw}
    b.node("CONV_2D", inputs, [y], dilation_h=g.dh, dilation_w=g.dw, fused_activation=act, **attrs)
    graph = b.build([y])
    x_value = int8_values(rng, (g.n, g.h, g.w, c))

    mult, shift = requant(in_q[0], np.broadcast_to(w_scales, (o,)), out_q[0])
    quant = PerChannel(ptr(mult), ptr(shift))
    top, left = g.pad
    params = ConvParams(
        -in_q[1], out_q[1], Tile(g.sw, g.sh), Tile(left, top), Tile(g.dw, g.dh), activation
    )
    in_d, f_d = dims(g.n, g.h, g.w, c), dims(o, g.kh, g.kw, kc)
    b_d, o_d = dims(1, 1, 1, o), dims(g.n, g.oh, g.ow, o)
    cases = []
    pointwise = (g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) == (1,) * 6 and groups == 1
    size = lib.arm_convolve_wrapper_s8_get_buffer_size(params, in_d, f_d, o_d)
    patch = g.kh * g.kw * kc  # two int16 patches, or the MVE path's kernel sums + two int8 ones
    expected_size = 0 if pointwise else max(4 * patch, 4 * o + 2 * patch)
    assert size == expected_size, (size, expected_size)
    calls: list[tuple[str, Callable[..., int], int]] = [
        ("wrapper", lib.arm_convolve_wrapper_s8, size),
        ("generic", lambda *a: lib.arm_convolve_s8(*a[:9], None, *a[9:]), 4 * g.kh * g.kw * kc),
    ]
    if pointwise:
        calls.append(("1x1_fast", lib.arm_convolve_1x1_s8_fast, 0))
    for label, function, buf_size in calls:
        ctx, _buffer = scratch(buf_size)
        out = np.zeros((g.n, g.oh, g.ow, o), dtype=np.int8)
        status = function(
            ctx, params, quant, in_d, ptr(x_value), f_d, ptr(weights), b_d, ptr(bias), o_d, ptr(out)
        )
        assert status == 0, (label, status)
        what = f"conv {label} in {in_d_str(in_d)} filter {in_d_str(f_d)} {graph.nodes[0].attrs}"
        cases.append(Case(graph, [x_value], out, what))
    return cases


def in_d_str(d: Dims) -> str:
    return f"[{d.n},{d.h},{d.w},{d.c}]"


def depthwise_case(lib: ctypes.CDLL, rng: np.random.Generator) -> list[Case]:
    """DEPTHWISE_CONV_2D through the wrapper, arm_depthwise_conv_s8 and the 3x3 path."""
    g = random_window(rng, dilation=True)
    if rng.random() < 0.3:  # the 3x3 path's shapes
        pad = "SAME" if rng.random() < 0.7 else "VALID"
        h, w = (int(v) for v in rng.integers(3, 12, 2))
        sh, sw = (int(v) for v in rng.integers(1, 3, 2))
        oh, ow = conv_output_size(h, 3, sh, 1, pad), conv_output_size(w, 3, sw, 1, pad)
        g = Window(1, h, w, 3, 3, sh, sw, 1, 1, pad, oh, ow)
    c = int(rng.integers(1, 17)) if rng.random() < 0.9 else int(rng.integers(17, 48))
    ch_mult = int(rng.choice([1, 1, 1, 2, 3]))
    o = c * ch_mult
    per_channel = rng.random() < 0.5
    w_scales = f32(log_uniform(rng, 1e-3, 5e-2, o if per_channel else 1))
    in_q, out_q = quant_pair(rng, g.kh * g.kw, float(np.mean(w_scales)))
    act, activation = act_range(rng, out_q)
    weights = int8_weights(rng, (1, g.kh, g.kw, o))
    bias = bias_values(rng, o, g.kh * g.kw) if rng.random() < 0.8 else None

    b = GraphBuilder("depthwise")
    x = b.input("x", "int8", (g.n, g.h, g.w, c), quant=in_q)
    w_name = b.const("w", weights, quant=Quantization(w_scales, np.zeros(w_scales.size, int), 3))
    inputs: list[str | None] = [x, w_name]
    if bias is not None:
        bq = Quantization(in_q[0] * w_scales, np.zeros(w_scales.size, int), 0)
        inputs.append(b.const("b", bias, quant=bq))
    y = b.tensor("y", "int8", (g.n, g.oh, g.ow, o), quant=out_q)
    attrs: dict[str, Any] = {"padding": g.padding, "stride_h": g.sh, "stride_w": g.sw}
    b.node(
        "DEPTHWISE_CONV_2D",
        inputs,
        [y],
        dilation_h=g.dh,
        dilation_w=g.dw,
        depth_multiplier=ch_mult,
        fused_activation=act,
        **attrs,
    )
    graph = b.build([y])
    x_value = int8_values(rng, (g.n, g.h, g.w, c))

    mult, shift = requant(in_q[0], np.broadcast_to(w_scales, (o,)), out_q[0])
    quant = PerChannel(ptr(mult), ptr(shift))
    top, left = g.pad
    params = DwConvParams(
        -in_q[1], out_q[1], ch_mult, Tile(g.sw, g.sh), Tile(left, top), Tile(g.dw, g.dh), activation
    )
    in_d, f_d = dims(g.n, g.h, g.w, c), dims(1, g.kh, g.kw, o)
    b_d, o_d = dims(1, 1, 1, o), dims(g.n, g.oh, g.ow, o)
    # Only 3x3 filters of depth multiplier 1, unit dilation and unit strides take scratch (line
    # buffers); every call runs with that buffer and without (then the buffer-free loops).
    size = lib.arm_depthwise_conv_wrapper_s8_get_buffer_size(params, in_d, f_d, o_d)
    lines = (g.kh, g.kw, g.sh, g.sw) == (3, 3, 1, 1) and ch_mult == 1 and (g.dh, g.dw) == (1, 1)
    assert (size > 0) == lines, size
    calls = [("wrapper", lib.arm_depthwise_conv_wrapper_s8), ("generic", lib.arm_depthwise_conv_s8)]
    if (g.kh, g.kw) == (3, 3) and ch_mult == 1 and left <= 1:
        calls.append(("3x3", lib.arm_depthwise_conv_3x3_s8))
    cases = []
    for label, function in calls:
        for buffer_size in sorted({0, size}):
            ctx, _buffer = scratch(buffer_size)
            out = np.zeros((g.n, g.oh, g.ow, o), dtype=np.int8)
            status = function(
                ctx,
                params,
                quant,
                in_d,
                ptr(x_value),
                f_d,
                ptr(weights),
                b_d,
                ptr(bias),
                o_d,
                ptr(out),
            )
            assert status == 0, (label, status)
            what = (
                f"depthwise {label} scratch {buffer_size} in {in_d_str(in_d)} x{ch_mult} "
                f"{graph.nodes[0].attrs}"
            )
            cases.append(Case(graph, [x_value], out, what))
    return cases


def fc_case(lib: ctypes.CDLL, rng: np.random.Generator) -> list[Case]:
    """FULLY_CONNECTED through arm_fully_connected_s8, with and without kernel sums."""
    batches = int(rng.integers(1, 5))
    depth = int(rng.integers(1, 700)) if rng.random() < 0.2 else int(rng.integers(1, 90))
    units = int(rng.integers(1, 40))
    w_scale = float(f32(log_uniform(rng, 1e-3, 5e-2)))
    in_q, out_q = quant_pair(rng, depth, w_scale)
    act, activation = act_range(rng, out_q)
    weights = int8_weights(rng, (units, depth))
    bias = bias_values(rng, units, depth) if rng.random() < 0.8 else None

    b = GraphBuilder("fc")
    x = b.input("x", "int8", (batches, depth), quant=in_q)
    w_name = b.const("w", weights, quant=(w_scale, 0))
    inputs: list[str | None] = [x, w_name]
    if bias is not None:
        inputs.append(b.const("b", bias, quant=(in_q[0] * w_scale, 0)))
    y = b.tensor("y", "int8", (batches, units), quant=out_q)
    b.node("FULLY_CONNECTED", inputs, [y], fused_activation=act)
    graph = b.build([y])
    x_value = int8_values(rng, (batches, depth))

    mult, shift = quantize_multiplier(in_q[0] * w_scale / out_q[0])
    quant = PerTensor(mult, shift)
    params = FcParams(-in_q[1], 0, out_q[1], activation)
    in_d, f_d = dims(batches, 1, 1, depth), dims(depth, 1, 1, units)
    b_d, o_d = dims(1, 1, 1, units), dims(batches, 1, 1, units)
    assert lib.arm_fully_connected_s8_get_buffer_size(f_d) == 0
    sums = np.zeros(units, dtype=np.int32)
    assert lib.arm_vector_sum_s8(ptr(sums), depth, units, ptr(weights), -in_q[1], 0, ptr(bias)) == 0
    want_sums = -in_q[1] * weights.astype(np.int64).sum(axis=1)
    if bias is not None:
        want_sums += bias
    np.testing.assert_array_equal(sums, want_sums)
    cases = []
    for label, ctx in [
        ("no kernel sums", Context(None, 0)),
        ("kernel sums", Context(ptr(sums), 4 * units)),
    ]:
        out = np.zeros((batches, units), dtype=np.int8)
        status = lib.arm_fully_connected_s8(
            ctx, params, quant, in_d, ptr(x_value), f_d, ptr(weights), b_d, ptr(bias), o_d, ptr(out)
        )
        assert status == 0, (label, status)
        cases.append(Case(graph, [x_value], out, f"fc {label} {batches}x{depth}->{units} {act}"))
    return cases


def pool_case(lib: ctypes.CDLL, rng: np.random.Generator) -> list[Case]:
    """AVERAGE_POOL_2D / MAX_POOL_2D through arm_avgpool_s8 / arm_max_pool_s8."""
    op = "AVERAGE_POOL_2D" if rng.random() < 0.5 else "MAX_POOL_2D"
    g = random_window(rng, dilation=False, max_size=16)
    if rng.random() < 0.15:  # global pooling
        g = Window(g.n, g.h, g.w, g.h, g.w, 1, 1, 1, 1, "VALID", 1, 1)
    c = int(rng.integers(1, 20))
    q = (float(f32(log_uniform(rng, 1e-3, 1e-1))), int(rng.integers(-128, 128)))
    act, activation = act_range(rng, q)
    b = GraphBuilder("pool")
    x = b.input("x", "int8", (g.n, g.h, g.w, c), quant=q)
    y = b.tensor("y", "int8", (g.n, g.oh, g.ow, c), quant=q)
    attrs: dict[str, Any] = {"padding": g.padding, "stride_h": g.sh, "stride_w": g.sw}
    b.node(op, [x], [y], filter_h=g.kh, filter_w=g.kw, fused_activation=act, **attrs)
    graph = b.build([y])
    x_value = int8_values(rng, (g.n, g.h, g.w, c))

    top, left = g.pad
    params = PoolParams(Tile(g.sw, g.sh), Tile(left, top), activation)
    in_d, f_d, o_d = dims(g.n, g.h, g.w, c), dims(1, g.kh, g.kw, 1), dims(g.n, g.oh, g.ow, c)
    out = np.zeros((g.n, g.oh, g.ow, c), dtype=np.int8)
    if op == "AVERAGE_POOL_2D":
        ctx, _buffer = scratch(lib.arm_avgpool_s8_get_buffer_size(g.ow, c))
        status = lib.arm_avgpool_s8(ctx, params, in_d, ptr(x_value), f_d, o_d, ptr(out))
    else:
        status = lib.arm_max_pool_s8(
            Context(None, 0), params, in_d, ptr(x_value), f_d, o_d, ptr(out)
        )
    assert status == 0
    return [Case(graph, [x_value], out, f"{op} {in_d_str(in_d)} {graph.nodes[0].attrs}")]


def softmax_case(lib: ctypes.CDLL, rng: np.random.Generator) -> list[Case]:
    """SOFTMAX through arm_softmax_s8, with TFLite Micro's mult, shift and diff_min."""
    rank = int(rng.integers(1, 4))
    depth = int(rng.integers(1, 300)) if rng.random() < 0.2 else int(rng.integers(1, 40))
    shape = (*(int(v) for v in rng.integers(1, 4, rank - 1)), depth)
    s_in = float(f32(log_uniform(rng, 1e-3, 0.5)))
    beta = float(f32(rng.choice([1.0, float(log_uniform(rng, 0.1, 4.0))])))
    q = (s_in, int(rng.integers(-128, 128)))
    b = GraphBuilder("softmax")
    x = b.input("x", "int8", shape, quant=q)
    y = b.tensor("y", "int8", shape, quant=(1.0 / 256, -128))
    b.node("SOFTMAX", [x], [y], beta=beta)
    graph = b.build([y])
    x_value = int8_values(rng, shape)

    real = beta * s_in * float(1 << 26)
    mult, shift = quantize_multiplier(min(real, float(2**31 - 1)))
    diff_min = -math.floor(31.0 * (1 << 26) / 2.0**shift)
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    out = np.zeros(shape, dtype=np.int8)
    lib.arm_softmax_s8(ptr(x_value), rows, depth, mult, shift, diff_min, ptr(out))
    return [Case(graph, [x_value], out, f"softmax {list(shape)} beta {beta} scale {s_in}")]


def elementwise_case(lib: ctypes.CDLL, rng: np.random.Generator) -> list[Case]:
    """ADD / MUL of two same-shaped tensors through arm_elementwise_add_s8 / _mul_s8."""
    op = "ADD" if rng.random() < 0.5 else "MUL"
    rank = int(rng.integers(1, 5))
    shape = tuple(int(v) for v in rng.integers(1, 7, rank))
    q1 = (float(f32(log_uniform(rng, 1e-3, 1.0))), int(rng.integers(-128, 128)))
    q2 = (float(f32(log_uniform(rng, 1e-3, 1.0))), int(rng.integers(-128, 128)))
    if op == "ADD":
        so = (q1[0] + q2[0]) * float(log_uniform(rng, 0.3, 3.0))
    else:
        so = q1[0] * q2[0] * 128.0 * float(log_uniform(rng, 0.1, 10.0))
    qo = (float(f32(so)), int(rng.integers(-128, 128)))
    act, _ = act_range(rng, qo)
    b = GraphBuilder("elementwise")
    x1 = b.input("x1", "int8", shape, quant=q1)
    x2 = b.input("x2", "int8", shape, quant=q2)
    y = b.tensor("y", "int8", shape, quant=qo)
    b.node(op, [x1, x2], [y], fused_activation=act)
    graph = b.build([y])
    v1, v2 = int8_values(rng, shape), int8_values(rng, shape)
    out = np.zeros(shape, dtype=np.int8)
    size = int(np.prod(shape))
    if op == "ADD":
        p = elementwise_quant.add_sub_params(graph.nodes[0], graph)
        args = (p.input1_offset, p.input1_multiplier, p.input1_shift)
        args2 = (p.input2_offset, p.input2_multiplier, p.input2_shift)
        tail = (p.output_offset, p.output_multiplier, p.output_shift, p.act_min, p.act_max, size)
        status = lib.arm_elementwise_add_s8(
            ptr(v1), ptr(v2), *args, *args2, p.left_shift, ptr(out), *tail
        )
    else:
        m = elementwise_quant.mul_params(graph.nodes[0], graph)
        tail = (m.output_offset, m.output_multiplier, m.output_shift, m.act_min, m.act_max, size)
        status = lib.arm_elementwise_mul_s8(
            ptr(v1), ptr(v2), m.input1_offset, m.input2_offset, ptr(out), *tail
        )
    assert status == 0
    return [Case(graph, [v1, v2], out, f"{op} {list(shape)} {q1} {q2} {qo} {act}")]


FAMILIES: dict[str, Callable[[ctypes.CDLL, np.random.Generator], list[Case]]] = {
    "conv": conv_case,
    "depthwise": depthwise_case,
    "fc": fc_case,
    "pool": pool_case,
    "softmax": softmax_case,
    "elementwise": elementwise_case,
}


def check_family(lib: ctypes.CDLL, family: str, count: int, seed: int = 0) -> list[Case]:
    """``count`` random cases of ``family``: each output must equal the reference's bytes."""
    rng = np.random.default_rng([seed, list(FAMILIES).index(family)])
    checked: list[Case] = []
    for _ in range(count):
        cases = FAMILIES[family](lib, rng)
        want = reference(cases[0].graph, cases[0].inputs)
        for case in cases:
            if not np.array_equal(case.got, want):
                bad = int(np.count_nonzero(case.got != want))
                diff = int(np.max(np.abs(case.got.astype(int) - want.astype(int))))
                raise AssertionError(f"{case.what}: {bad} bytes differ (max {diff} LSB)")
        checked.extend(cases)
    return checked


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def need_tool(tool: str, packages: str) -> None:
    """Skip (fail under CI) when ``tool`` is not installed."""
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (Debian packages: {packages})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


#: Host builds: the plain C loops, and the DSP-extension code paths (what Cortex-M4/M55
#: builds run) with the SIMD instructions emulated in C.
#: "lines" runs depthwise's line-buffer path on every call it takes, however small; "groups"
#: its four-channel groups path (Cortex-M4) on every call the line buffers leave.
BUILDS = {
    "plain": ["-O2"],
    "dsp": ["-O2", "-DTINYABI_EMULATE_DSP"],
    "lines": ["-O2", "-DTINYABI_EMULATE_DSP", "-DTINYABI_DW_MIN_POSITIONS=1"],
    "groups": ["-O2", "-DTINYABI_EMULATE_DSP", "-DTINYABI_DW_GROUP_POSITIONS=1"],
}


@pytest.fixture(scope="module", params=list(BUILDS))
def lib(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    need_tool("gcc", "gcc")
    path = tmp_path_factory.mktemp("cmsis") / f"lib{request.param}.so"
    return load_library(build_library(path, BUILDS[request.param]))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_bit_exact_with_reference(lib: ctypes.CDLL, family: str) -> None:
    checked = check_family(lib, family, CASES[family])
    assert len(checked) >= CASES[family]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_bit_exact_with_tflm(lib: ctypes.CDLL, family: str) -> None:
    """A subset straight against TensorFlow Lite Micro (through the exported .tflite)."""
    from tests.runtimes import run_tflm

    rng = np.random.default_rng([7, list(FAMILIES).index(family)])
    for _ in range(20):
        cases = FAMILIES[family](lib, rng)
        graph, inputs = cases[0].graph, cases[0].inputs
        (want,) = run_tflm(export_tflite(graph), inputs)
        (session_out,) = Session(graph).run(inputs).values()
        np.testing.assert_array_equal(session_out, want)
        for case in cases:
            assert np.array_equal(case.got, want), case.what


def test_struct_layouts_match_the_header(tmp_path: Path) -> None:
    """The ctypes mirrors above (and so generated code) agree with the C structs' layout."""
    need_tool("gcc", "gcc")
    fields = {
        "cmsis_nn_conv_params": ConvParams,
        "cmsis_nn_dw_conv_params": DwConvParams,
        "cmsis_nn_pool_params": PoolParams,
        "cmsis_nn_fc_params": FcParams,
        "cmsis_nn_dims": Dims,
        "cmsis_nn_context": Context,
        "cmsis_nn_per_channel_quant_params": PerChannel,
        "cmsis_nn_per_tensor_quant_params": PerTensor,
    }
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        '#include "arm_nnfunctions.h"',
        "int main(void) {",
    ]
    for c_name, mirror in fields.items():
        lines.append(f'printf("{c_name} %zu\\n", sizeof({c_name}));')
        for field, *_ in mirror._fields_:
            lines.append(f'printf("{c_name}.{field} %zu\\n", offsetof({c_name}, {field}));')
    lines += [
        'printf("status %d %d %d\\n", ARM_CMSIS_NN_SUCCESS, ARM_CMSIS_NN_ARG_ERROR, '
        "ARM_CMSIS_NN_NO_IMPL_ERROR);",
        'printf("portable %d\\n", TINYABI_PORTABLE_CMSIS_NN);',
        "return 0; }",
    ]
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run(["gcc", *C_FLAGS, str(source), "-o", str(exe)], check=True)
    report = dict(
        line.rsplit(" ", 1)
        for line in subprocess.run(
            [str(exe)], check=True, capture_output=True, text=True
        ).stdout.splitlines()
        if not line.startswith(("status", "portable"))
    )
    for c_name, mirror in fields.items():
        assert int(report[c_name]) == ctypes.sizeof(mirror), c_name
        for field, *_ in mirror._fields_:
            assert int(report[f"{c_name}.{field}"]) == getattr(mirror, field).offset, field


def test_argument_errors(lib: ctypes.CDLL) -> None:
    """The documented argument checks return ARM_CMSIS_NN_ARG_ERROR / NO_IMPL_ERROR."""
    x = np.zeros(4 * 4 * 4, dtype=np.int8)
    w = np.zeros(4 * 3 * 3 * 4, dtype=np.int8)
    out = np.zeros(64, dtype=np.int8)
    mult = np.full(4, 1 << 30, dtype=np.int32)
    shift = np.zeros(4, dtype=np.int32)
    quant = PerChannel(ptr(mult), ptr(shift))
    act = Activation(-128, 127)
    conv = ConvParams(0, 0, Tile(1, 1), Tile(1, 1), Tile(1, 1), act)
    in_d, f_d, o_d = dims(1, 4, 4, 4), dims(4, 3, 3, 4), dims(1, 4, 4, 4)
    b_d = dims(1, 1, 1, 4)
    ctx, _buffer = scratch(lib.arm_convolve_s8_get_buffer_size(in_d, f_d))
    args = (quant, in_d, ptr(x), f_d, ptr(w), b_d, None)
    assert lib.arm_convolve_s8(Context(None, 0), conv, *args, None, o_d, ptr(out)) == -1
    assert lib.arm_convolve_s8(ctx, conv, *args, dims(1, 2, 2, 1), o_d, ptr(out)) == -2
    assert lib.arm_convolve_s8(ctx, conv, *args, None, o_d, ptr(out)) == 0
    assert lib.arm_convolve_1x1_s8_fast(ctx, conv, *args, o_d, ptr(out)) == -1
    dw = DwConvParams(0, 0, 1, Tile(1, 1), Tile(2, 2), Tile(1, 1), act)
    f_dw = dims(1, 3, 3, 4)
    dw_args = (quant, in_d, ptr(x), f_dw, ptr(w), b_d, None, o_d, ptr(out))
    assert lib.arm_depthwise_conv_3x3_s8(Context(None, 0), dw, *dw_args) == -1
    fc = FcParams(0, 3, 0, act)
    fc_args = (in_d, ptr(x), dims(64, 1, 1, 1), ptr(w), b_d, None, dims(1, 1, 1, 1), ptr(out))
    assert lib.arm_fully_connected_s8(Context(None, 0), fc, PerTensor(1 << 30, 0), *fc_args) == -1


def test_compiles_for_cortex_m(tmp_path: Path) -> None:
    """Every source compiles warning-free for Cortex-M4 and Cortex-M55, with and without MVE."""
    need_tool("arm-none-eabi-gcc", ARM_PACKAGES)
    for target, flags in ARM_TARGETS.items():
        for opt in ("-O0", "-O2"):
            out = tmp_path / f"{target}{opt}"
            out.mkdir()
            cmd = ["arm-none-eabi-gcc", *flags, *C_FLAGS, opt, "-c", *map(str, SOURCES)]
            result = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
            assert result.returncode == 0, f"{target} {opt}: {result.stderr}"
            assert len(list(out.glob("*.o"))) == len(SOURCES)


@pytest.mark.parametrize("build", list(BUILDS))
def test_sanitizers_report_nothing(tmp_path: Path, build: str) -> None:
    """The random cases again, on a build with AddressSanitizer and UBSan, in a child process
    (the scratch buffers are allocated at exactly the advertised size, through malloc)."""
    need_tool("gcc", "gcc")
    flags = [f for f in BUILDS[build] if not f.startswith("-O")]
    library = build_library(tmp_path / "libsanitized.so", [*SANITIZE, *flags])
    asan = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], check=True, capture_output=True, text=True
    ).stdout.strip()
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=asan,
        PYTHONMALLOC="malloc",
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
    )
    result = subprocess.run(
        [sys.executable, __file__, str(library), "0.25"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-4000:]
    assert "runtime error" not in report and "Sanitizer" not in report, report[-4000:]
    assert "checked" in result.stdout


#: Depthwise path forced in the cross-check builds: the line buffers on every call they take,
#: the four-channel groups (DSP without MVE) on every call the line buffers leave, or (MVE) the
#: channels-in-lanes loops on every call and never the line buffers.
DEPTHWISE_PATHS = {
    "default": [],
    "lines": ["-DTINYABI_DW_MIN_POSITIONS=1"],
    "groups": ["-DTINYABI_DW_GROUP_POSITIONS=1"],
    "lanes": ["-DTINYABI_DW_MIN_POSITIONS=0x7fffffff", "-DTINYABI_DW_LANES_COLUMNS=0"],
}


@pytest.mark.parametrize("path", list(DEPTHWISE_PATHS))
@pytest.mark.parametrize("core", list(QEMU_MACHINES))
def test_cortex_m_build_matches_host(tmp_path: Path, core: str, path: str) -> None:
    """The DSP-extension (Cortex-M4) and MVE (Cortex-M55) code paths, compiled for the core and
    run under QEMU, print the same output hashes as the host's plain C build (checked above
    against the reference kernels) over the C harness's pseudo-random cases of every public
    function, with each depthwise path forced in turn (:data:`DEPTHWISE_PATHS`)."""
    need_tool("gcc", "gcc")
    need_tool("arm-none-eabi-gcc", ARM_PACKAGES)
    need_tool("qemu-system-arm", ARM_PACKAGES)
    rounds = [f"-DCHECK_CASES={CROSS_CHECK_ROUNDS}", *DEPTHWISE_PATHS[path]]
    check = HARNESS / "cmsis_kernel_check.c"
    host = tmp_path / "check_host"
    subprocess.run(
        ["gcc", *C_FLAGS, "-O2", *rounds, *map(str, SOURCES), str(check), "-o", str(host)],
        check=True,
    )
    want = subprocess.run([str(host)], check=True, capture_output=True, text=True).stdout
    machine, target_flags = QEMU_MACHINES[core]
    elf = tmp_path / "check.elf"
    build = [
        "arm-none-eabi-gcc",
        *target_flags,
        *C_FLAGS,
        "-O2",
        *rounds,
        "-DTINYABI_SEMIHOSTING",
        *map(str, SOURCES),
        str(check),
        str(HARNESS / "qemu_startup.c"),
        "-nostartfiles",
        "--specs=nano.specs",
        f"-T{HARNESS / 'qemu.ld'}",
        "-Wl,--gc-sections",
        "-o",
        str(elf),
    ]
    subprocess.run(build, check=True, capture_output=True, text=True)
    qemu = [
        "qemu-system-arm",
        "-machine",
        machine,
        "-cpu",
        core,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]
    result = subprocess.run(qemu, capture_output=True, text=True, timeout=300)
    got = result.stdout + result.stderr  # the semihosting console may be either stream
    assert result.returncode == 0, got[-2000:]
    assert want.endswith("done\n") and want.count("\n") > 10 * CROSS_CHECK_ROUNDS
    want_lines, got_lines = want.splitlines(), got.splitlines()
    for number, (expected, actual) in enumerate(zip(want_lines, got_lines)):
        assert actual == expected, f"{core}: call {number} differs: {actual} (host: {expected})"
    assert len(got_lines) == len(want_lines)


def main(argv: Sequence[str]) -> int:
    """Check the library ``argv[0]`` over ``argv[1]`` (a fraction) of the usual cases."""
    library, scale = argv[0], float(argv[1])
    lib = load_library(library)
    total = 0
    for family, count in CASES.items():
        total += len(check_family(lib, family, max(1, int(count * scale)), seed=1))
    print(f"checked {total} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
