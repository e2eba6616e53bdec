"""Tensors as a person meets them on the command line: values with their real meaning, the class
a classifier picked, arrays read from ``.npy`` files, and float inputs quantized for an integer
model (with a note saying so)."""

from __future__ import annotations

import numpy as np

from tinyabi.ir.graph import Graph
from tinyabi.kernels.tensor import dequantize

__all__ = [
    "CLASSIFIER_MAX_CLASSES",
    "describe_output",
    "is_classifier_output",
    "short_name",
]

#: The most classes a ``[1, N]`` logits output may have and still be read as a classifier's.
CLASSIFIER_MAX_CLASSES = 1000
#: Values shown per output unless the user asks for all of them.
SHOWN = 8


def short_name(name: str, width: int = 40) -> str:
    """A tensor name cut to ``width`` characters (converters produce very long ones)."""
    return name if len(name) <= width else name[: width // 2 - 1] + "…" + name[-(width // 2) :]


def is_classifier_output(graph: Graph, name: str) -> bool:
    """Whether output ``name`` looks like class scores, so that its argmax means something.

    Yes when a SOFTMAX produces it, or when it is ``[1, N]`` logits (2 <= N <= 1000) from a
    FULLY_CONNECTED layer and N is smaller than the model's first input (an autoencoder's or a
    regressor's output is as large as its input, or larger).
    """
    producer = next((n for n in graph.nodes if name in n.outputs), None)
    if producer is None:
        return False
    if producer.op in ("SOFTMAX", "tflite.LOG_SOFTMAX"):
        return True
    shape = graph.tensor(name).shape
    if producer.op != "FULLY_CONNECTED" or len(shape) != 2 or shape[0] != 1:
        return False
    first_input = graph.tensor(graph.inputs[0]).size if graph.inputs else 0
    return 2 <= shape[1] <= CLASSIFIER_MAX_CLASSES and shape[1] < first_input


def _values(flat: np.ndarray, full: bool, precision: int | None = None) -> str:
    shown = flat if full else flat[:SHOWN]
    text = np.array2string(
        shown,
        separator=", ",
        max_line_width=10_000 if not full else 100,
        precision=precision,
        threshold=flat.size + 1,
    )
    return text[:-1] + (", …]" if shown.size < flat.size else "]")


def describe_output(graph: Graph, name: str, value: np.ndarray, full: bool = False) -> str:
    """``dtype[shape] values`` of an output, followed by its dequantized values when it is
    quantized and by ``argmax=K`` when it is a classifier's; the first 8 values unless
    ``full``."""
    flat = value.reshape(-1)
    text = f"{value.dtype}{list(value.shape)} {_values(flat, full)}"
    quant = graph.tensor(name).quant
    if quant is not None and not quant.per_axis and np.issubdtype(value.dtype, np.integer):
        real = dequantize(flat, float(quant.scale[0]), int(quant.zero_point[0]))
        text += f"\n  dequantized: {_values(real, full, precision=4)}"
    if is_classifier_output(graph, name) and flat.size:
        text += f"\n  argmax={int(flat.argmax())}"
    return text
