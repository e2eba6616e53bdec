"""TRANSPOSE_CONV: the reference kernel (int8, int16 and float32).

Every input pixel ``(y, x)`` scatters onto the output at rows ``y * sh - top + ky`` and columns
``x * sw - left + kx`` (``top``/``left`` the padding of the convolution being transposed);
with the parameters of :func:`tinyabi.quantization.conv.transpose_conv_params`, int8 (bit-exact
with TFLite Micro) computes::

    acc[n, r, c, o] = bias[o] + sum over the (y, x, ky, kx) reaching (r, c) and channels i of
                      (in[n, y, x, i] - zp_in) * w[o, ky, kx, i]
    out = clamp(MBQM(acc, m[o], e[o]) + zp_out, act_min, act_max)

int16 (16x8) drops the zero points and requantizes a 64-bit accumulator
(:func:`tinyabi.kernels.conv_int16.int16_stage`); float32 accumulates in float64.

The computation: for each tap ``(ky, kx)`` one matrix product gives every input pixel's
contribution ``[N, H, W, O]``, added into a strided view of an output canvas large enough for
every contribution (so the memory stays that of the output); the canvas is then cropped by the
padding. The products
are exact integers in float (see :mod:`tinyabi.kernels.gemm`), so the order of the sums does
not matter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.shapes.conv import same_padding, transpose_conv_shape
from tinyabi.kernels.conv_int16 import int16_stage
from tinyabi.kernels.conv_operands import check_output
from tinyabi.kernels.float_finish import float_finish
from tinyabi.kernels.gemm import Array, FloatType, abs_sums, exact_dtype, matmul
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.kernels.requantizer import Requantizer
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization.tensors import channel_scales

__all__ = ["INT8_MAX_INPUT", "prepare_transpose_conv", "scatter_accumulator"]

#: After the zero point is removed, int8 inputs lie in [-255, 255].
INT8_MAX_INPUT = 256

_SIGNATURES = {
    ("int8", "int32", "int8"): "int8",
    ("int8", None, "int8"): "int8",
    ("int16", "int64", "int16"): "int16",
    ("int16", None, "int16"): "int16",
    ("float32", "float32", "float32"): "float32",
    ("float32", None, "float32"): "float32",
}


def scatter_accumulator(
    x_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    weights: Array,
    strides: tuple[int, int],
    pads: tuple[int, int],
    dtype: FloatType,
) -> Callable[[Array], Array]:
    """``f(x) -> [N, OH, OW, O]``: the scattered sums of ``x`` (already in ``dtype``, zero
    points removed) times the OHWI ``weights``."""
    n, h, w, c = x_shape
    o, kh, kw, _ = weights.shape
    _, oh, ow, _ = out_shape
    sh, sw = strides
    top, left = pads
    # [KH, KW, C, O]: one [C, O] matrix per tap.
    per_tap = np.ascontiguousarray(weights.transpose(1, 2, 3, 0), dtype)
    canvas_h = max((h - 1) * sh + kh, top + oh)
    canvas_w = max((w - 1) * sw + kw, left + ow)

    def accumulate(x: Array) -> Array:
        pixels = x.reshape(n * h * w, c)
        canvas = np.zeros((n, canvas_h, canvas_w, o), dtype=dtype)
        for ky in range(kh):
            rows = slice(ky, ky + (h - 1) * sh + 1, sh)
            for kx in range(kw):
                tap = matmul(pixels, per_tap[ky, kx]).reshape(n, h, w, o)
                canvas[:, rows, kx : kx + (w - 1) * sw + 1 : sw, :] += tap
        return canvas[:, top : top + oh, left : left + ow, :]

    return accumulate


@kernel("TRANSPOSE_CONV")
def prepare_transpose_conv(node: Node, graph: Graph) -> Eval:
    """TRANSPOSE_CONV in the int8, int16 (16x8) and float32 signatures.

    int8, with the parameters of :func:`tinyabi.quantization.conv.transpose_conv_params`::

        out[n, r, c, o] = clamp(MBQM(bias[o] + sum((in - zp_in) * w[o, ky, kx, :]), m[o], e[o])
                                + zp_out, act_min, act_max)

    the sum running over the input pixels and taps ``(y, x, ky, kx)`` that reach ``(r, c)``.
    """
    (out_shape,) = transpose_conv_shape(node, graph)
    tensors = graph.node_inputs(node)
    w, x = tensors[1], tensors[2]
    bias = tensors[3] if len(tensors) > 3 else None
    assert w is not None and x is not None
    y = graph.tensor(node.outputs[0])
    kinds = (x.dtype, None if bias is None else bias.dtype, y.dtype)
    signature = _SIGNATURES.get(kinds)
    expected_w = "float32" if signature == "float32" else "int8"
    if signature is None or w.dtype != expected_w:
        raise GraphError(
            f"{node.describe()}: no signature takes input {kinds[0]}, filter {w.dtype}, bias "
            f"{kinds[1]}, output {kinds[2]} (supported: int8 x int8 [+ int32] -> int8, int16 x "
            "int8 [+ int64] -> int16, float32 x float32 [+ float32] -> float32)"
        )
    if w.data is None or (bias is not None and bias.data is None):
        raise GraphError(f"{node.describe()}: the filter and bias must be constant tensors")
    check_output(node, y, out_shape)
    o, kh, kw, _ = w.shape
    _, oh, ow, _ = out_shape
    sh, sw = int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1))
    pads = (
        same_padding(oh, kh, sh, 1, x.shape[1])[0],
        same_padding(ow, kw, sw, 1, x.shape[2])[0],
    )
    bias_data = None if bias is None else bias.data

    def scatter(dtype: FloatType) -> Callable[[Array], Array]:
        assert w.data is not None
        return scatter_accumulator(x.shape, out_shape, w.data, (sh, sw), pads, dtype)

    if signature == "float32":
        accumulate_f = scatter(np.float64)
        finish_f = float_finish(node)
        bias_f = None if bias_data is None else bias_data.astype(np.float64)

        def run_float(inputs: Sequence[Array | None]) -> list[Array]:
            x_in = inputs[2]
            assert x_in is not None
            acc = accumulate_f(x_in.astype(np.float64))
            return [finish_f(acc, bias_f)]

        return run_float

    channel_scales(node, w, o, 0)
    params = conv_quant.transpose_conv_params(node, graph)
    bounds = abs_sums(w.data, (1, 2, 3))
    if signature == "int16":
        dtype16, finish16 = int16_stage(params, bounds, bias_data)
        accumulate16 = scatter(dtype16)

        def run_int16(inputs: Sequence[Array | None]) -> list[Array]:
            x_in = inputs[2]
            assert x_in is not None
            return [finish16(accumulate16(x_in.astype(dtype16)))]

        return run_int16

    zp_in = -params.input_offset
    dtype8 = exact_dtype(bounds, INT8_MAX_INPUT)
    offset = np.zeros(o, np.int64) if bias_data is None else bias_data.astype(np.int64)
    requant = Requantizer.from_params(params)
    finish8 = requant.plan(bounds * float(INT8_MAX_INPUT), offset, allow_scaled=False).finish
    accumulate8 = scatter(dtype8)

    def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
        x_in = inputs[2]
        assert x_in is not None
        return [finish8(accumulate8(x_in.astype(dtype8) - dtype8(zp_in)))]

    return run_int8
