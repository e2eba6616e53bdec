"""CONV_2D: the reference kernel, grouped convolution included.

int8 (bit-exact with TFLite Micro), with the parameters of
:func:`tinyabi.quantization.conv.conv_params`::

    acc[n, y, x, o] = bias[o] + sum over (ky, kx, i) of
        (in[n, y*sh + ky*dh - top, x*sw + kx*dw - left, g*ci + i] - zp_in) * w[o, ky, kx, i]
    out = clamp(MBQM(acc, m[o], e[o]) + zp_out, act_min, act_max)

(positions in the padding count as ``zp_in``, i.e. contribute nothing; ``g`` is the group of
output channel ``o``). int16 (16x8) sums the products without zero points and requantizes them
with :func:`tinyabi.kernels.conv_int16.int16_stage`. float32 accumulates in float64; hybrid
quantizes the input per batch image (per pixel for an ungrouped pointwise convolution), as
LiteRT's XNNPACK does.

Fast path: one matrix product over an im2col matrix taken from a single strided view of the
padded input (a pointwise convolution uses the input as it is). The input zero point is not
subtracted per element: ``sum((x - zp) * w)`` is ``sum(x * w) - zp * sum(w)``, with the
padding filled with ``zp`` and the second term folded with the bias into a per-channel offset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.kernels.conv_int16 import int16_stage
from tinyabi.kernels.conv_operands import check_bias, check_output, conv_operands
from tinyabi.kernels.float_finish import (
    HYBRID_MAX_INPUT,
    dynamic_quantize_rows,
    float_finish,
    hybrid_finish,
)
from tinyabi.kernels.gemm import Array, abs_sums, exact_dtype, matmul
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.kernels.requantizer import Requantizer
from tinyabi.kernels.window import conv_window
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization.tensors import channel_scales

__all__ = ["prepare_conv2d"]


@kernel("CONV_2D")
def prepare_conv2d(node: Node, graph: Graph) -> Eval:
    """CONV_2D in the int8, int16 (16x8), float32 and hybrid signatures, grouped convolution
    included.

    int8, with ``(m, e, zp_in, zp_out, act_min, act_max)`` from
    :func:`tinyabi.quantization.conv.conv_params`::

        out[n, y, x, o] = clamp(MBQM(bias[o] + sum((in - zp_in) * w[o]), m[o], e[o]) + zp_out,
                                act_min, act_max)

    the sum running over the (padded, strided, dilated) window and the input channels of the
    output channel's group (padding counts as ``zp_in``). int16: the same sum with zero points
    0, requantized from a 64-bit (int64 bias or none) or 32-bit (int32 bias) accumulator.
    """
    ops = conv_operands(node, graph, weights_axis=0, constant_weights=True)
    w_data = ops.w.data
    assert w_data is not None
    if len(ops.w.shape) != 4:
        raise GraphError(
            f"{node.describe()}: filter must be OHWI (rank 4), got {list(ops.w.shape)}"
        )
    o, kh, kw, ci = ops.w.shape
    win = conv_window(node, ops.x, kh, kw)
    if ci < 1 or win.c % ci != 0 or o % (win.c // ci) != 0:
        raise GraphError(
            f"{node.describe()}: filter input depth {ci} must divide the input depth {win.c} "
            f"into groups that also divide the {o} output channels"
        )
    check_bias(node, ops.bias, o)
    expected = (win.n, win.oh, win.ow, o)
    check_output(node, ops.y, expected)
    groups = win.c // ci
    og = o // groups
    k = kh * kw * ci
    rows = win.n * win.oh * win.ow
    # Weights as [groups, K, O / groups], rows ordered (ky, kx, i) like the im2col columns.
    w_int = w_data.reshape(groups, og, k).transpose(0, 2, 1)
    pointwise = win.pointwise

    def product(xp: Array, weights: Array) -> Array:
        """``[rows, O]`` accumulators from the padded input and the grouped weights."""
        if pointwise:
            cols = xp.reshape(rows, win.c)
        else:
            cols = win.windows(xp).reshape(rows, kh * kw * win.c)
        if groups == 1:
            return matmul(cols, weights[0])
        grouped = cols.reshape(rows, kh * kw, groups, ci)
        out = np.empty((rows, groups, og), dtype=weights.dtype)
        for g in range(groups):
            out[:, g, :] = matmul(grouped[:, :, g, :].reshape(rows, k), weights[g])
        return out.reshape(rows, o)

    if ops.signature == "int8":
        params = conv_quant.conv_params(node, graph)
        zp_in = -params.input_offset
        bounds = abs_sums(w_int, 1).reshape(o)
        requant = Requantizer.from_params(params)
        offset = params.input_offset * w_int.astype(np.int64).sum(axis=1).reshape(o)
        if ops.bias is not None:
            assert ops.bias.data is not None
            offset = offset + ops.bias.data.astype(np.int64)
        plan = requant.plan(bounds * 128.0, offset)
        dtype = plan.dtype(exact_dtype(bounds, 128))
        weights = plan.weights(w_int, dtype, (groups, 1, og))
        finish = plan.finish

        def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish(product(win.pad(x, dtype, zp_in), weights)).reshape(expected)]

        return run_int8

    if ops.signature in ("int16", "int16_int32_bias"):
        bias16 = None if ops.bias is None else ops.bias.data
        dtype16, finish16 = int16_stage(
            conv_quant.conv_params(node, graph), abs_sums(w_int, 1).reshape(o), bias16
        )
        weights16 = w_int.astype(dtype16)

        def run_int16(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            acc = product(win.pad(x, dtype16, 0.0), weights16)
            return [finish16(acc).reshape(expected)]

        return run_int16

    if ops.signature == "float32":
        weights64 = w_int.astype(np.float64)
        finish_f = float_finish(node)

        def run_float(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            acc = product(win.pad(x, np.float64, 0.0), weights64)
            bias = inputs[2] if len(inputs) > 2 else None
            return [finish_f(acc, bias).reshape(expected)]

        return run_float

    # hybrid: one dynamic quantization per batch image. XNNPACK runs an ungrouped pointwise
    # convolution (unless it has a single input and output channel) as a matrix product, and
    # then quantizes each pixel on its own.
    per_pixel = pointwise and groups == 1 and (win.c > 1 or o > 1)
    qrows = rows if per_pixel else win.n
    dtype_h = exact_dtype(abs_sums(w_int, 1), HYBRID_MAX_INPUT)
    weights_h = w_int.astype(dtype_h)
    finish_h = hybrid_finish(node, channel_scales(node, ops.w, o, 0))

    def run_hybrid(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        d, row_scale = dynamic_quantize_rows(x.reshape(qrows, -1))
        acc = product(win.pad(d.reshape(x.shape), dtype_h, 0.0), weights_h)
        bias = inputs[2] if len(inputs) > 2 else None
        out = finish_h(acc.reshape(qrows, -1, o), row_scale[:, None, None], bias)
        return [out.reshape(expected)]

    return run_hybrid
