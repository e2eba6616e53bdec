"""The TFLite flatbuffer schema module (generated code with the object API).

No package ships the schema module alone. tinyabi takes the copy in ``tflite-micro`` (a small
distribution that needs only flatbuffers, numpy and PyYAML); the copies in ``ai-edge-litert``
and the abandoned ``tflite-runtime`` are accepted when it is missing.
"""

from __future__ import annotations

from types import ModuleType

__all__ = [
    "BUILTIN_CODES",
    "BUILTIN_NAMES",
    "FILE_IDENTIFIER",
    "OPTIONS2_NAMES",
    "OPTIONS_NAMES",
    "TENSOR_TYPES",
    "TENSOR_TYPE_CODES",
    "schema",
]


def _load() -> ModuleType:
    import importlib

    for module in (
        "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
        "ai_edge_litert.schema_py_generated",
        "tflite_runtime.schema_py_generated",
    ):
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    from tinyabi.errors import TinyABIError

    raise TinyABIError("the TFLite schema module is missing: install tflite-micro")


schema: ModuleType = _load()

#: TFLite's file identifier, at bytes 4..8 of every model file.
FILE_IDENTIFIER = b"TFL3"

#: TensorType enum value -> spec element type. Types outside the ABI are imported as their
#: TFLite name in lower case (extension nodes may use them).
TENSOR_TYPES: dict[int, str] = {
    schema.TensorType.FLOAT32: "float32",
    schema.TensorType.INT8: "int8",
    schema.TensorType.UINT8: "uint8",
    schema.TensorType.INT16: "int16",
    schema.TensorType.INT32: "int32",
    schema.TensorType.INT64: "int64",
    schema.TensorType.BOOL: "bool",
}
TENSOR_TYPE_CODES: dict[str, int] = {v: k for k, v in TENSOR_TYPES.items()}

#: BuiltinOperator enum value -> name.
BUILTIN_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(value, int)
}
BUILTIN_CODES: dict[str, int] = {v: k for k, v in BUILTIN_NAMES.items()}

#: BuiltinOptions union tag -> options class name (without the ``T`` suffix).
OPTIONS_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(schema.BuiltinOptions).items()
    if not name.startswith("_") and isinstance(value, int) and value != 0
}
OPTIONS2_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(schema.BuiltinOptions2).items()
    if not name.startswith("_") and isinstance(value, int) and value != 0
}
