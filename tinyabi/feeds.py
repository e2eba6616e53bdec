"""Model inputs as a person supplies them: random ones for a quick run, arrays read from
``.npy`` files (never pickled objects), and float arrays quantized for an integer input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyabi.errors import InputError
from tinyabi.ir.graph import Graph, numpy_dtype
from tinyabi.kernels.tensor import affine_quantize

__all__ = ["load_array", "prepare_input", "random_inputs", "read_inputs"]


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random valid inputs for every graph input: the full range for integer types, a standard
    normal sample for floats, 0/1 for bools."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        dtype = numpy_dtype(t.dtype)
        if dtype == np.bool_:
            feeds[name] = rng.integers(0, 2, size=t.shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            feeds[name] = rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(
                dtype
            )
        else:
            feeds[name] = rng.standard_normal(t.shape).astype(dtype)
    return feeds


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


def read_inputs(graph: Graph, paths: Sequence[str]) -> dict[str, np.ndarray]:
    """Inputs from ``.npy`` files, given in input order or as ``NAME=FILE``."""
    feeds: dict[str, np.ndarray] = {}
    for position, item in enumerate(paths):
        name, sep, path = item.partition("=")
        if not sep:
            if position >= len(graph.inputs):
                raise InputError(
                    f"{len(paths)} input files given, the model has {len(graph.inputs)} inputs"
                )
            name, path = graph.inputs[position], item
        feeds[name] = load_array(path, "input file")
    return feeds


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
