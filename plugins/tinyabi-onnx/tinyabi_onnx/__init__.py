"""tinyabi-onnx: ONNX models imported into tinyabi's graph IR.

:func:`load_onnx` takes a path, the file's bytes or an ``onnx.ModelProto``; the plugin module
(:mod:`tinyabi_onnx.plugin`) lets :func:`tinyabi.load` and the CLI read ``.onnx`` files.
Rank-4 graph inputs and outputs are NHWC (ONNX's NCHW transposed).
"""

from __future__ import annotations

from tinyabi_onnx.load import load_onnx, looks_like_onnx

__all__ = ["load_onnx", "looks_like_onnx"]
