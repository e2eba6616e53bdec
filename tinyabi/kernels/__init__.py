"""Reference kernels: numpy implementations of every spec operator.

int8 and int16 (16x8) kernels are bit-exact with TensorFlow Lite Micro; float32 kernels are
within the spec's tolerance of LiteRT. Importing this package registers every kernel family.
"""

from tinyabi.kernels import (  # noqa: F401
    activations,
    conv2d,
    depthwise,
    elementwise,
    fully_connected,
    pooling,
    tensor,
    transpose_conv,
)
from tinyabi.kernels.registry import Eval, has_kernel, kernel_ops, prepare
from tinyabi.kernels.window import Window, conv_window

__all__ = ["Eval", "Window", "conv_window", "has_kernel", "kernel_ops", "prepare"]
