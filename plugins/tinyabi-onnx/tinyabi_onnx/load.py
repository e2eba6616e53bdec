"""The entry points: an ONNX model from a path, bytes or a ``ModelProto``."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from tinyabi_onnx.api import Graph, ModelError
from tinyabi_onnx.importer import import_model
from tinyabi_onnx.reader import check_model, parse_model, read_path


def load_onnx(source: str | os.PathLike[str] | bytes | bytearray | onnx.ModelProto) -> Graph:
    """Import an ONNX model: a path (external data is read from the model's folder), the
    file's bytes (external data refused) or an ``onnx.ModelProto``.

    Raises :class:`~tinyabi.errors.ModelError`, and nothing else, for any malformed or
    unsupported model.
    """
    if isinstance(source, onnx.ModelProto):
        data = source.SerializeToString()
        return import_model(parse_model(data), None)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return import_model(parse_model(bytes(source)), None)
    path = Path(source)
    model = parse_model(read_path(path))
    return import_model(model, path.parent)


def looks_like_onnx(data: bytes) -> bool:
    """Whether bytes given without a file name are an ONNX model: not a TFLite flatbuffer,
    and a protobuf that parses as a ModelProto with a graph and a default-domain opset."""
    if len(data) < 2 or data[4:8] == b"TFL3":
        return False
    try:
        check_model(parse_model(data))
    except ModelError:
        return False
    return True
