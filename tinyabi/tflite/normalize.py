"""Metadata TensorFlow Lite Micro reads one way although the file writes it inconsistently.

Converters have written, over the years, files whose metadata does not add up but that TFLM
runs, because it reads only part of it (facts from its loader and kernels):

* ``rank-1-axis``: per-axis scales on a 1-D tensor with ``quantized_dimension`` beyond its
  rank and one scale per element (older converters' per-channel biases, written with axis 3).
  TFLM never reads a bias's axis; the scales can only run along the one axis there is.
* ``per-tensor-axis``: one scale with ``quantized_dimension`` beyond the rank. With one scale
  the axis means nothing; it is set to 0.
* ``zero-point-broadcast``: one zero point for several scales. TFLM uses it for every channel.
* ``bias-zero-points``: an int32/int64 tensor with scales but no zero points. TFLM then reads
  no quantization at all, and its kernels never read a bias's anyway; the zero points are 0.
* ``unread-quantization``: scales without zero points on a float (or other unquantized) tensor.
  TFLM reads no quantization, and none is kept.
* ``bias-quantization``: the integer bias of an int8 convolution or fully connected layer
  without quantization. TFLM's kernels take the bias scale to be input scale x filter scale,
  which is what the bias gets.
* ``shape-signature``: an empty ``shape_signature`` (or one that contradicts ``shape``). TFLM
  reads ``shape`` only; the signature is dropped.
* ``variable-buffer``: a variable (state) tensor whose buffer holds the value TFLM resets it to
  (the zero point for int8, else 0). TFLM starts state from that value; the buffer is dropped.
* ``scratch``: a tensor only custom operators read that no node writes, no one feeds and no
  buffer fills (the scratch areas of a model compiled by Vela for Ethos-U). It becomes the
  node's scratch memory (:attr:`tinyabi.ir.graph.Tensor.scratch`).

Each rule applied leaves a one-line note naming the tensor and the rule, kept in
:attr:`tinyabi.ir.graph.Graph.import_notes`. What TFLM would itself refuse or misread (a nonzero
initial state, an int8 variable without a zero point, per-axis scales along no axis that fits)
stays a :class:`~tinyabi.errors.ModelError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyabi.errors import ModelError
from tinyabi.ir.graph import Graph, Quantization, Tensor

__all__ = [
    "BIAS_OPS",
    "bias_quantization",
    "note",
    "quantization",
    "reset_value",
    "scratch_tensors",
    "shape_signature",
    "variable_data",
]

#: Spec operators whose third input is a bias TFLM scales by input scale x filter scale.
BIAS_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
_INTEGER_BIAS = ("int32", "int64")
#: Element types whose kernels need the quantization TFLM would not read without zero points.
_QUANTIZED_ACTIVATIONS = ("int8", "uint8", "int16")


def note(name: str, rule: str, what: str) -> str:
    """One import note: ``tensor 'NAME': WHAT [RULE]``."""
    return f"tensor {name!r}: {what} [{rule}]"


def quantization(
    where: str, name: str, q: Any, shape: tuple[int, ...], dtype: str, notes: list[str]
) -> Quantization | None:
    """The quantization of a tensor as TFLM reads it (``q`` is the unpacked
    ``QuantizationParametersT``); appends a note for every rule applied."""
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scale = np.asarray(q.scale, dtype=np.float32).reshape(-1)
    zero_point = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], np.int64).reshape(-1)
    if zero_point.size == 0:
        if dtype in _QUANTIZED_ACTIVATIONS:
            raise ModelError(
                f"{where}: {scale.size} quantization scales but no zero points (TFLM would "
                f"read the {dtype} tensor as not quantized)"
            )
        if dtype not in _INTEGER_BIAS:
            notes.append(
                note(name, "unread-quantization", f"scales without zero points on {dtype}: dropped")
            )
            return None
        zero_point = np.zeros(1, np.int64)
        notes.append(note(name, "bias-zero-points", "scales without zero points: zero points 0"))
    if zero_point.size == 1 and scale.size > 1:
        zero_point = np.repeat(zero_point, scale.size)
        notes.append(
            note(
                name,
                "zero-point-broadcast",
                f"one zero point for {scale.size} scales: used for every channel",
            )
        )
    if zero_point.size != scale.size:
        raise ModelError(f"{where}: {scale.size} scales but {zero_point.size} zero points")
    bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
    if bad.size:
        raise ModelError(
            f"{where}: quantization scale[{bad[0]}] is {scale[bad[0]]}; "
            "scales must be finite and positive"
        )
    axis = int(q.quantizedDimension)
    if not 0 <= axis < max(len(shape), 1):
        if scale.size == 1:
            notes.append(
                note(name, "per-tensor-axis", f"one scale with quantized_dimension {axis}: axis 0")
            )
            axis = 0
        elif len(shape) == 1 and shape[0] == scale.size:
            notes.append(
                note(
                    name,
                    "rank-1-axis",
                    f"{scale.size} per-axis scales with quantized_dimension {axis} on shape "
                    f"{list(shape)}: axis 0",
                )
            )
            axis = 0
    if scale.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scale.size):
        raise ModelError(
            f"{where}: {scale.size} per-axis scales do not match axis {axis} of shape {list(shape)}"
        )
    return Quantization(scale, zero_point, axis)


def shape_signature(name: str, signature: Any, shape: tuple[int, ...], notes: list[str]) -> None:
    """Note a ``shape_signature`` that is empty or contradicts ``shape`` (TFLM reads ``shape``;
    a -1 marks a dimension left open, which is no contradiction)."""
    if signature is None:
        return
    values = [int(v) for v in np.asarray(signature).reshape(-1).tolist()]
    if not values and shape:
        notes.append(note(name, "shape-signature", f"empty shape_signature: shape {list(shape)}"))
    elif values and (
        len(values) != len(shape) or any(s not in (-1, d) for s, d in zip(values, shape))
    ):
        notes.append(
            note(
                name,
                "shape-signature",
                f"shape_signature {values} contradicts shape {list(shape)}: shape used",
            )
        )


def reset_value(where: str, dtype: str, quant: Quantization | None) -> int:
    """The byte TFLM fills a variable tensor with on reset: the zero point for int8, else 0."""
    if dtype != "int8":
        return 0
    if quant is None:
        raise ModelError(
            f"{where}: an int8 variable tensor needs a zero point (TFLM resets it to the zero "
            "point and cannot without one)"
        )
    return int(quant.zero_point[0]) & 0xFF


def variable_data(
    where: str, name: str, data: np.ndarray | None, reset: int, notes: list[str]
) -> None:
    """Check the buffer of a variable tensor: it may only hold TFLM's reset value, and is then
    dropped (the caller imports the tensor without data)."""
    if data is None:
        return
    raw = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
    if raw.size and np.any(raw != reset):
        raise ModelError(
            f"{where}: the variable tensor has a buffer with a nonzero initial state; TFLM "
            f"ignores it and starts the state from {reset}"
        )
    notes.append(note(name, "variable-buffer", f"buffer of reset values dropped (state {reset})"))


def bias_quantization(graph: Graph, notes: list[str]) -> None:
    """Give the unquantized integer biases of int8 convolutions and fully connected layers the
    scale TFLM uses for them: input scale x filter scale (per channel when the filter is)."""
    for node in graph.nodes:
        if node.op not in BIAS_OPS or len(node.inputs) < 3 or node.inputs[2] is None:
            continue
        x, w, b = (graph.tensor(n) if n is not None else None for n in node.inputs[:3])
        if b is None or b.quant is not None or b.dtype not in _INTEGER_BIAS:
            continue
        if x is None or w is None or x.quant is None or w.quant is None or x.quant.per_axis:
            continue
        _fill_bias(b, x, w, node.name, notes)


def _fill_bias(b: Tensor, x: Tensor, w: Tensor, node: str, notes: list[str]) -> None:
    assert x.quant is not None and w.quant is not None
    scales = w.quant.scale.astype(np.float64) * float(x.quant.scale[0])
    if scales.size > 1 and (len(b.shape) != 1 or b.shape[0] != scales.size):
        return  # the kernel's own check names the mismatch
    b.quant = Quantization(scales.astype(np.float32), np.zeros(scales.size, np.int64), 0)
    notes.append(
        note(
            b.name,
            "bias-quantization",
            f"bias of {node} without quantization: input scale x filter scale "
            f"({scales.size} scale{'s' if scales.size > 1 else ''})",
        )
    )


def scratch_tensors(graph: Graph, notes: list[str]) -> None:
    """Mark as scratch the tensors only custom operators read that nothing provides."""
    provided = set(graph.inputs) | {o for node in graph.nodes for o in node.outputs}
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name is not None and name not in provided:
                readers.setdefault(name, []).append(node.op)
    for name, ops in readers.items():
        t = graph.tensor(name)
        if t.is_state_or_constant or name in graph.outputs:
            continue
        if all(op.startswith("tflite.custom.") for op in ops):
            t.scratch = True
            owners = ", ".join(sorted({op.removeprefix("tflite.custom.") for op in ops}))
            notes.append(
                note(
                    name,
                    "scratch",
                    f"read by custom operator {owners}, written by no node and without a "
                    "buffer: the operator's scratch memory",
                )
            )
