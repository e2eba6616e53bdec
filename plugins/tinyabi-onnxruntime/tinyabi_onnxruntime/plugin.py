"""The plugin module of the ``tinyabi`` entry point: registers the ``onnxruntime`` backend.

Importing it does not import onnxruntime; that happens when the backend first compiles a
partition, so a missing runtime is an error of this backend only.
"""

from __future__ import annotations

from typing import Any

from tinyabi.hookspecs import hookimpl
from tinyabi_onnxruntime.backend import OnnxRuntimeBackend


@hookimpl
def tinyabi_register_backends(registry: Any) -> None:
    """Register the onnxruntime backend."""
    registry.add(OnnxRuntimeBackend)
