"""FULLY_CONNECTED: the reference kernel (int8, float32 and hybrid).

int8 (bit-exact with TFLite Micro), with the parameters of
:func:`tinyabi.quantization.conv.fully_connected_params`; the input is read as rows of the
filter depth::

    acc[b, u] = bias[u] + sum over k of (in[b, k] - zp_in) * w[u, k]
    out = clamp(MBQM(acc, m[u], e[u]) + zp_out, act_min, act_max)

int16 (16x8) sums the products without zero points and requantizes them with
:func:`tinyabi.kernels.conv_int16.int16_stage`. float32 accumulates in float64; hybrid quantizes
each input row on the fly as LiteRT's XNNPACK does. In the int8 and float32 signatures the
filter and bias may be computed at run time (the int8 kernel's dynamic path then requantizes
without folding the multiplier into the weights).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node
from tinyabi.kernels.conv_int16 import int16_stage
from tinyabi.kernels.conv_operands import Operands, check_bias, check_output, conv_operands
from tinyabi.kernels.float_finish import (
    HYBRID_MAX_INPUT,
    dynamic_quantize_rows,
    float_finish,
    hybrid_finish,
)
from tinyabi.kernels.gemm import Array, abs_sums, exact_dtype, matmul, matmul_for
from tinyabi.kernels.registry import Eval, kernel
from tinyabi.kernels.requantizer import Requantizer
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization.tensors import channel_scales

__all__ = ["prepare_fully_connected"]


@kernel("FULLY_CONNECTED")
def prepare_fully_connected(node: Node, graph: Graph) -> Eval:
    """FULLY_CONNECTED in the int8, int16 (16x8), float32 and hybrid signatures.

    The input is read as ``[-1, depth]`` rows; the filter is ``[units, depth]``. In the int8 and
    float32 signatures the filter and the bias may be computed at run time. int8, with the
    parameters of :func:`tinyabi.quantization.conv.fully_connected_params`::

        out[b, u] = clamp(MBQM(bias[u] + sum_k((in[b, k] - zp_in) * w[u, k]), m[u], e[u])
                          + zp_out, act_min, act_max)

    int16: the same with zero points 0, requantized from a 64-bit (int64 bias or none) or
    32-bit (int32 bias) accumulator; the filter and bias must be constant.
    """
    ops = conv_operands(node, graph, weights_axis=0, constant_weights=False)
    if len(ops.w.shape) != 2:
        raise GraphError(
            f"{node.describe()}: filter must be [units, depth], got {list(ops.w.shape)}"
        )
    units, depth = ops.w.shape
    if depth < 1 or ops.x.size % depth != 0:
        raise GraphError(
            f"{node.describe()}: input {list(ops.x.shape)} cannot be read as rows of the "
            f"filter depth {depth}"
        )
    batch = ops.x.size // depth
    if node.attrs.get("keep_num_dims", False):
        if ops.x.shape[-1] != depth:
            raise GraphError(
                f"{node.describe()}: with keep_num_dims the input's last dimension must be "
                f"the filter depth {depth}"
            )
        expected: tuple[int, ...] = (*ops.x.shape[:-1], units)
    else:
        expected = (batch, units)
    check_output(node, ops.y, expected)
    check_bias(node, ops.bias, units)
    if ops.signature == "int8":
        return _fully_connected_int8(node, graph, ops, batch, depth, units, expected)
    if ops.signature in ("int16", "int16_int32_bias"):
        return _fully_connected_int16(node, graph, ops, batch, depth, expected)
    if ops.signature == "float32":
        return _fully_connected_float(node, ops, batch, depth, expected)
    return _fully_connected_hybrid(node, ops, batch, depth, units, expected)


def _fully_connected_int8(
    node: Node,
    graph: Graph,
    ops: Operands,
    batch: int,
    depth: int,
    units: int,
    expected: tuple[int, ...],
) -> Eval:
    params = conv_quant.fully_connected_params(node, graph)
    input_offset = params.input_offset
    requant = Requantizer.from_params(params)
    in_shape = (batch, depth)
    w_const = ops.w.data
    bias_const = None if ops.bias is None else ops.bias.data
    if w_const is not None and (ops.bias is None or bias_const is not None):
        bounds = abs_sums(w_const, 1)
        offset = input_offset * w_const.astype(np.int64).sum(axis=1)
        if bias_const is not None:
            offset = offset + bias_const.astype(np.int64)
        plan = requant.plan(bounds * 128.0, offset)
        dtype = plan.dtype(exact_dtype(bounds, 128))
        weights_t = np.ascontiguousarray(plan.weights(w_const.T, dtype))
        finish = plan.finish
        product = matmul_for(batch, depth, units)

        def run_int8(inputs: Sequence[Array | None]) -> list[Array]:
            x = inputs[0]
            assert x is not None
            return [finish(product(x.reshape(in_shape).astype(dtype), weights_t)).reshape(expected)]

        return run_int8

    def run_int8_dynamic(inputs: Sequence[Array | None]) -> list[Array]:
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        bounds = abs_sums(w, 1)
        dtype = exact_dtype(bounds, 128)
        offset = input_offset * w.astype(np.int64).sum(axis=1)
        if bias is not None:
            offset = offset + bias.astype(np.int64)
        acc = matmul(x.reshape(in_shape).astype(dtype), w.T.astype(dtype))
        finish = requant.plan(bounds * 128.0, offset, allow_scaled=False).finish
        return [finish(acc).reshape(expected)]

    return run_int8_dynamic


def _fully_connected_int16(
    node: Node, graph: Graph, ops: Operands, batch: int, depth: int, expected: tuple[int, ...]
) -> Eval:
    w_const = ops.w.data
    bias = None if ops.bias is None else ops.bias.data
    if w_const is None or (ops.bias is not None and bias is None):
        raise GraphError(
            f"{node.describe()}: with int16 activations the filter and bias must be constant"
        )
    dtype, finish = int16_stage(
        conv_quant.fully_connected_params(node, graph), abs_sums(w_const, 1), bias
    )
    weights_t = np.ascontiguousarray(w_const.T.astype(dtype))
    in_shape = (batch, depth)

    def run_int16(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        return [finish(matmul(x.reshape(in_shape).astype(dtype), weights_t)).reshape(expected)]

    return run_int16


def _fully_connected_float(
    node: Node, ops: Operands, batch: int, depth: int, expected: tuple[int, ...]
) -> Eval:
    weights64 = None if ops.w.data is None else np.ascontiguousarray(ops.w.data.T, np.float64)
    finish = float_finish(node)
    in_shape = (batch, depth)

    def run_float(inputs: Sequence[Array | None]) -> list[Array]:
        x, w = inputs[0], inputs[1]
        assert x is not None and w is not None
        wt = weights64 if weights64 is not None else w.T.astype(np.float64)
        acc = matmul(x.reshape(in_shape).astype(np.float64), wt)
        return [finish(acc, inputs[2] if len(inputs) > 2 else None).reshape(expected)]

    return run_float


def _fully_connected_hybrid(
    node: Node, ops: Operands, batch: int, depth: int, units: int, expected: tuple[int, ...]
) -> Eval:
    w_const = ops.w.data
    assert w_const is not None
    dtype = exact_dtype(abs_sums(w_const, 1), HYBRID_MAX_INPUT)
    weights_t = np.ascontiguousarray(w_const.T.astype(dtype))
    finish = hybrid_finish(node, channel_scales(node, ops.w, units, 0))
    in_shape = (batch, depth)

    def run_hybrid(inputs: Sequence[Array | None]) -> list[Array]:
        x = inputs[0]
        assert x is not None
        d, row_scale = dynamic_quantize_rows(x.reshape(in_shape))
        acc = matmul(d.astype(dtype, copy=False), weights_t)
        bias = inputs[2] if len(inputs) > 2 else None
        return [finish(acc, row_scale[:, None], bias).reshape(expected)]

    return run_hybrid
