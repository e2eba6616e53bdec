"""tinyabi: one operator set and tensor ABI across TinyML runtimes."""

from __future__ import annotations

from tinyabi.ir.graph import Graph
from tinyabi.session import ModelLike, Session, as_graph

__version__ = "0.1.0"


def load(model: ModelLike) -> Graph:
    """Import a model (a ``.tflite`` path or its bytes; plugins may add formats) into the IR."""
    return as_graph(model)


__all__ = ["Graph", "Session", "__version__", "load"]
