"""Lowerings of convolutions, pooling and matrix products."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx

from tinyabi_onnx.api import Quantization, bias_scales
from tinyabi_onnx.attributes import integer, ints, number
from tinyabi_onnx.converter import Converter
from tinyabi_onnx.layout import NHWC, identity
from tinyabi_onnx.padding import Padding, pair, window_padding
from tinyabi_onnx.values import NotMapped, QuantizedConstant, Value

#: How far a bias scale may lie from input scale x weight scale and still be added as stored.
BIAS_SCALE_RTOL = 1e-4


def conv(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Conv -> CONV_2D, or DEPTHWISE_CONV_2D when every group is one input channel."""
    x, w, b = c.value(node.input[0]), c.value(node.input[1]), c.optional(node, 2)
    if x.rank != 4 or w.rank != 4 or not w.is_constant:
        raise NotMapped("only 2-D convolutions with constant weights map")
    if b is not None and (not b.is_constant or b.shape != (w.shape[0],)):
        raise NotMapped("the bias is not a constant vector")
    group = integer(attrs, "group", 1)
    strides, dilations = pair(attrs, "strides"), pair(attrs, "dilations")
    out_channels, depth, kh, kw = w.shape
    if "kernel_shape" in attrs and ints(attrs, "kernel_shape", []) != [kh, kw]:
        raise NotMapped("kernel_shape does not match the weights")
    channels = x.shape[1]
    if group < 1 or channels % group or depth * group != channels:
        raise NotMapped(f"group {group} does not fit {channels} channels")
    depthwise = group == channels and depth == 1 and group > 1
    extent = ((kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1)
    padding = window_padding(x.shape[2:], extent, strides, attrs)
    wperm = (1, 2, 3, 0) if depthwise else (0, 2, 3, 1)
    source = _padded(c, x, padding, node.input[0])
    if c.quantized:
        filt, bias = _int8_weights(c, x, w, b, wperm, channel_axis=0)
    else:
        filt = c.const(_float(w).transpose(wperm), node.input[1])
        bias = c.const(_float(b) if b is not None else np.zeros(out_channels, np.float32), "bias")
    options: dict[str, Any] = {
        "padding": padding.mode,
        "stride_h": strides[0],
        "stride_w": strides[1],
        "dilation_h": dilations[0],
        "dilation_w": dilations[1],
    }
    if depthwise:
        options["depth_multiplier"] = out_channels // channels
    op = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    c.finish(node, op, [source, filt, bias], NHWC, **options)


def _padded(c: Converter, x: Value, padding: Padding, base: str) -> str:
    """``x`` in NHWC (int8 or float as the form being tried), through a PAD node when the
    window's padding is explicit."""
    if c.quantized:
        source = c.int8(x, NHWC)
        quant: Quantization | None = c.input_quant(x)
        dtype = "int8"
    else:
        source, quant, dtype = c.held(x, NHWC), None, "float32"
    if not padding.explicit:
        return source
    paddings = c.const(np.array(padding.paddings_nhwc(), np.int32), base + "_paddings")
    return c.node("PAD", [source, paddings], dtype, quant, base=base + "_padded")


def _float(value: Value) -> np.ndarray:
    data = value.real()
    if data.dtype != np.float32:
        raise NotMapped(f"the constant is {data.dtype}, not float32")
    return data


def _int8_weights(
    c: Converter, x: Value, w: Value, b: Value | None, wperm: tuple[int, ...], channel_axis: int
) -> tuple[str, str]:
    """Filter and bias constants of an int8 operator: symmetric int8 weights quantized per
    tensor or along the output channels, and an int32 bias of scale s_in x s_w."""
    wq = c.weight(w)
    if wq.data.dtype != np.int8 or np.any(wq.zero_point != 0):
        raise NotMapped("the weights are not symmetric int8")
    if wq.scale.size > 1 and wq.axis != channel_axis:
        raise NotMapped("the weights are not quantized along the output channels")
    out_channels = wq.data.shape[channel_axis]
    filt = c.const(wq.data.transpose(wperm), "filter", wq.quantization(wperm))
    s_in = float(c.input_quant(x).scale[0])
    expected = bias_scales(s_in, wq.scale).astype(np.float32)
    expected = np.broadcast_to(expected, (out_channels,)) if expected.size == 1 else expected
    if b is None:
        data = np.zeros(out_channels, np.int32)
        scale = expected
    else:
        bq = c.weight(b)
        if bq.data.dtype != np.int32 or np.any(bq.zero_point != 0):
            raise NotMapped("the bias is not symmetric int32")
        data = bq.data.reshape(-1)
        scale = np.broadcast_to(bq.scale, (out_channels,)).astype(np.float32)
        if not np.allclose(scale, expected, rtol=BIAS_SCALE_RTOL, atol=0):
            raise NotMapped("the bias scale is not input scale x weight scale")
    quant = Quantization(scale, np.zeros(scale.size, np.int64), 0)
    return filt, c.const(data, "bias", quant)


def pool(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any], op: str) -> None:
    """MaxPool / AveragePool -> MAX_POOL_2D / AVERAGE_POOL_2D."""
    x = c.value(node.input[0])
    if x.rank != 4 or (len(node.output) > 1 and node.output[1]):
        raise NotMapped("only 2-D pooling without indices maps")
    kernel = ints(attrs, "kernel_shape", [])
    if len(kernel) != 2 or any(k < 1 for k in kernel):
        raise NotMapped(f"kernel_shape {kernel} is not two positive numbers")
    strides = pair(attrs, "strides")
    if pair(attrs, "dilations") != (1, 1):
        raise NotMapped("dilated pooling does not map")
    padding = window_padding(x.shape[2:], kernel, strides, attrs)
    if integer(attrs, "ceil_mode", 0) and _ceil_changes(x.shape[2:], kernel, strides, padding):
        raise NotMapped("ceil_mode changes the output shape")
    include_pad = op == "AVERAGE_POOL_2D" and integer(attrs, "count_include_pad", 0) == 1
    if include_pad and padding.any:
        padding = Padding("VALID", padding.pads, True)
    elif padding.explicit:
        raise NotMapped("the padding is neither SAME nor VALID")
    source = _padded(c, x, padding, node.input[0])
    dtype, quant = _max_type(c, x, op)
    c.finish(
        node,
        op,
        [source],
        NHWC,
        dtype=dtype,
        quant=quant,
        padding=padding.mode,
        stride_h=strides[0],
        stride_w=strides[1],
        filter_h=kernel[0],
        filter_w=kernel[1],
    )


def _max_type(c: Converter, x: Value, op: str) -> tuple[str, Quantization | None]:
    """A max pool of an int8 tensor (a QOperator model's MaxPool) stays int8 with the input's
    quantization; everything else here is float32."""
    if op == "MAX_POOL_2D" and not c.quantized and x.source is None and x.quant is not None:
        return x.dtype, x.quant
    return "float32", None


def _ceil_changes(size: Any, kernel: Any, strides: Any, padding: Padding) -> bool:
    top, left, bottom, right = padding.pads
    for h, k, s, begin, end in zip(size, kernel, strides, (top, left), (bottom, right)):
        floor_out = (h + begin + end - k) // s + 1
        ceil_out = math.ceil((h + begin + end - k) / s) + 1
        if (ceil_out - 1) * s >= h + begin:
            ceil_out -= 1
        if ceil_out != floor_out:
            return True
    return False


def global_pool(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any], op: str) -> None:
    """GlobalAveragePool -> MEAN over H and W; GlobalMaxPool -> MAX_POOL_2D over the image."""
    x = c.value(node.input[0])
    if x.rank != 4:
        raise NotMapped("only 4-D global pooling maps")
    source = c.int8(x, NHWC) if c.quantized else c.held(x, NHWC)
    if op == "MEAN":
        axes = c.const(np.array([1, 2], np.int32), "hw_axes")
        c.finish(node, "MEAN", [source, axes], NHWC, keep_dims=True)
        return
    dtype, quant = _max_type(c, x, "MAX_POOL_2D")
    c.finish(
        node,
        "MAX_POOL_2D",
        [source],
        NHWC,
        dtype=dtype,
        quant=quant,
        padding="VALID",
        filter_h=x.shape[2],
        filter_w=x.shape[3],
    )


def gemm(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Gemm with constant B -> FULLY_CONNECTED."""
    a, b, bias = c.value(node.input[0]), c.value(node.input[1]), c.optional(node, 2)
    if integer(attrs, "transA", 0) or a.rank != 2 or b.rank != 2 or not b.is_constant:
        raise NotMapped("only A x constant B maps")
    trans_b = integer(attrs, "transB", 0)
    alpha, beta = number(attrs, "alpha", 1.0), number(attrs, "beta", 1.0)
    units = b.shape[0] if trans_b else b.shape[1]
    if bias is not None and (not bias.is_constant or bias.shape not in ((units,), (1, units))):
        raise NotMapped("C is not a constant vector of the output units")
    _fully_connected(c, node, a, b, bias, bool(trans_b), alpha, beta, keep_num_dims=False)


def matmul(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """MatMul with a constant 2-D right operand -> FULLY_CONNECTED."""
    a, b = c.value(node.input[0]), c.value(node.input[1])
    if a.rank < 2 or b.rank != 2 or not b.is_constant or a.is_constant:
        raise NotMapped("only activation x constant matrix maps")
    _fully_connected(c, node, a, b, None, False, 1.0, 1.0, keep_num_dims=a.rank > 2)


def _fully_connected(
    c: Converter,
    node: onnx.NodeProto,
    a: Value,
    b: Value,
    bias: Value | None,
    trans_b: bool,
    alpha: float,
    beta: float,
    keep_num_dims: bool,
) -> None:
    order = identity(a.rank)
    if c.quantized:
        if alpha != 1.0 or beta != 1.0:
            raise NotMapped("int8 Gemm needs alpha = beta = 1")
        wperm = (0, 1) if trans_b else (1, 0)
        channel_axis = 0 if trans_b else 1
        flat = None if bias is None else _flat_weight(c.weight(bias))
        filt, bias_name = _int8_weights(c, a, b, flat, wperm, channel_axis)
        source = c.int8(a, order)
    else:
        matrix = _float(b)
        matrix = (matrix if trans_b else matrix.T) * np.float32(alpha)
        vector = (
            np.zeros(matrix.shape[0], np.float32)
            if bias is None
            else _float(bias).reshape(-1) * np.float32(beta)
        )
        filt = c.const(matrix.astype(np.float32), "filter")
        bias_name = c.const(vector.astype(np.float32), "bias")
        source = c.held(a, order)
    c.finish(node, "FULLY_CONNECTED", [source, filt, bias_name], order, keep_num_dims=keep_num_dims)


def _flat_weight(q: QuantizedConstant) -> Value:
    flat = QuantizedConstant(q.data.reshape(-1), q.scale, q.zero_point, 0)
    return Value("float32", flat.data.shape, qconst=flat)


def batch_norm(c: Converter, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """BatchNormalization (inference) not folded into a convolution -> MUL and ADD."""
    if len([o for o in node.output if o]) != 1 or integer(attrs, "training_mode", 0):
        raise NotMapped("only inference BatchNormalization maps")
    x = c.value(node.input[0])
    params = [c.value(n) for n in node.input[1:5]]
    if c.quantized or x.rank < 2 or not all(p.is_constant for p in params):
        raise NotMapped("BatchNormalization needs constant parameters (float)")
    scale, shift = bn_scale_shift(params, number(attrs, "epsilon", 1e-5))
    shape = [1] * x.rank
    shape[1] = x.shape[1]
    perm = x.perm
    source = c.held(x, perm)
    scaled = c.node(
        "MUL", [source, c.const(scale.reshape(shape).transpose(perm), "bn_scale")], "float32"
    )
    c.finish(node, "ADD", [scaled, c.const(shift.reshape(shape).transpose(perm), "bn_shift")], perm)


def bn_scale_shift(params: list[Value], epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale and shift of an inference BatchNormalization."""
    gamma, beta, mean, var = (p.real().astype(np.float64).reshape(-1) for p in params)
    if not gamma.size == beta.size == mean.size == var.size:
        raise NotMapped("BatchNormalization parameters differ in length")
    with np.errstate(all="ignore"):
        scale = gamma / np.sqrt(var + epsilon)
        shift = beta - mean * scale
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(shift))):
        raise NotMapped("BatchNormalization parameters give non-finite values")
    return scale.astype(np.float32), shift.astype(np.float32)
