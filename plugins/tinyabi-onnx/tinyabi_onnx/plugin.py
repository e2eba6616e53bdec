"""The plugin module of the ``tinyabi`` entry point: ``.onnx`` files for :func:`tinyabi.load`."""

from __future__ import annotations

from typing import Any

from tinyabi_onnx.api import hookimpl
from tinyabi_onnx.load import load_onnx, looks_like_onnx


@hookimpl
def tinyabi_load_model(data: bytes, suffix: str) -> Any:
    """Import ``.onnx`` files, and bytes without a name that are an ONNX model."""
    if suffix.lower() == ".onnx" or (suffix == "" and looks_like_onnx(data)):
        return load_onnx(data)
    return None
