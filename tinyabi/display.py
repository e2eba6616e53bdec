"""Tensors as a person meets them on the command line: values with their real meaning, the class
a classifier picked, arrays read from ``.npy`` files, and float inputs quantized for an integer
model (with a note saying so)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyabi.errors import InputError
from tinyabi.ir.graph import Graph, numpy_dtype
from tinyabi.kernels.tensor import affine_quantize, dequantize

__all__ = [
    "CLASSIFIER_MAX_CLASSES",
    "describe_output",
    "is_classifier_output",
    "load_array",
    "prepare_input",
    "short_name",
]

#: The most classes a ``[1, N]`` logits output may have and still be read as a classifier's.
CLASSIFIER_MAX_CLASSES = 1000
#: Values shown per output unless the user asks for all of them.
SHOWN = 8


def load_array(path: str | Path, what: str) -> np.ndarray:
    """The array of a ``.npy`` file; an :class:`InputError` in plain words when it cannot be
    read (missing, a folder, not ``.npy``, or pickled Python objects, which are never loaded)."""
    try:
        return np.load(path, allow_pickle=False)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise InputError(f"cannot read {what} {path}: {reason}") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(
                f"{what} {path} holds Python objects (pickled data), which tinyabi never loads: "
                "save a numeric array"
            ) from None
        raise InputError(f"{what} {path} is not a .npy array: {exc}") from None


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


def prepare_input(graph: Graph, name: str, value: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An input array as the model takes it, and a note when it was converted.

    A float array for a per-tensor quantized integer input is quantized with the input's scale
    and zero point (as TFLite Micro's QUANTIZE does); anything else must already have the input's
    dtype and shape.
    """
    tensor = graph.tensor(name)
    want = numpy_dtype(tensor.dtype)
    quant = tensor.quant
    if (
        np.issubdtype(value.dtype, np.floating)
        and np.issubdtype(want, np.integer)
        and quant is not None
        and not quant.per_axis
    ):
        scale, zero_point = float(quant.scale[0]), int(quant.zero_point[0])
        value = affine_quantize(value, scale, zero_point, tensor.dtype)
        note = (
            f"input {name!r}: float values quantized to {tensor.dtype} with scale {scale:.6g} and "
            f"zero point {zero_point}"
        )
        return value, note
    if value.dtype != want:
        raise InputError(f"input {name!r}: expected dtype {tensor.dtype}, got {value.dtype}")
    return value, None
