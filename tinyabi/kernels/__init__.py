"""Reference kernels: numpy implementations of every spec operator.

int8 and int16 (16x8) kernels are bit-exact with TensorFlow Lite Micro; float32 kernels are
within the spec's tolerance of LiteRT. Importing this package registers every kernel family.
"""

import numpy as np

from tinyabi.kernels import (  # noqa: F401
    activations,
    conv2d,
    depthwise,
    elementwise,
    fully_connected,
    lut16,
    pooling,
    tensor,
    transpose_conv,
)
from tinyabi.kernels.registry import Eval, has_kernel, kernel_ops, prepare
from tinyabi.kernels.window import Window, conv_window

__all__ = [
    "Eval",
    "Window",
    "conv_window",
    "has_kernel",
    "int16_softmax_tables",
    "kernel_ops",
    "prepare",
]


def int16_softmax_tables() -> tuple[np.ndarray, np.ndarray]:
    """TFLM's two int16 SOFTMAX tables of 513 Q0.15 entries, as int16 arrays: ``exp(x)`` on
    [-10, 0] and ``1 / (1 + x)`` on [0, 1] (what a kernel library such as CMSIS-NN's
    ``arm_softmax_s16`` is handed)."""
    return lut16.exp_table().astype(np.int16), lut16.reciprocal_table().astype(np.int16)
