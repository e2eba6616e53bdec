"""tinyabi: one operator set and tensor ABI across TinyML runtimes."""

from __future__ import annotations

from tinyabi.hookspecs import hookimpl
from tinyabi.ir.graph import Graph
from tinyabi.session import ModelLike, Session, as_graph

__version__ = "0.1.0"

#: The modules a plugin may import: their ``__all__`` is the plugin API, kept stable within a
#: spec minor version. Anything else in tinyabi is internal and may change at any release.
PLUGIN_API_MODULES: tuple[str, ...] = (
    "tinyabi",
    "tinyabi.backends",
    "tinyabi.backends.checks",
    "tinyabi.cache",
    "tinyabi.conformance",
    "tinyabi.dispatch",
    "tinyabi.errors",
    "tinyabi.hookspecs",
    "tinyabi.ir",
    "tinyabi.kernels",
    "tinyabi.progress",
    "tinyabi.quantization",
    "tinyabi.quantization.activations",
    "tinyabi.quantization.conv",
    "tinyabi.quantization.elementwise",
    "tinyabi.quantization.fixed_point",
    "tinyabi.quantization.pooling",
    "tinyabi.quantization.requantize",
    "tinyabi.quantization.softmax",
    "tinyabi.quantization.tensors",
    "tinyabi.spec",
    "tinyabi.tflite",
    "tinyabi.tflite.schema",
)


def load(model: ModelLike) -> Graph:
    """Import a model (a ``.tflite`` path or its bytes; plugins may add formats) into the IR."""
    return as_graph(model)


__all__ = ["PLUGIN_API_MODULES", "Graph", "Session", "__version__", "hookimpl", "load"]
