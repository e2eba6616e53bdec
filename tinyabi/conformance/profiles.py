"""Conformance profiles: named sets of operator signatures a backend can be certified for.

A backend conforms to a profile only when every case of every signature in it passes: a case
not claimed, or not run in this run, counts against it.
"""

from __future__ import annotations

__all__ = ["INT8_CORE_OPS", "PROFILES"]

#: Operators of the int8 core profile (the MLPerf Tiny models' operators and their neighbours).
INT8_CORE_OPS = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "FULLY_CONNECTED", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "QUANTIZE", "RELU",
    "RELU6", "RESHAPE", "SOFTMAX", "SQUEEZE", "SUB", "TANH",
)  # fmt: skip

_PLAIN_OPS = tuple(op for op in INT8_CORE_OPS if op not in ("DEQUANTIZE", "QUANTIZE"))

#: Profile name -> the (operator, signature) pairs in it.
PROFILES: dict[str, tuple[tuple[str, str], ...]] = {
    "INT8-CORE": (
        *((op, "int8") for op in _PLAIN_OPS),
        ("DEQUANTIZE", "int8"),
        ("QUANTIZE", "float32_to_int8"),
    ),
    "FLOAT32-CORE": tuple((op, "float32") for op in _PLAIN_OPS),
}
