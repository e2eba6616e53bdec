"""How each spec operator's attributes map onto TFLite builtin options, both ways.

One declarative table: for every spec operator, the TFLite options class and, for each spec
attribute, the options field and how its value is encoded. The importer and the exporter both
read it, so the two directions cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyabi.tflite.schema import schema

__all__ = [
    "ACTIVATIONS",
    "PADDINGS",
    "SPEC_BY_BUILTIN",
    "SPEC_OPS",
    "Field",
    "OpMapping",
    "decode",
    "encode",
    "plain",
    "unplain",
]

PADDINGS = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}
ACTIVATIONS = {
    schema.ActivationFunctionType.NONE: "NONE",
    schema.ActivationFunctionType.RELU: "RELU",
    schema.ActivationFunctionType.RELU_N1_TO_1: "RELU_N1_TO_1",
    schema.ActivationFunctionType.RELU6: "RELU6",
    schema.ActivationFunctionType.TANH: "TANH",
    schema.ActivationFunctionType.SIGN_BIT: "SIGN_BIT",
}


@dataclass(frozen=True)
class Field:
    """One spec attribute stored in a TFLite options field.

    ``kind`` is how the value is encoded: ``int``, ``bool``, ``float``, ``int_list``,
    ``padding`` (enum <-> ``"SAME"``/``"VALID"``) or ``activation`` (enum <-> name).
    """

    attr: str
    field: str
    kind: str


@dataclass(frozen=True)
class OpMapping:
    """A spec operator's TFLite builtin and options class (``None`` when it has none)."""

    builtin: str
    options: str | None
    fields: tuple[Field, ...] = ()


_ACT = Field("fused_activation", "fusedActivationFunction", "activation")
_CONV = (
    Field("padding", "padding", "padding"),
    Field("stride_h", "strideH", "int"),
    Field("stride_w", "strideW", "int"),
    Field("dilation_h", "dilationHFactor", "int"),
    Field("dilation_w", "dilationWFactor", "int"),
    _ACT,
)
_POOL = (
    Field("padding", "padding", "padding"),
    Field("stride_h", "strideH", "int"),
    Field("stride_w", "strideW", "int"),
    Field("filter_h", "filterHeight", "int"),
    Field("filter_w", "filterWidth", "int"),
    _ACT,
)

#: Spec operator name -> its TFLite mapping.
SPEC_OPS: dict[str, OpMapping] = {
    "CONV_2D": OpMapping("CONV_2D", "Conv2DOptions", _CONV),
    "DEPTHWISE_CONV_2D": OpMapping(
        "DEPTHWISE_CONV_2D",
        "DepthwiseConv2DOptions",
        (*_CONV, Field("depth_multiplier", "depthMultiplier", "int")),
    ),
    "FULLY_CONNECTED": OpMapping(
        "FULLY_CONNECTED",
        "FullyConnectedOptions",
        (
            _ACT,
            Field("keep_num_dims", "keepNumDims", "bool"),
            Field("asymmetric_quantize_inputs", "asymmetricQuantizeInputs", "bool"),
        ),
    ),
    "TRANSPOSE_CONV": OpMapping(
        "TRANSPOSE_CONV",
        "TransposeConvOptions",
        (
            Field("padding", "padding", "padding"),
            Field("stride_h", "strideH", "int"),
            Field("stride_w", "strideW", "int"),
            _ACT,
        ),
    ),
    "AVERAGE_POOL_2D": OpMapping("AVERAGE_POOL_2D", "Pool2DOptions", _POOL),
    "MAX_POOL_2D": OpMapping("MAX_POOL_2D", "Pool2DOptions", _POOL),
    "ADD": OpMapping("ADD", "AddOptions", (_ACT,)),
    "SUB": OpMapping("SUB", "SubOptions", (_ACT,)),
    "MUL": OpMapping("MUL", "MulOptions", (_ACT,)),
    "RESHAPE": OpMapping(
        "RESHAPE", "ReshapeOptions", (Field("new_shape", "newShape", "int_list"),)
    ),
    "SQUEEZE": OpMapping(
        "SQUEEZE", "SqueezeOptions", (Field("squeeze_dims", "squeezeDims", "int_list"),)
    ),
    "SOFTMAX": OpMapping("SOFTMAX", "SoftmaxOptions", (Field("beta", "beta", "float"),)),
    "LOGISTIC": OpMapping("LOGISTIC", None),
    "TANH": OpMapping("TANH", None),
    "RELU": OpMapping("RELU", None),
    "RELU6": OpMapping("RELU6", None),
    "LEAKY_RELU": OpMapping("LEAKY_RELU", "LeakyReluOptions", (Field("alpha", "alpha", "float"),)),
    "HARD_SWISH": OpMapping("HARD_SWISH", "HardSwishOptions"),
    "QUANTIZE": OpMapping("QUANTIZE", "QuantizeOptions"),
    "DEQUANTIZE": OpMapping("DEQUANTIZE", "DequantizeOptions"),
    "CONCATENATION": OpMapping(
        "CONCATENATION", "ConcatenationOptions", (Field("axis", "axis", "int"), _ACT)
    ),
    "PAD": OpMapping("PAD", "PadOptions"),
    "MEAN": OpMapping("MEAN", "ReducerOptions", (Field("keep_dims", "keepDims", "bool"),)),
    "TRANSPOSE": OpMapping("TRANSPOSE", "TransposeOptions"),
    "STRIDED_SLICE": OpMapping(
        "STRIDED_SLICE",
        "StridedSliceOptions",
        (
            Field("begin_mask", "beginMask", "int"),
            Field("end_mask", "endMask", "int"),
            Field("ellipsis_mask", "ellipsisMask", "int"),
            Field("new_axis_mask", "newAxisMask", "int"),
            Field("shrink_axis_mask", "shrinkAxisMask", "int"),
            Field("offset", "offset", "bool"),
        ),
    ),
}

#: TFLite builtin name -> spec operator name.
SPEC_BY_BUILTIN: dict[str, str] = {m.builtin: op for op, m in SPEC_OPS.items()}


def decode(field: Field, value: Any) -> Any:
    """A TFLite options value as the spec attribute value."""
    if field.kind == "padding":
        return PADDINGS.get(value, f"UNKNOWN({value})")
    if field.kind == "activation":
        return ACTIVATIONS.get(value, f"UNKNOWN({value})")
    if field.kind == "int_list":
        return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]
    if field.kind == "bool":
        return bool(value)
    if field.kind == "float":
        return float(value)
    return int(value)


def encode(field: Field, value: Any) -> Any:
    """A spec attribute value as the TFLite options value."""
    if field.kind == "padding":
        return {v: k for k, v in PADDINGS.items()}[value]
    if field.kind == "activation":
        return {v: k for k, v in ACTIVATIONS.items()}[value]
    if field.kind == "int_list":
        return None if value is None else [int(v) for v in value]
    if field.kind == "bool":
        return bool(value)
    if field.kind == "float":
        return float(value)
    return int(value)


def plain(value: Any) -> Any:
    """An options value of an extension operator as plain Python data (for JSON and export)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {"__class__": type(value).__name__} | {k: plain(v) for k, v in vars(value).items()}
    return value


def unplain(value: Any) -> Any:
    """The inverse of :func:`plain`: nested options objects are rebuilt from their class name."""
    if isinstance(value, dict) and "__class__" in value:
        obj = getattr(schema, value["__class__"])()
        for k, v in value.items():
            if k != "__class__":
                setattr(obj, k, unplain(v))
        return obj
    if isinstance(value, list):
        return [unplain(v) for v in value]
    return value
