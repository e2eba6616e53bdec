"""Shape rules of the pooling operator family: AVERAGE_POOL_2D, MAX_POOL_2D and MEAN.

Pooling windows follow TFLite's geometry (``ComputeOutSize`` / ``ComputePaddingHeightWidth``):
SAME gives ``ceil(I / stride)`` outputs and pads ``max((O - 1) * stride + F - I, 0)`` in total,
the smaller half before; VALID gives ``floor((I - F) / stride) + 1`` outputs and pads nothing.

MEAN reduces the axes listed by its constant int32 ``axis`` operand (negative values count from
the end, repeats count once) and keeps them as size-1 dimensions when ``keep_dims`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes.registry import Shape, shape_rule

__all__ = [
    "MEAN_MAX_RANK",
    "PoolGeometry",
    "mean_axes",
    "mean_shape",
    "pool2d_shape",
    "pool_geometry",
    "pool_output_size",
    "pool_padding_before",
]

#: Highest input rank MEAN accepts: TFLite Micro walks the input with a five-entry index.
MEAN_MAX_RANK = 5


@dataclass(frozen=True)
class PoolGeometry:
    """Where the windows of a 2-D pooling lie: output size, strides, filter and padding.

    ``pad_top``/``pad_left`` are the padding rows/columns before the input; the window of
    output ``(y, x)`` covers input rows ``y * stride_h - pad_top + [0, filter_h)`` (likewise
    columns), clipped to the input.
    """

    in_h: int
    in_w: int
    out_h: int
    out_w: int
    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int

    @property
    def span_h(self) -> int:
        """Rows from the first window's top to the last window's bottom (padding included)."""
        return (self.out_h - 1) * self.stride_h + self.filter_h

    @property
    def span_w(self) -> int:
        """Columns from the first window's left to the last window's right (padding included)."""
        return (self.out_w - 1) * self.stride_w + self.filter_w


def pool_output_size(size: int, window: int, stride: int, padding: str) -> int:
    """Number of window positions along one axis, as TFLite computes it (may be < 1 for VALID
    when the window does not fit)."""
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        return (size - window + stride) // stride
    raise ValueError(f"unknown padding {padding!r}")


def pool_padding_before(size: int, window: int, stride: int, out_size: int) -> int:
    """Padding before the input along one axis: half the total, rounded down (0 for VALID)."""
    total = max((out_size - 1) * stride + window - size, 0)
    return total // 2


def _int_attr(node: Node, name: str, default: int | None) -> int:
    value = node.attrs.get(name, default)
    if value is None:
        raise GraphError(f"{node.describe()}: missing required attribute {name!r}")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GraphError(f"{node.describe()}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


def _single_io(node: Node, graph: Graph, inputs: int) -> Tensor:
    if len(node.inputs) != inputs or any(name is None for name in node.inputs):
        raise GraphError(f"{node.describe()}: takes {inputs} input(s), got {node.inputs}")
    if len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: has one output, got {len(node.outputs)}")
    x = graph.node_inputs(node)[0]
    assert x is not None
    return x


def pool_geometry(node: Node, graph: Graph) -> PoolGeometry:
    """The window geometry of an AVERAGE_POOL_2D or MAX_POOL_2D node.

    Raises :class:`GraphError` naming the node when the input is not 4-D, an attribute is
    missing or out of range, or the window does not fit the input (VALID).
    """
    x = _single_io(node, graph, 1)
    if len(x.shape) != 4:
        raise GraphError(
            f"{node.describe()}: input must be 4-D [N, H, W, C], got shape {list(x.shape)}"
        )
    padding = node.attrs.get("padding")
    if padding not in ("SAME", "VALID"):
        raise GraphError(f"{node.describe()}: padding must be SAME or VALID, got {padding!r}")
    fh = _int_attr(node, "filter_h", None)
    fw = _int_attr(node, "filter_w", None)
    sh = _int_attr(node, "stride_h", 1)
    sw = _int_attr(node, "stride_w", 1)
    _, h, w, _ = x.shape
    oh = pool_output_size(h, fh, sh, padding)
    ow = pool_output_size(w, fw, sw, padding)
    if oh < 1 or ow < 1:
        raise GraphError(
            f"{node.describe()}: the {fh}x{fw} window does not fit the {h}x{w} input with "
            f"{padding} padding"
        )
    return PoolGeometry(
        in_h=h,
        in_w=w,
        out_h=oh,
        out_w=ow,
        filter_h=fh,
        filter_w=fw,
        stride_h=sh,
        stride_w=sw,
        pad_top=pool_padding_before(h, fh, sh, oh),
        pad_left=pool_padding_before(w, fw, sw, ow),
    )


@shape_rule("AVERAGE_POOL_2D", "MAX_POOL_2D")
def pool2d_shape(node: Node, graph: Graph) -> list[Shape]:
    """Input [N, H, W, C] -> [N, OH, OW, C]."""
    geometry = pool_geometry(node, graph)
    n, _, _, c = graph.node_inputs(node)[0].shape  # type: ignore[union-attr]
    return [(n, geometry.out_h, geometry.out_w, c)]


def mean_axes(node: Node, graph: Graph) -> tuple[int, ...]:
    """The axes a MEAN node reduces: non-negative, without repeats, in ascending order.

    Raises :class:`GraphError` naming the node when the axis operand is not a constant int32
    tensor of rank <= 1, an axis is out of range, or the input rank exceeds
    :data:`MEAN_MAX_RANK`.
    """
    x = _single_io(node, graph, 2)
    axis = graph.node_inputs(node)[1]
    assert axis is not None
    if axis.data is None:
        raise GraphError(f"{node.describe()}: the axis operand must be a constant tensor")
    if axis.dtype != "int32" or len(axis.shape) > 1:
        raise GraphError(
            f"{node.describe()}: the axis operand must be an int32 scalar or 1-D tensor, got "
            f"{axis.dtype} of shape {list(axis.shape)}"
        )
    rank = len(x.shape)
    if rank > MEAN_MAX_RANK:
        raise GraphError(
            f"{node.describe()}: input rank {rank} exceeds the maximum {MEAN_MAX_RANK}"
        )
    resolved: set[int] = set()
    for value in np.asarray(axis.data).reshape(-1).tolist():
        if not -rank <= value < rank:
            raise GraphError(
                f"{node.describe()}: axis {value} is out of range for a rank-{rank} input"
            )
        resolved.add(value + rank if value < 0 else value)
    return tuple(sorted(resolved))


@shape_rule("MEAN")
def mean_shape(node: Node, graph: Graph) -> list[Shape]:
    """Reduced axes become 1 (``keep_dims``) or disappear; the others are kept."""
    axes = mean_axes(node, graph)
    shape = graph.node_inputs(node)[0].shape  # type: ignore[union-attr]
    if node.attrs.get("keep_dims", False):
        return [tuple(1 if i in axes else d for i, d in enumerate(shape))]
    return [tuple(d for i, d in enumerate(shape) if i not in axes)]
