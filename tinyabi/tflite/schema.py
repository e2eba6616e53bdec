"""The TFLite flatbuffer schema module (generated code with the object API).

``ai-edge-litert`` ships it; the abandoned ``tflite-runtime`` wheel is accepted as a fallback.
"""

from __future__ import annotations

from types import ModuleType


def _load() -> ModuleType:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:  # pragma: no cover - only without ai-edge-litert
        try:
            from tflite_runtime import schema_py_generated  # type: ignore[no-redef]
        except ImportError:
            from tinyabi.errors import TinyABIError

            raise TinyABIError(
                "the TFLite schema module is missing: install ai-edge-litert"
            ) from None
    return schema_py_generated


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
