"""The data model of the TinyABI spec (pydantic v2).

The spec itself lives as YAML under ``specs/tinyabi-<version>/``: ``abi.yaml`` for the tensor
ABI and one file per operator under ``ops/``. These models validate them at load time and
export the JSON Schema that vendors in other languages read.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Attribute",
    "AttributeType",
    "ElementType",
    "Operand",
    "OperandType",
    "OperatorSpec",
    "QuantizationKind",
    "Section",
    "Signature",
    "Spec",
    "TensorABI",
    "Tolerance",
]

ElementType = Literal["float32", "int8", "uint8", "int16", "int32", "int64", "bool"]
AttributeType = Literal["int", "float", "bool", "enum", "int_list"]
QuantizationKind = Literal["none", "per_tensor", "per_axis", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerance(_Strict):
    """How closely a backend's output must match the reference for one signature (its verify
    mode).

    ``exact``: byte-identical. ``lsb``: integers within ``lsb`` units of the last place (for a
    documented deviation, e.g. a vendor's single rounding). ``float``:
    ``|got - want| <= atol + rtol * |want|`` elementwise. ``ulp``: within ``ulp`` float32 units
    in the last place of ``want`` (plus ``atol``). ``dot_product``: for reductions, each output
    within ``ulp * 2**-23 * n * sum(|a_i * b_i|)`` (plus ``atol``), where ``n`` is the number of
    terms of its sum and ``sum(|a_i * b_i|)`` the sum of their magnitudes: the error bound of
    a float32 dot product in any summation order.
    """

    kind: Literal["exact", "lsb", "float", "ulp", "dot_product"]
    atol: float = Field(0.0, ge=0)
    rtol: float = Field(0.0, ge=0)
    lsb: int = Field(0, ge=0, description="for lsb: the largest allowed difference")
    ulp: float = Field(0.0, ge=0, description="for ulp and dot_product: the bound's factor")

    def describe(self) -> str:
        """The verify mode in a few words (``exact``, ``atol 1e-05, rtol 0.0001``, ...)."""
        if self.kind == "exact":
            return "exact"
        if self.kind == "lsb":
            return f"LSB({self.lsb})"
        if self.kind == "float":
            return f"atol {self.atol:g}, rtol {self.rtol:g}"
        extra = f" + atol {self.atol:g}" if self.atol else ""
        if self.kind == "ulp":
            return f"ULP({self.ulp:g}){extra}"
        return f"dot product ({self.ulp:g} x 2^-23 x n x sum of abs(a*b)){extra}"

    def violation(
        self, got: np.ndarray, want: np.ndarray, magnitude: np.ndarray | None = None
    ) -> str | None:
        """``None`` when ``got`` conforms to ``want`` under this tolerance, else what is wrong
        (shape or dtype, how many values differ, or the worst excess over the bound).
        ``magnitude`` is ``n * sum(|a_i * b_i|)`` per output, which ``dot_product`` needs."""
        if got.shape != want.shape or got.dtype != want.dtype:
            return f"got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
        if self.kind == "exact":
            if got.tobytes() == want.tobytes():
                return None
            differ = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
            worst = np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
            return (
                f"{differ.size} values differ (first at {differ[:5].tolist()}), by up to {worst:g}"
            )
        error = np.abs(got.astype(np.float64) - want.astype(np.float64))
        if self.kind == "lsb":
            bound: Any = float(self.lsb)
        elif self.kind == "float":
            bound = self.atol + self.rtol * np.abs(want.astype(np.float64))
        elif self.kind == "ulp":
            spacing = np.spacing(np.abs(want.astype(np.float32))).astype(np.float64)
            bound = self.atol + self.ulp * spacing
        else:
            if magnitude is None:
                return "a dot_product tolerance needs the magnitudes of the sums"
            bound = self.atol + self.ulp * 2.0**-23 * np.asarray(magnitude, dtype=np.float64)
        if np.all(error <= bound):
            return None
        return (
            f"max error {error.max():.3g}, worst excess over the bound {(error - bound).max():.3g}"
        )

    @model_validator(mode="after")
    def _bounds_fit_the_kind(self) -> Tolerance:
        if self.kind == "exact" and (self.atol or self.rtol or self.lsb or self.ulp):
            raise ValueError("an exact tolerance takes no atol or rtol")
        if self.kind == "lsb" and (self.lsb < 1 or self.atol or self.rtol or self.ulp):
            raise ValueError("an lsb tolerance takes only lsb (at least 1)")
        if self.kind in ("ulp", "dot_product") and (self.ulp <= 0 or self.rtol or self.lsb):
            raise ValueError(f"a {self.kind} tolerance takes ulp (above 0) and optionally atol")
        if self.kind == "float" and (self.lsb or self.ulp):
            raise ValueError("a float tolerance takes atol and rtol")
        return self


class OperandType(_Strict):
    """The element type and quantization one operand must have in a signature."""

    dtype: ElementType
    quantization: QuantizationKind = "none"
    symmetric: bool = Field(False, description="zero points must all be 0")
    axis: int | None = Field(None, description="the quantized axis, for per_axis")
    same_as: str | None = Field(
        None, description="the operand must have the same quantization as this operand"
    )


class Signature(_Strict):
    """One supported combination of operand types, with its conformance tolerance."""

    name: str
    operands: dict[str, OperandType]
    tolerance: Tolerance
    notes: str = ""


class Operand(_Strict):
    """An input or output of an operator."""

    name: str
    description: str
    optional: bool = False
    constant: bool = Field(False, description="must be a constant tensor")
    variadic: bool = Field(False, description="one or more tensors (only the last input)")


class Attribute(_Strict):
    """An attribute of an operator, with its type, default and allowed range."""

    name: str
    type: AttributeType
    description: str
    default: Any = None
    required: bool = False
    values: list[str] | None = Field(None, description="allowed values of an enum")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _enum_has_values(self) -> Attribute:
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("enum attributes, and only they, list their values")
        return self


class OperatorSpec(_Strict):
    """One operator of the spec."""

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    version: int = Field(ge=1)
    summary: str
    inputs: list[Operand]
    outputs: list[Operand]
    attributes: list[Attribute] = []
    fused_activations: list[str] = []
    signatures: list[Signature] = Field(min_length=1)
    parameters: str | list[str] | None = Field(
        None,
        description="the function(s) that compute the quantized signatures' parameters, as "
        "dotted paths into tinyabi.quantization (one per operator, or a list when signatures "
        "need different ones)",
    )
    shape_rule: str
    semantics: str

    @property
    def parameter_functions(self) -> list[str]:
        """The dotted paths of :attr:`parameters`, as a list (empty when there are none)."""
        if self.parameters is None:
            return []
        return [self.parameters] if isinstance(self.parameters, str) else list(self.parameters)

    @model_validator(mode="after")
    def _parameters_are_dotted_paths(self) -> OperatorSpec:
        for path in self.parameter_functions:
            if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", path):
                raise ValueError(f"parameters: {path!r} is not a dotted path module.function")
        return self

    @model_validator(mode="after")
    def _signatures_name_operands(self) -> OperatorSpec:
        names = {o.name for o in self.inputs} | {o.name for o in self.outputs}
        for sig in self.signatures:
            unknown = set(sig.operands) - names
            if unknown:
                raise ValueError(f"signature {sig.name!r} names unknown operands {sorted(unknown)}")
            required = {o.name for o in self.inputs + self.outputs if not o.optional}
            missing = required - set(sig.operands)
            if missing:
                raise ValueError(f"signature {sig.name!r} does not type operands {sorted(missing)}")
        return self

    def signature(self, name: str) -> Signature:
        """The signature called ``name`` (a KeyError naming the known ones when missing)."""
        for sig in self.signatures:
            if sig.name == name:
                return sig
        raise KeyError(
            f"{self.name} has no signature {name!r}: {[s.name for s in self.signatures]}"
        )

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called ``name``, if any."""
        return next((a for a in self.attributes if a.name == name), None)


class Section(_Strict):
    """A titled section of prose of the tensor ABI."""

    title: str
    text: str


class TensorABI(_Strict):
    """The tensor ABI every backend shares: types, layout, quantization, memory."""

    element_types: dict[ElementType, str] = Field(description="element type -> meaning")
    layouts: dict[str, str] = Field(description="tensor role -> canonical layout")
    sections: list[Section]
    memory_alignment: int = Field(ge=1, description="arena offsets are multiples of this")


class Spec(_Strict):
    """A complete, versioned spec: the tensor ABI and the operators."""

    version: str
    abi: TensorABI
    operators: dict[str, OperatorSpec]
