"""Shape rules of the conv operator family: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
TRANSPOSE_CONV.

Spatial output sizes follow TFLite's rule (``ComputeOutSize``): with the effective kernel extent
``EK = (K - 1) * dilation + 1``, SAME gives ``ceil(I / stride)`` and VALID gives
``ceil((I - EK + 1) / stride)``; a non-positive result is an error.
"""

from __future__ import annotations

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes.registry import Shape, shape_rule

__all__ = [
    "conv2d_shape",
    "conv_output_size",
    "depthwise_conv2d_shape",
    "effective_extent",
    "fully_connected_shape",
    "same_padding",
]


def effective_extent(kernel: int, dilation: int) -> int:
    """The extent covered by a kernel of ``kernel`` taps spaced ``dilation`` apart."""
    return (kernel - 1) * dilation + 1


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """One spatial output size of a windowed operator, as TFLite computes it.

    May be zero or negative when the window does not fit (VALID); callers reject that.
    """
    extent = effective_extent(kernel, dilation)
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        return (size - extent + stride) // stride
    raise ValueError(f"unknown padding {padding!r}")


def same_padding(
    size: int, kernel: int, stride: int, dilation: int, out_size: int
) -> tuple[int, int]:
    """``(before, after)`` padding of one spatial axis, TFLite's way.

    The total is ``max((out - 1) * stride + EK - size, 0)``; ``before`` is half of it rounded
    down and the odd element goes ``after``. For VALID outputs the total is always 0.
    """
    total = max((out_size - 1) * stride + effective_extent(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def _positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= 1)


def _window_attrs(node: Node) -> tuple[str, int, int, int, int]:
    attrs = node.attrs
    padding = attrs.get("padding")
    if padding not in ("SAME", "VALID"):
        raise GraphError(f"{node.describe()}: padding must be SAME or VALID, got {padding!r}")
    values = []
    for name in ("stride_h", "stride_w", "dilation_h", "dilation_w"):
        value = attrs.get(name, 1)
        if not _positive_int(value):
            raise GraphError(f"{node.describe()}: {name} must be an integer >= 1, got {value!r}")
        values.append(int(value))
    return padding, values[0], values[1], values[2], values[3]


def _operands(node: Node, graph: Graph, count: tuple[int, int]) -> list[Tensor | None]:
    lo, hi = count
    if not lo <= len(node.inputs) <= hi:
        raise GraphError(f"{node.describe()}: takes {lo} to {hi} inputs, got {len(node.inputs)}")
    if len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: has one output, got {len(node.outputs)}")
    tensors = graph.node_inputs(node)
    for i in range(lo):
        if tensors[i] is None:
            raise GraphError(f"{node.describe()}: input {i} is required")
    return tensors + [None] * (hi - len(tensors))


def _check_bias(node: Node, bias: Tensor | None, channels: int) -> None:
    if bias is not None and bias.shape != (channels,):
        raise GraphError(
            f"{node.describe()}: bias shape {list(bias.shape)} must be [{channels}] "
            "(one value per output channel)"
        )


def _spatial(node: Node, height: int, width: int, kh: int, kw: int) -> tuple[int, int]:
    padding, sh, sw, dh, dw = _window_attrs(node)
    oh = conv_output_size(height, kh, sh, dh, padding)
    ow = conv_output_size(width, kw, sw, dw, padding)
    if oh < 1 or ow < 1:
        raise GraphError(
            f"{node.describe()}: the {effective_extent(kh, dh)}x{effective_extent(kw, dw)} "
            f"(dilated) kernel does not fit the {height}x{width} input with {padding} padding"
        )
    return oh, ow


@shape_rule("CONV_2D")
def conv2d_shape(node: Node, graph: Graph) -> list[Shape]:
    """CONV_2D: input [N, H, W, C], filter [O, KH, KW, C / groups] -> [N, OH, OW, O]."""
    x, w, bias = _operands(node, graph, (2, 3))
    assert x is not None and w is not None
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise GraphError(
            f"{node.describe()}: input and filter must have rank 4 (NHWC, OHWI), got "
            f"{list(x.shape)} and {list(w.shape)}"
        )
    n, h, wd, c = x.shape
    o, kh, kw, ci = w.shape
    if min(o, kh, kw, ci) < 1:
        raise GraphError(f"{node.describe()}: filter shape {list(w.shape)} has an empty dimension")
    if c % ci != 0:
        raise GraphError(
            f"{node.describe()}: filter input depth {ci} does not divide input depth {c}"
        )
    groups = c // ci
    if o % groups != 0:
        raise GraphError(
            f"{node.describe()}: {o} output channels cannot be split into {groups} groups"
        )
    _check_bias(node, bias, o)
    oh, ow = _spatial(node, h, wd, kh, kw)
    return [(n, oh, ow, o)]


@shape_rule("DEPTHWISE_CONV_2D")
def depthwise_conv2d_shape(node: Node, graph: Graph) -> list[Shape]:
    """DEPTHWISE_CONV_2D: input [N, H, W, C], filter [1, KH, KW, C * M] -> [N, OH, OW, C * M]."""
    x, w, bias = _operands(node, graph, (2, 3))
    assert x is not None and w is not None
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise GraphError(
            f"{node.describe()}: input and filter must have rank 4 (NHWC, 1HWO), got "
            f"{list(x.shape)} and {list(w.shape)}"
        )
    n, h, wd, c = x.shape
    one, kh, kw, o = w.shape
    if one != 1 or min(kh, kw, o) < 1:
        raise GraphError(
            f"{node.describe()}: filter shape {list(w.shape)} must be [1, KH, KW, C * M]"
        )
    multiplier = node.attrs.get("depth_multiplier", 1)
    if not _positive_int(multiplier):
        raise GraphError(
            f"{node.describe()}: depth_multiplier must be an integer >= 1, got {multiplier!r}"
        )
    if o != c * multiplier:
        raise GraphError(
            f"{node.describe()}: filter has {o} output channels, but input depth {c} x "
            f"depth_multiplier {multiplier} = {c * multiplier}"
        )
    _check_bias(node, bias, o)
    oh, ow = _spatial(node, h, wd, kh, kw)
    return [(n, oh, ow, o)]


@shape_rule("FULLY_CONNECTED")
def fully_connected_shape(node: Node, graph: Graph) -> list[Shape]:
    """FULLY_CONNECTED: input [..., K] (any rank, flattened to [-1, K]), filter [U, K].

    Output [B, U] with ``B = size(input) / K``; with ``keep_num_dims`` the input's leading
    dimensions are kept: ``input.shape[:-1] + [U]``.
    """
    x, w, bias = _operands(node, graph, (2, 3))
    assert x is not None and w is not None
    if len(w.shape) != 2:
        raise GraphError(
            f"{node.describe()}: filter must have rank 2 [units, depth], got {list(w.shape)}"
        )
    units, depth = w.shape
    if depth < 1:
        raise GraphError(f"{node.describe()}: filter depth must be >= 1, got {depth}")
    if len(x.shape) < 1:
        raise GraphError(f"{node.describe()}: input must have rank >= 1")
    _check_bias(node, bias, units)
    if node.attrs.get("keep_num_dims", False):
        if x.shape[-1] != depth:
            raise GraphError(
                f"{node.describe()}: with keep_num_dims the input's last dimension "
                f"{x.shape[-1]} must equal the filter depth {depth}"
            )
        return [(*x.shape[:-1], units)]
    if x.size % depth != 0:
        raise GraphError(
            f"{node.describe()}: input of {x.size} elements {list(x.shape)} cannot be "
            f"flattened into rows of the filter depth {depth}"
        )
    return [(x.size // depth, units)]


def _output_shape_operand(node: Node, graph: Graph, t: Tensor) -> tuple[int, ...]:
    if t.data is None or t.shape != (4,) or t.dtype != "int32":
        raise GraphError(
            f"{node.describe()}: output_shape must be a constant int32 tensor of 4 values, got "
            f"{t.dtype}{list(t.shape)}{'' if t.data is not None else ' (not constant)'}"
        )
    return tuple(int(v) for v in t.data.reshape(-1))


@shape_rule("TRANSPOSE_CONV")
def transpose_conv_shape(node: Node, graph: Graph) -> list[Shape]:
    """TRANSPOSE_CONV: output_shape [N, OH, OW, O], filter [O, KH, KW, C], input [N, H, W, C]
    -> output_shape, where a convolution with the node's padding and strides maps
    ``[OH, OW]`` back onto ``[H, W]``."""
    shape_t, w, x, bias = _operands(node, graph, (3, 4))
    assert shape_t is not None and w is not None and x is not None
    out = _output_shape_operand(node, graph, shape_t)
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise GraphError(
            f"{node.describe()}: input and filter must have rank 4 (NHWC, OHWI), got "
            f"{list(x.shape)} and {list(w.shape)}"
        )
    n, h, wd, c = x.shape
    o, kh, kw, ci = w.shape
    if min(out) < 1 or min(o, kh, kw, ci) < 1:
        raise GraphError(
            f"{node.describe()}: output_shape {list(out)} and filter {list(w.shape)} must have "
            "no empty dimension"
        )
    if out[0] != n or out[3] != o or ci != c:
        raise GraphError(
            f"{node.describe()}: output_shape {list(out)}, filter {list(w.shape)} and input "
            f"{list(x.shape)} disagree on the batch or channel counts"
        )
    _check_bias(node, bias, o)
    padding, sh, sw, _, _ = _window_attrs(node)
    back = (
        conv_output_size(out[1], kh, sh, 1, padding),
        conv_output_size(out[2], kw, sw, 1, padding),
    )
    if back != (h, wd):
        raise GraphError(
            f"{node.describe()}: a {padding} convolution with strides ({sh}, {sw}) maps the "
            f"output {out[1]}x{out[2]} to {back[0]}x{back[1]}, not the input's {h}x{wd}"
        )
    return [out]
