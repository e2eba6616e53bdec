"""What an ONNX value stands for while it is being imported."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyabi_onnx.api import Quantization
from tinyabi_onnx.layout import Perm, identity


class NotMapped(Exception):
    """A lowering does not apply to this node (the importer tries the next form)."""


@dataclass(frozen=True, eq=False)
class QuantizedConstant:
    """``DequantizeLinear`` of a constant integer tensor, in ONNX order: weights and biases."""

    data: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int

    def real(self) -> np.ndarray:
        """The float32 values ``DequantizeLinear`` computes."""
        shape = [1] * self.data.ndim
        if self.scale.size > 1:
            shape[self.axis] = self.scale.size
        scale = self.scale.astype(np.float32).reshape(shape)
        offset = (self.data.astype(np.int64) - self.zero_point.reshape(shape)).astype(np.float32)
        return (offset * scale).astype(np.float32)

    def quantization(self, perm: Perm) -> Quantization:
        """The IR quantization of ``data.transpose(perm)``."""
        axis = perm.index(self.axis) if self.scale.size > 1 else 0
        return Quantization(self.scale, self.zero_point, axis)


@dataclass(eq=False)
class Value:
    """An ONNX value: its ONNX shape and type, and what holds it in the IR.

    Exactly one of these describes it: ``ir`` (an IR tensor holding it transposed by
    ``perm``), ``const`` (constant data in ONNX order), ``qconst`` (a dequantized constant) or
    ``source`` (``DequantizeLinear`` of the int8 activation ``source``, not yet computed: a
    float op reading it may run in int8 instead). ``float_ir`` caches the DEQUANTIZE of a
    ``source`` once one was needed.
    """

    dtype: str
    shape: tuple[int, ...]
    ir: str | None = None
    perm: Perm = ()
    const: np.ndarray | None = None
    qconst: QuantizedConstant | None = None
    source: Value | None = None
    quant: Quantization | None = None
    cache: dict[tuple[str, Perm], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.perm:
            self.perm = identity(len(self.shape))

    @property
    def rank(self) -> int:
        """Number of axes."""
        return len(self.shape)

    @property
    def is_constant(self) -> bool:
        """Whether the value is known at import time."""
        return self.const is not None or self.qconst is not None

    def real(self) -> np.ndarray:
        """A constant's float (or integer) data in ONNX order."""
        if self.const is not None:
            return self.const
        if self.qconst is not None:
            return self.qconst.real()
        raise NotMapped("the value is not constant")
