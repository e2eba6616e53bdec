"""Import a ``.tflite`` flatbuffer into the graph IR.

Model files are untrusted. Before the flatbuffers object API unpacks anything, a bounded walk
over the lazy accessors checks that every vector of tables fits in the file (so a crafted
length cannot make the unpacker loop for ever); afterwards every index, shape, buffer and
quantization parameter is checked against the rest of the file. Whatever is wrong becomes a
:class:`~tinyabi.errors.ModelError` that says what and where.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinyabi.errors import GraphError, ModelError
from tinyabi.ir.graph import Graph, Node, Quantization, Tensor, numpy_dtype
from tinyabi.tflite import options as opmap
from tinyabi.tflite.schema import (
    BUILTIN_NAMES,
    FILE_IDENTIFIER,
    OPTIONS2_NAMES,
    OPTIONS_NAMES,
    TENSOR_TYPES,
    schema,
)

#: Largest model file tinyabi reads (flatbuffers address at most 2 GiB).
MAX_FILE_BYTES = 2**31 - 1
#: Largest tensor tinyabi accepts, in bytes: a guard against shapes crafted to exhaust memory.
MAX_TENSOR_BYTES = 2**28
#: Largest rank tinyabi accepts.
MAX_RANK = 8

#: Element types outside the ABI that can still appear on extension nodes.
_EXTRA_TYPES: dict[int, str] = {
    schema.TensorType.FLOAT16: "float16",
    schema.TensorType.FLOAT64: "float64",
    schema.TensorType.UINT16: "uint16",
    schema.TensorType.UINT32: "uint32",
    schema.TensorType.UINT64: "uint64",
}


def read_model_bytes(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> bytes:
    """The bytes of a model given as a path or as bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelError(f"{path}: {size} bytes is larger than the 2 GiB a flatbuffer can be")
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None


def load_tflite(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Graph:
    """Import the main subgraph of a ``.tflite`` model (a path or the file's bytes)."""
    buf = read_model_bytes(source)
    model = unpack_model(buf)
    return _Importer(model, buf).graph()


def unpack_model(buf: bytes) -> Any:
    """Check the flatbuffer's structure within bounds, then unpack it with the object API."""
    if len(buf) < 8:
        raise ModelError(f"not a TFLite model: the file has only {len(buf)} bytes")
    if len(buf) > MAX_FILE_BYTES:
        raise ModelError("not a TFLite model: larger than 2 GiB")
    if buf[4:8] != FILE_IDENTIFIER:
        raise ModelError(
            f"not a TFLite model: file identifier is {bytes(buf[4:8])!r}, expected {FILE_IDENTIFIER!r}"
        )
    try:
        _check_table_vectors(buf)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"malformed flatbuffer: {type(exc).__name__}: {exc}") from None
    try:
        return schema.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as exc:
        raise ModelError(f"malformed flatbuffer: {type(exc).__name__}: {exc}") from None


def _check_table_vectors(buf: bytes) -> None:
    """Bound the work of unpacking: every table in a vector needs at least 4 bytes of its own
    offset, so all vectors of tables together can hold at most ``len(buf) // 4`` entries."""
    budget = len(buf) // 4

    def spend(count: int, what: str) -> None:
        nonlocal budget
        if count < 0 or count > budget:
            raise ModelError(
                f"malformed flatbuffer: {what} claims {count} entries, more than the file holds"
            )
        budget -= count

    model = schema.Model.GetRootAs(buf, 0)
    spend(model.OperatorCodesLength(), "operator_codes")
    spend(model.BuffersLength(), "buffers")
    spend(model.MetadataLength(), "metadata")
    spend(model.SignatureDefsLength(), "signature_defs")
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        spend(sig.InputsLength(), "signature_defs.inputs")
        spend(sig.OutputsLength(), "signature_defs.outputs")
    spend(model.SubgraphsLength(), "subgraphs")
    for i in range(model.SubgraphsLength()):
        sub = model.Subgraphs(i)
        spend(sub.TensorsLength(), f"subgraphs[{i}].tensors")
        spend(sub.OperatorsLength(), f"subgraphs[{i}].operators")


class _Importer:
    """Turns an unpacked ``ModelT`` into a :class:`Graph`, checking it on the way."""

    def __init__(self, model: Any, buf: bytes) -> None:
        self.model = model
        self.buf = buf
        if not model.subgraphs:
            raise ModelError("the model has no subgraphs")
        self.sub = model.subgraphs[0]
        self.buffers = model.buffers or []
        self.codes = model.operatorCodes or []
        self.tensors = self.sub.tensors or []
        self.names: list[str] = []

    def graph(self) -> Graph:
        tensors = [self._tensor(i, t) for i, t in enumerate(self.tensors)]
        self.names = [t.name for t in tensors]
        nodes = [self._node(i, op) for i, op in enumerate(self.sub.operators or [])]
        graph = Graph(
            tensors={t.name: t for t in tensors},
            nodes=nodes,
            inputs=[self._ref(i, "subgraph inputs") for i in _ints(self.sub.inputs)],
            outputs=[self._ref(i, "subgraph outputs") for i in _ints(self.sub.outputs)],
            name=_text(self.sub.name) or "main",
        )
        self._check_dataflow(graph)
        return graph

    def _ref(self, index: int, where: str) -> str:
        if not 0 <= index < len(self.names):
            raise ModelError(
                f"{where}: tensor index {index} is out of range (0..{len(self.names) - 1})"
            )
        return self.names[index]

    def _tensor(self, index: int, t: Any) -> Tensor:
        where = f"tensor {index}"
        name = _text(t.name) or f"tensor_{index}"
        if name in self.names:
            name = f"{name}#{index}"
        self.names.append(name)
        where = f"tensor {index} ({name!r})"
        dtype = TENSOR_TYPES.get(t.type) or _EXTRA_TYPES.get(t.type)
        if dtype is None:
            raise ModelError(f"{where}: element type {t.type} is not supported")
        shape = tuple(_ints(t.shape))
        if len(shape) > MAX_RANK:
            raise ModelError(f"{where}: rank {len(shape)} exceeds the limit of {MAX_RANK}")
        if any(d < 0 for d in shape):
            raise ModelError(f"{where}: shape {list(shape)} has a negative dimension")
        nbytes = int(np.prod(shape, dtype=np.float64)) * numpy_dtype(dtype).itemsize
        if nbytes > MAX_TENSOR_BYTES:
            raise ModelError(
                f"{where}: shape {list(shape)} needs {nbytes} bytes, over the {MAX_TENSOR_BYTES} byte limit"
            )
        return Tensor(
            name=name,
            dtype=dtype,
            shape=shape,
            quant=self._quantization(where, t.quantization, shape),
            data=self._data(where, t.buffer, dtype, shape, nbytes),
        )

    def _data(
        self, where: str, index: int, dtype: str, shape: tuple[int, ...], nbytes: int
    ) -> np.ndarray | None:
        if index == 0:
            return None
        if not 0 <= index < len(self.buffers):
            raise ModelError(
                f"{where}: buffer index {index} is out of range (0..{len(self.buffers) - 1})"
            )
        buffer = self.buffers[index]
        if buffer.offset > 1:
            end = buffer.offset + buffer.size
            if end > len(self.buf):
                raise ModelError(f"{where}: buffer {index} lies beyond the end of the file")
            raw = self.buf[buffer.offset : end]
        elif buffer.data is not None and len(buffer.data):
            raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
        else:
            return None
        if len(raw) != nbytes:
            raise ModelError(
                f"{where}: buffer {index} has {len(raw)} bytes, but shape {list(shape)} of {dtype} needs {nbytes}"
            )
        return np.frombuffer(raw, dtype=numpy_dtype(dtype)).reshape(shape)

    @staticmethod
    def _quantization(where: str, q: Any, shape: tuple[int, ...]) -> Quantization | None:
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        scale = np.asarray(q.scale, dtype=np.float32).reshape(-1)
        zero_point = np.asarray(
            q.zeroPoint if q.zeroPoint is not None else [0], dtype=np.int64
        ).reshape(-1)
        if zero_point.size == 1 and scale.size > 1:
            zero_point = np.repeat(zero_point, scale.size)
        if zero_point.size != scale.size:
            raise ModelError(f"{where}: {scale.size} scales but {zero_point.size} zero points")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ModelError(f"{where}: quantization scales must be finite and positive")
        axis = int(q.quantizedDimension)
        if scale.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scale.size):
            raise ModelError(
                f"{where}: {scale.size} per-axis scales do not match axis {axis} of shape {list(shape)}"
            )
        return Quantization(scale, zero_point, axis)

    def _node(self, index: int, op: Any) -> Node:
        where = f"operator {index}"
        if not 0 <= op.opcodeIndex < len(self.codes):
            raise ModelError(
                f"{where}: opcode index {op.opcodeIndex} is out of range (0..{len(self.codes) - 1})"
            )
        code = self.codes[op.opcodeIndex]
        builtin = BUILTIN_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        if builtin is None:
            raise ModelError(f"{where}: unknown builtin operator code {code.builtinCode}")
        inputs = [None if i == -1 else self._ref(i, f"{where} inputs") for i in _ints(op.inputs)]
        outputs = [self._ref(i, f"{where} outputs") for i in _ints(op.outputs)]
        version = int(code.version)
        spec_op = opmap.SPEC_BY_BUILTIN.get(builtin)
        if spec_op is not None:
            mapping = opmap.SPEC_OPS[spec_op]
            options = op.builtinOptions
            expected = mapping.options
            if expected is None or type(options).__name__ != expected + "T":
                options = getattr(schema, expected + "T")() if expected else None
            attrs = {f.attr: opmap.decode(f, getattr(options, f.field)) for f in mapping.fields}
            return Node(f"{spec_op.lower()}_{index}", spec_op, inputs, outputs, attrs, version)
        if builtin == "CUSTOM":
            custom = _text(code.customCode) or "unnamed"
            attrs: dict[str, Any] = {"custom_options": bytes(_ints(op.customOptions) or [])}
            return Node(
                f"custom_{index}", f"tflite.custom.{custom}", inputs, outputs, attrs, version
            )
        attrs = {}
        if op.builtinOptions is not None:
            attrs["options_type"] = OPTIONS_NAMES.get(op.builtinOptionsType)
            attrs["options"] = opmap.plain(op.builtinOptions)
        if op.builtinOptions2 is not None:
            attrs["options2_type"] = OPTIONS2_NAMES.get(op.builtinOptions2Type)
            attrs["options2"] = opmap.plain(op.builtinOptions2)
        return Node(
            f"{builtin.lower()}_{index}", f"tflite.{builtin}", inputs, outputs, attrs, version
        )

    @staticmethod
    def _check_dataflow(graph: Graph) -> None:
        written: dict[str, str] = {}
        for node in graph.nodes:
            for out in node.outputs:
                if out in written:
                    raise ModelError(
                        f"tensor {out!r} is written by both {written[out]} and {node.describe()}"
                    )
                if graph.tensors[out].is_constant:
                    raise ModelError(f"{node.describe()} writes constant tensor {out!r}")
                if out in graph.inputs:
                    raise ModelError(f"{node.describe()} writes graph input {out!r}")
                written[out] = node.describe()
        try:
            order = graph.topological_order()
        except GraphError as exc:
            raise ModelError(str(exc)) from None
        graph.nodes = [graph.nodes[i] for i in order]
        for name in graph.outputs:
            t = graph.tensors[name]
            if name not in written and name not in graph.inputs and not t.is_constant:
                raise ModelError(f"graph output {name!r} is never written")


def _ints(values: Any) -> list[int]:
    return [] if values is None else [int(v) for v in np.asarray(values).reshape(-1)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
