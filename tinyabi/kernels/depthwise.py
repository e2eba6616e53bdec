"""DEPTHWISE_CONV_2D: the reference kernel, any depth multiplier.

int8 (bit-exact with TFLite Micro), with the parameters of
:func:`tinyabi.quantization.conv.depthwise_conv_params`; for output channel ``o = c * M + j``
(``M`` the depth multiplier)::

    acc[n, y, x, o] = bias[o] + sum over (ky, kx) of
                      (in[n, y*sh + ky*dh - top, x*sw + kx*dw - left, c] - zp_in) * w[0, ky, kx, o]
    out = clamp(MBQM(acc, m[o], e[o]) + zp_out, act_min, act_max)

int16 (16x8) sums the products without zero points and requantizes a 64-bit accumulator
(:func:`tinyabi.kernels.conv_int16.int16_stage`); an int32 bias is declined (TFLite Micro reads
it as int64). float32 accumulates in float64. There is no hybrid signature.

Fast paths (:func:`depthwise_accumulator`): small outputs gather their taps for one einsum;
larger ones sum per-tap products over views whose rows are contiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.kernels.conv_int16 import int16_stage
from tinyabi.kernels.conv_operands import check_bias, check_output, conv_operands
from tinyabi.kernels.float_finish import (
    float_finish,
)
from tinyabi.kernels.gemm import Array, FloatType, abs_sums, exact_dtype
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.kernels.requantizer import Requantizer
from tinyabi.kernels.window import Window, conv_window
from tinyabi.quantization import conv as conv_quant

__all__ = ["DEPTHWISE_GATHER_PIXELS", "depthwise_accumulator", "prepare_depthwise_conv2d"]

#: Depthwise outputs up to this many pixels gather their taps for one einsum (see
#: :func:`depthwise_accumulator`); larger ones loop over the taps.
DEPTHWISE_GATHER_PIXELS = 256


def depthwise_accumulator(
    win: Window, multiplier: int, weights: Array, dtype: FloatType
) -> Callable[[Array], Array]:
    """``f(xp) -> [N, OH, OW, O]``: the sum over kernel taps of the shifted padded input times
    the per-channel weights ``[KH, KW, O]``.

    Small outputs (up to ``DEPTHWISE_GATHER_PIXELS`` pixels) gather the taps into one
    ``[taps, pixels, O]`` array and contract it with one ``einsum``. Larger ones loop over the
    taps: each tap is a view of the (channel-repeated) padded input whose rows ``OW * O`` are
    contiguous, multiplied by the tap's weights tiled along the row, so every numpy loop runs
    over whole rows; with a horizontal stride the padded input is first split into its
    ``stride_w`` column phases.
    """
    o = weights.shape[-1]
    if win.oh * win.ow <= DEPTHWISE_GATHER_PIXELS:
        flat = weights.reshape(win.kh * win.kw, o).astype(dtype)
        gathered = (win.kh, win.kw, win.n, win.oh, win.ow, o)

        def gather(xp: Array) -> Array:
            if multiplier > 1:
                xp = np.repeat(xp, multiplier, axis=3)
            s_n, s_h, s_w, s_c = xp.strides
            view = as_strided(
                xp,
                shape=gathered,
                strides=(s_h * win.dh, s_w * win.dw, s_n, s_h * win.sh, s_w * win.sw, s_c),
                writeable=False,
            )
            cols = view.reshape(win.kh * win.kw, -1, o)
            return np.einsum("tpc,tc->pc", cols, flat).reshape(win.n, win.oh, win.ow, o)

        return gather
    width = win.ow * o
    tiled = [
        [np.tile(weights[ky, kx].astype(dtype), win.ow) for kx in range(win.kw)]
        for ky in range(win.kh)
    ]
    phases = sorted({(kx * win.dw) % win.sw for kx in range(win.kw)})
    shape = (win.n, win.oh, width)

    def accumulate(xp: Array) -> Array:
        if multiplier > 1:
            xp = np.repeat(xp, multiplier, axis=3)
        by_phase = {}
        for p in phases:
            part = xp[:, :, p :: win.sw, :] if win.sw > 1 else xp
            part = np.ascontiguousarray(part)
            by_phase[p] = part.reshape(win.n, part.shape[1], part.shape[2] * o)
        acc = np.empty(shape, dtype=dtype)
        scratch = np.empty(shape, dtype=dtype)
        first = True
        for ky in range(win.kh):
            y0 = ky * win.dh
            rows = slice(y0, y0 + (win.oh - 1) * win.sh + 1, win.sh)
            for kx in range(win.kw):
                col = kx * win.dw
                start = (col // win.sw) * o
                view = by_phase[col % win.sw][:, rows, start : start + width]
                if first:
                    np.multiply(view, tiled[ky][kx], out=acc)
                    first = False
                else:
                    np.multiply(view, tiled[ky][kx], out=scratch)
                    acc += scratch
        return acc.reshape(win.n, win.oh, win.ow, o)

    return accumulate


@kernel("DEPTHWISE_CONV_2D")
def prepare_depthwise_conv2d(node: Node, graph: Graph) -> Eval:
    """DEPTHWISE_CONV_2D in the int8, int16 (16x8) and float32 signatures, with any depth
    multiplier.

    int8, with the parameters of :func:`tinyabi.quantization.conv.depthwise_conv_params`::

        out[n, y, x, o] = clamp(MBQM(bias[o] + sum((in[..., o // M] - zp_in) * w[0, :, :, o]),
                                     m[o], e[o]) + zp_out, act_min, act_max)

    the sum running over the window's taps only (``M`` the depth multiplier). int16: the same
    sum with zero points 0 and an int64 bias (or none), requantized from 64 bits.
    """
    ops = conv_operands(node, graph, weights_axis=3, constant_weights=True)
    if ops.signature == "hybrid":
        raise GraphError(
            f"{node.describe()}: DEPTHWISE_CONV_2D has no hybrid signature (float32 input "
            "with an int8 filter)"
        )
    if ops.signature == "int16_int32_bias":
        raise GraphError(
            f"{node.describe()}: DEPTHWISE_CONV_2D with int16 activations takes an int64 bias "
            "(or none), not int32"
        )
    w_data = ops.w.data
    assert w_data is not None
    if len(ops.w.shape) != 4 or ops.w.shape[0] != 1:
        raise GraphError(
            f"{node.describe()}: filter must be [1, KH, KW, C * M], got {list(ops.w.shape)}"
        )
    _, kh, kw, o = ops.w.shape
    win = conv_window(node, ops.x, kh, kw)
    multiplier = int(node.attrs.get("depth_multiplier", 1))
    if multiplier < 1 or o != win.c * multiplier:
        raise GraphError(
            f"{node.describe()}: filter has {o} channels, but input depth {win.c} x "
            f"depth_multiplier {multiplier} = {win.c * multiplier}"
        )
    check_bias(node, ops.bias, o)
    expected = (win.n, win.oh, win.ow, o)
    check_output(node, ops.y, expected)
    taps = w_data[0]

    if ops.signature == "int8":
        params = conv_quant.depthwise_conv_params(node, graph)
        zp_in = -params.input_offset
        bounds = abs_sums(taps, (0, 1))
        requant = Requantizer.from_params(params)
        offset = params.input_offset * taps.astype(np.int64).sum(axis=(0, 1))
        if ops.bias is not None:
            assert ops.bias.data is not None
            offset = offset + ops.bias.data.astype(np.int64)
        plan = requant.plan(bounds * 128.0, offset)
        dtype = plan.dtype(exact_dtype(bounds, 128))
        accumulate = depthwise_accumulator(win, multiplier, plan.weights(taps, dtype), dtype)
        finish = plan.finish

        def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish(accumulate(win.pad(x, dtype, zp_in)))]

        return run_int8

    if ops.signature == "int16":
        bias16 = None if ops.bias is None else ops.bias.data
        dtype16, finish16 = int16_stage(
            conv_quant.depthwise_conv_params(node, graph), abs_sums(taps, (0, 1)), bias16
        )
        accumulate16 = depthwise_accumulator(win, multiplier, taps, dtype16)

        def run_int16(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish16(accumulate16(win.pad(x, dtype16, 0.0)))]

        return run_int16

    accumulate_f = depthwise_accumulator(win, multiplier, taps, np.float64)
    finish_f = float_finish(node)

    def run_float(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        acc = accumulate_f(win.pad(x, np.float64, 0.0))
        return [finish_f(acc, inputs[2] if len(inputs) > 2 else None)]

    return run_float
