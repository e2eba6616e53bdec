"""The geometry of a 2-D windowed operator (convolution) on an NHWC input: output size,
the padding TFLite computes for SAME and VALID, and strided views of the windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Node, Tensor
from tinyabi.ir.shapes.conv import conv_output_size, same_padding
from tinyabi.kernels.gemm import Array, FloatType

__all__ = ["Window", "conv_window"]


@dataclass(frozen=True)
class Window:
    """Geometry of a 2-D windowed operator on an NHWC input."""

    n: int
    h: int
    w: int
    c: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    oh: int
    ow: int
    top: int
    bottom: int
    left: int
    right: int

    @property
    def padded(self) -> bool:
        return bool(self.top or self.bottom or self.left or self.right)

    @property
    def pointwise(self) -> bool:
        """A 1x1 kernel with stride 1 (hence no padding): the input is the im2col matrix."""
        return self.kh == 1 and self.kw == 1 and self.sh == 1 and self.sw == 1

    @property
    def padded_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.h + self.top + self.bottom, self.w + self.left + self.right, self.c)

    def pad(self, x: Array, dtype: FloatType, fill: float) -> Array:
        """``x`` in ``dtype``, surrounded by the padding (``fill``)."""
        if not self.padded:
            return x.astype(dtype)
        out = np.full(self.padded_shape, fill, dtype=dtype)
        out[:, self.top : self.top + self.h, self.left : self.left + self.w, :] = x
        return out

    def windows(self, xp: Array) -> Array:
        """A read-only view ``[N, OH, OW, KH, KW, C]`` of the padded input's windows."""
        s_n, s_h, s_w, s_c = xp.strides
        return as_strided(
            xp,
            shape=(self.n, self.oh, self.ow, self.kh, self.kw, self.c),
            strides=(s_n, s_h * self.sh, s_w * self.sw, s_h * self.dh, s_w * self.dw, s_c),
            writeable=False,
        )


def conv_window(node: Node, x: Tensor, kh: int, kw: int) -> Window:
    """The geometry of ``node`` (padding, strides, dilations) for a ``kh x kw`` kernel over
    ``x``; :class:`GraphError` when the attributes or the input do not fit."""
    attrs = node.attrs
    padding = attrs.get("padding")
    sh, sw = int(attrs.get("stride_h", 1)), int(attrs.get("stride_w", 1))
    dh, dw = int(attrs.get("dilation_h", 1)), int(attrs.get("dilation_w", 1))
    if padding not in ("SAME", "VALID") or min(sh, sw, dh, dw) < 1:
        raise GraphError(
            f"{node.describe()}: needs padding SAME/VALID and strides, dilations >= 1, got "
            f"padding={padding!r} stride=({sh}, {sw}) dilation=({dh}, {dw})"
        )
    if len(x.shape) != 4:
        raise GraphError(f"{node.describe()}: input must be NHWC (rank 4), got {list(x.shape)}")
    n, h, w, c = x.shape
    oh = conv_output_size(h, kh, sh, dh, padding)
    ow = conv_output_size(w, kw, sw, dw, padding)
    if oh < 1 or ow < 1:
        raise GraphError(f"{node.describe()}: the kernel does not fit the {h}x{w} input")
    top, bottom = same_padding(h, kh, sh, dh, oh)
    left, right = same_padding(w, kw, sw, dw, ow)
    return Window(n, h, w, c, kh, kw, sh, sw, dh, dw, oh, ow, top, bottom, left, right)
