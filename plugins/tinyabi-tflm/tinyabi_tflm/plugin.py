"""The plugin module of the ``tinyabi`` entry point: registers the ``tflm`` and ``litert``
backends.

Importing it does not import either runtime; they are imported when a backend first compiles a
partition, so a missing runtime is an error of that backend only.
"""

from __future__ import annotations

from typing import Any

from tinyabi.hookspecs import hookimpl
from tinyabi_tflm.litert import LiteRTBackend
from tinyabi_tflm.tflm import TFLMBackend


@hookimpl
def tinyabi_register_backends(registry: Any) -> None:
    """Register the TensorFlow Lite Micro and LiteRT backends."""
    registry.add(TFLMBackend)
    registry.add(LiteRTBackend)
