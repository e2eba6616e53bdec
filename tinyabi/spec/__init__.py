"""The TinyABI spec: its data model, loader and renderers."""

from tinyabi.spec.loader import SPEC_VERSION, load_spec, load_spec_from, spec_dir
from tinyabi.spec.models import (
    Attribute,
    Operand,
    OperandType,
    OperatorSpec,
    Signature,
    Spec,
    TensorABI,
    Tolerance,
)

__all__ = [
    "SPEC_VERSION",
    "Attribute",
    "Operand",
    "OperandType",
    "OperatorSpec",
    "Signature",
    "Spec",
    "TensorABI",
    "Tolerance",
    "load_spec",
    "load_spec_from",
    "spec_dir",
]
