"""Read an ONNX model (untrusted) into a checked ``onnx.ModelProto`` and numpy constants.

Model files are untrusted. The protobuf is parsed by the protobuf runtime (which refuses
malformed wire data and nesting deeper than its recursion limit); everything after that is
checked here before it is used: the opset, the number of nodes, every tensor's element type,
rank and byte size, and where its data lives. External data is read only when the model was
loaded from a path, only from regular files inside the model's folder, and only the exact byte
range the tensor needs. Whatever is wrong becomes a :class:`~tinyabi.errors.ModelError` that
says what and where.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from tinyabi_onnx.api import ModelError

#: Largest model file read (protobuf messages cannot exceed 2 GiB).
MAX_FILE_BYTES = 2**31 - 1
#: Largest tensor accepted, in bytes: a guard against shapes crafted to exhaust memory.
MAX_TENSOR_BYTES = 2**28
#: Largest rank accepted.
MAX_RANK = 8
#: Most nodes a graph may have.
MAX_NODES = 2**16
#: Oldest opset of the default domain the importer reads.
MIN_OPSET = 13

#: ONNX element type -> the IR's element type name.
ELEMENT_TYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64",
}

#: Which repeated field of a TensorProto holds an element type's values when raw_data is unset.
_TYPED_FIELDS: dict[str, str] = {
    "float32": "float_data",
    "float64": "double_data",
    "int64": "int64_data",
    "uint32": "uint64_data",
    "uint64": "uint64_data",
}


def parse_model(data: bytes) -> onnx.ModelProto:
    """Parse and check the bytes of an ONNX model."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelError("not an ONNX model: larger than the 2 GiB a protobuf can be")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError, RuntimeError) as exc:
        raise ModelError(f"not an ONNX model: the protobuf does not parse ({exc})") from None
    check_model(model)
    return model


def read_path(path: Path) -> bytes:
    """The bytes of a model file, refusing anything but a regular file of at most 2 GiB."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ModelError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ModelError(f"{path}: {info.st_size} bytes is larger than a protobuf can be")
        with path.open("rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None


def check_model(model: onnx.ModelProto) -> None:
    """Refuse a model without a graph, with a default-domain opset older than 13, or too big."""
    if not model.HasField("graph"):
        raise ModelError("not an ONNX model: it has no graph")
    version = opset_version(model)
    if version < MIN_OPSET:
        raise ModelError(
            f"ONNX opset {version} is not supported: tinyabi reads opset {MIN_OPSET} and newer "
            "(convert the model with onnx.version_converter first)"
        )
    graph = model.graph
    if len(graph.node) > MAX_NODES:
        raise ModelError(f"the graph has {len(graph.node)} nodes, over the limit of {MAX_NODES}")
    if len(graph.sparse_initializer):
        raise ModelError("sparse initializers are not supported")


def opset_version(model: onnx.ModelProto) -> int:
    """The opset version of the default (``ai.onnx``) domain."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ModelError("the model imports no opset of the default ONNX domain")


def check_shape(where: str, dims: Any, dtype: str) -> tuple[int, ...]:
    """A static shape within the rank and size limits."""
    shape = tuple(int(d) for d in dims)
    if len(shape) > MAX_RANK:
        raise ModelError(f"{where}: rank {len(shape)} exceeds the limit of {MAX_RANK}")
    if any(d < 0 for d in shape):
        raise ModelError(f"{where}: shape {list(shape)} has a negative dimension")
    nbytes = math.prod(shape) * np.dtype(_numpy(dtype)).itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise ModelError(
            f"{where}: shape {list(shape)} needs {nbytes} bytes, "
            f"over the {MAX_TENSOR_BYTES} byte limit"
        )
    return shape


def element_type(where: str, code: int) -> str:
    """The IR element type name of an ONNX element type code."""
    dtype = ELEMENT_TYPES.get(code)
    if dtype is None:
        name = onnx.TensorProto.DataType.Name(code) if _known(code) else str(code)
        raise ModelError(f"{where}: element type {name} is not supported")
    return dtype


def tensor_array(t: onnx.TensorProto, where: str, folder: Path | None) -> np.ndarray:
    """The data of a TensorProto as a read-only numpy array, bounds-checked.

    ``folder`` is the model's folder when it was loaded from a path (external data may be
    read from inside it), ``None`` when it was given as bytes (external data is refused).
    """
    dtype = element_type(where, t.data_type)
    shape = check_shape(where, t.dims, dtype)
    count = math.prod(shape)
    nbytes = count * np.dtype(_numpy(dtype)).itemsize
    if t.HasField("segment"):
        raise ModelError(f"{where}: segmented tensors are not supported")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        array = np.frombuffer(_external(t, where, folder, nbytes), _numpy(dtype, little=True))
    elif t.HasField("raw_data"):
        if len(t.raw_data) != nbytes:
            raise ModelError(
                f"{where}: raw_data has {len(t.raw_data)} bytes, but shape {list(shape)} of "
                f"{dtype} needs {nbytes}"
            )
        array = np.frombuffer(t.raw_data, _numpy(dtype, little=True))
    else:
        field = _TYPED_FIELDS.get(dtype, "int32_data")
        values = getattr(t, field)
        if len(values) != count:
            raise ModelError(
                f"{where}: {field} holds {len(values)} values, but shape {list(shape)} "
                f"needs {count}"
            )
        if dtype == "float16":
            array = np.asarray(values, dtype=np.int64).astype(np.uint16).view(np.float16)
        else:
            array = np.asarray(values).astype(_numpy(dtype))
    result = np.array(array.astype(_numpy(dtype)).reshape(shape), order="C")
    result.setflags(write=False)
    return result


def _external(t: onnx.TensorProto, where: str, folder: Path | None, nbytes: int) -> bytes:
    info = {entry.key: entry.value for entry in t.external_data}
    location = info.get("location", "")
    if folder is None:
        raise ModelError(
            f"{where}: its data is in external file {location!r}; external data is refused "
            "when the model is given as bytes (tinyabi.load hands plugins bytes: use "
            "tinyabi_onnx.load_onnx(path) to read it)"
        )
    try:
        offset = int(info.get("offset", "0"))
        length = int(info.get("length", str(nbytes)))
    except ValueError:
        raise ModelError(f"{where}: external data offset or length is not an integer") from None
    if offset < 0 or length != nbytes:
        raise ModelError(
            f"{where}: external data range (offset {offset}, length {length}) does not match "
            f"the {nbytes} bytes the tensor needs"
        )
    if not location or os.path.isabs(location) or "\0" in location:
        raise ModelError(f"{where}: external data location {location!r} is not a relative path")
    base = folder.resolve()
    path = (base / location).resolve()
    if base not in path.parents:
        raise ModelError(
            f"{where}: external data location {location!r} lies outside the model's folder"
        )
    try:
        info_stat = path.stat()
        if not stat.S_ISREG(info_stat.st_mode):
            raise ModelError(f"{where}: external data {location!r} is not a regular file")
        if offset + nbytes > info_stat.st_size:
            raise ModelError(
                f"{where}: external data range (offset {offset}, length {nbytes}) lies beyond "
                f"the end of {location!r} ({info_stat.st_size} bytes)"
            )
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read(nbytes)
    except OSError as exc:
        raise ModelError(
            f"{where}: cannot read external data {location!r}: {exc.strerror or exc}"
        ) from None
    if len(data) != nbytes:
        raise ModelError(f"{where}: external data {location!r} ended early")
    return data


def _numpy(dtype: str, little: bool = False) -> np.dtype[Any]:
    result = np.dtype(np.bool_ if dtype == "bool" else dtype)
    return result.newbyteorder("<") if little and result.itemsize > 1 else result


def _known(code: int) -> bool:
    return code in onnx.TensorProto.DataType.values()
