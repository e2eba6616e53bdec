"""One home for quantization arithmetic, shared by the reference kernels and every backend.

* :mod:`~tinyabi.quantization.fixed_point`: TFLite's fixed-point primitives (quantized
  multipliers, the rounding doubling high multiply, rounding shifts, activation ranges).
* :mod:`~tinyabi.quantization.tensors`: reading a tensor's per-tensor scale and zero point or
  per-channel scales, checked.
* one module per operator family with one function per operator, ``xxx_params(node, graph)``,
  returning a frozen dataclass of everything the operator's int8 or int16 computation needs
  (LOGISTIC, TANH and SOFTMAX have a second, ``xxx_int16_params``, for their int16 algorithm):
  :mod:`~tinyabi.quantization.conv`, :mod:`~tinyabi.quantization.pooling`,
  :mod:`~tinyabi.quantization.softmax`, :mod:`~tinyabi.quantization.activations`,
  :mod:`~tinyabi.quantization.elementwise`, :mod:`~tinyabi.quantization.requantize`,
  :mod:`~tinyabi.quantization.svdf` and :mod:`~tinyabi.quantization.lstm` (the ``tflite.SVDF`` and
  ``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM`` extension operators).

Each operator's spec file names its function (the ``parameters`` field). A parameter function
raises :class:`~tinyabi.errors.GraphError` naming the node and the rule when the operator
cannot run with the node's quantization. Callers reach the functions through their module
(``conv.conv_params(node, graph)``), so that a test can observe every call.
"""

from tinyabi.quantization import (
    activations,
    conv,
    elementwise,
    fixed_point,
    lstm,
    pooling,
    requantize,
    softmax,
    svdf,
    tensors,
)

#: The parameter functions of extension operators (no spec file names them), by operator.
EXTENSION_PARAMETERS: dict[str, str] = {
    "tflite.SVDF": "tinyabi.quantization.svdf.svdf_params",
    "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM": "tinyabi.quantization.lstm.lstm_params",
}

__all__ = [
    "EXTENSION_PARAMETERS",
    "activations",
    "conv",
    "elementwise",
    "fixed_point",
    "lstm",
    "pooling",
    "requantize",
    "softmax",
    "svdf",
    "tensors",
]
