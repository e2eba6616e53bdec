"""CONV_2D with the portable library on the host, Cortex-M4 (DSP) and Cortex-M55 (MVE) at the
channel counts the random families leave out: 1x1 layers with 16 and more input channels (the
whole-vector MVE loop and its predicated tail, the 16-column SMLAD loop and its 8- and
4-column rests), output channels that are not a multiple of 4, odd pixel counts, im2col
patches of more than 16 values, windows that start or end in the padding, grouped and dilated
filters, multipliers above 1 (positive shifts), nonzero offsets and clamped activation ranges.
Every case is its own partition on cmsis-nn (``strict=True``), byte-identical with TFLM and
the reference kernels. Besides the fixed cases, random ones of the same kinds:
``TINYABI_CONV_WIDE_SEEDS`` seeds per target (default 1) of ``TINYABI_CONV_WIDE_CASES`` cases
(default 8)."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import pytest
from random_cases import Cases, assert_identical
from tinyabi_cmsis_nn.build import cortexm
from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition

import tinyabi
from tests.conftest import unavailable
from tinyabi.ir.graph import Graph
from tinyabi.ir.shapes.conv import conv_output_size

SEEDS = int(os.environ.get("TINYABI_CONV_WIDE_SEEDS", "1"))
RANDOM_CASES = int(os.environ.get("TINYABI_CONV_WIDE_CASES", "8"))
TARGETS = ["host", "cortex-m4", "cortex-m55"]


class Conv(NamedTuple):
    """One CONV_2D case: input (batch, h, w, cin), cout, kernel, stride, dilation, padding,
    groups, activation, and whether the multipliers exceed 1."""

    shape: tuple[int, int, int, int]
    cout: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    groups: int = 1
    act: str = "NONE"
    above_one: bool = False


CASES = [
    Conv((1, 3, 5, 64), 9, act="RELU"),  # 15 pixels: an odd last pixel; 9 = 2 x 4 + 1 channels
    Conv((1, 2, 3, 36), 7, act="RELU6"),  # 16 + 16 + 4 columns
    Conv((2, 3, 3, 20), 5, above_one=True),  # positive shifts, 20 = 16 + 4 columns
    Conv((1, 4, 4, 24), 16, act="RELU_N1_TO_1"),  # 24 = 16 + 8 columns
    Conv((1, 5, 3, 48), 6),  # all of int8: whole 16-column groups, SSAT
    Conv((2, 3, 3, 8), 3),  # all of int8, 8 input channels
    Conv((1, 9, 7, 3), 6, (3, 3), (2, 2), padding="SAME", act="RELU"),  # 27-value patches
    Conv((1, 12, 6, 1), 13, (5, 4), (2, 1), padding="SAME"),  # rows partly in the padding
    Conv((1, 7, 8, 8), 10, (3, 3), (1, 2), (2, 1), "SAME", groups=2),  # grouped, dilated
    Conv((1, 6, 6, 5), 4, (2, 5), padding="SAME", above_one=True, act="RELU"),
]


def random_conv(rng: np.random.Generator) -> Conv:
    """A random case of the kinds of :data:`CASES`: half 1x1 layers with 4 to 68 input
    channels, half windows of up to 5x5 over 1 to 19 channels with strides, dilations,
    padding and sometimes two groups."""
    cout = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17]))
    act = str(rng.choice(["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    above_one = bool(rng.random() < 0.25)
    if rng.random() < 0.5:
        cin = 4 * int(rng.choice([1, 2, 4, 5, 8, 9, 16, 17]))
        h, w = (int(v) for v in rng.integers(1, 9, size=2))
        return Conv((int(rng.choice([1, 2])), h, w, cin), cout, act=act, above_one=above_one)
    groups = 2 if rng.random() < 0.2 else 1
    cin = int(rng.choice([1, 2, 3, 5, 8, 16, 19])) * groups
    cout *= groups
    kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (1, 1) if rng.random() < 0.7 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h, w = (int(v) for v in rng.integers(3, 14, size=2))
    padding = "SAME" if rng.random() < 0.5 or h < kernel[0] * 2 or w < kernel[1] * 2 else "VALID"
    return Conv((1, h, w, cin), cout, kernel, stride, dilation, padding, groups, act, above_one)


def wide_conv_graph(seed: int, cases: list[Conv] | None = None) -> Graph:
    """One graph holding every case of ``cases`` (default :data:`CASES`; independent inputs
    and outputs)."""
    c = Cases(seed)
    for case in CASES if cases is None else cases:
        batch, h, w, cin = case.shape
        oh = conv_output_size(h, case.kernel[0], case.stride[0], case.dilation[0], case.padding)
        ow = conv_output_size(w, case.kernel[1], case.stride[1], case.dilation[1], case.padding)
        s_in, zp_in = c.quant()
        x = c.input((batch, h, w, cin), (s_in, zp_in))
        shape = (case.cout, *case.kernel, cin // case.groups)
        weights, scales = c.weights(shape, 0, per_channel=True)
        bias = c.bias(case.cout, s_in, scales)
        fan_in = case.kernel[0] * case.kernel[1] * cin // case.groups
        scale, zp = c.out_quant(s_in, scales, fan_in)
        if case.above_one:
            scale *= 1e-4  # the real multipliers exceed 1: positive shifts
        y = c.output((batch, oh, ow, case.cout), (scale, zp))
        c.b.node(
            "CONV_2D",
            [x, weights, bias],
            [y],
            padding=case.padding,
            stride_h=case.stride[0],
            stride_w=case.stride[1],
            dilation_h=case.dilation[0],
            dilation_w=case.dilation[1],
            fused_activation=case.act,
        )
    return c.build()


def _check(graph: Graph, target: str, count: int) -> None:
    if target != "host" and cortexm.missing_tools():
        unavailable(f"{', '.join(cortexm.missing_tools())} missing ({cortexm.DEBIAN_PACKAGES})")
    options = {} if target == "host" else {"target": target}
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", options)], fallback="error", strict=True
    )
    assert [p.backend for p in session.plan.partitions] == ["cmsis-nn"] * count
    if target != "host":
        assert all(isinstance(p, CortexMPartition) for p in session.compiled)
    assert_identical(graph, session, runs=2, seed=5)


@pytest.mark.parametrize("target", TARGETS)
def test_wide_convolutions_match_tflm(target: str) -> None:
    _check(wide_conv_graph(seed=31), target, len(CASES))


@pytest.mark.parametrize(("target", "seed"), [(t, s) for s in range(SEEDS) for t in TARGETS])
def test_random_wide_convolutions_match_tflm(target: str, seed: int) -> None:
    rng = np.random.default_rng([seed, 7])
    cases = [random_conv(rng) for _ in range(RANDOM_CASES)]
    _check(wide_conv_graph(seed + 100, cases), target, len(cases))
