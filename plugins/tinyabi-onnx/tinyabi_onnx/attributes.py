"""ONNX node attributes as plain Python values (untrusted: tensors are bounds-checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from tinyabi_onnx.api import ModelError
from tinyabi_onnx.reader import tensor_array

A = onnx.AttributeProto


def plain_attributes(node: onnx.NodeProto, folder: Path | None) -> dict[str, Any]:
    """Every attribute of ``node`` by name: numbers, strings, lists, tensors as numpy arrays,
    graphs as their serialized bytes."""
    result: dict[str, Any] = {}
    for attr in node.attribute:
        where = f"node {node.name or node.op_type!r} attribute {attr.name!r}"
        result[attr.name] = _value(attr, where, folder)
    return result


def _value(attr: onnx.AttributeProto, where: str, folder: Path | None) -> Any:
    kind = attr.type
    if kind == A.FLOAT:
        return float(attr.f)
    if kind == A.INT:
        return int(attr.i)
    if kind == A.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == A.TENSOR:
        return tensor_array(attr.t, where, folder)
    if kind == A.GRAPH:
        return attr.g.SerializeToString()
    if kind == A.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == A.INTS:
        return [int(v) for v in attr.ints]
    if kind == A.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == A.TENSORS:
        return [tensor_array(t, where, folder) for t in attr.tensors]
    if kind == A.GRAPHS:
        return [g.SerializeToString() for g in attr.graphs]
    raise ModelError(f"{where}: attribute type {kind} is not supported")


def ints(attrs: dict[str, Any], name: str, default: list[int]) -> list[int]:
    """An INTS attribute, checked to be a list of integers."""
    value = attrs.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise ModelError(f"attribute {name!r} must be a list of integers, not {value!r}")
    return value


def integer(attrs: dict[str, Any], name: str, default: int) -> int:
    """An INT attribute."""
    value = attrs.get(name, default)
    if not isinstance(value, int):
        raise ModelError(f"attribute {name!r} must be an integer, not {value!r}")
    return value


def number(attrs: dict[str, Any], name: str, default: float) -> float:
    """A FLOAT attribute."""
    value = attrs.get(name, default)
    if not isinstance(value, (int, float)):
        raise ModelError(f"attribute {name!r} must be a number, not {value!r}")
    return float(value)


def text(attrs: dict[str, Any], name: str, default: str) -> str:
    """A STRING attribute."""
    value = attrs.get(name, default)
    if not isinstance(value, str):
        raise ModelError(f"attribute {name!r} must be a string, not {value!r}")
    return value
