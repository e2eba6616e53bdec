"""Import a ``.tflite`` flatbuffer into the graph IR.

Model files are untrusted. Before the flatbuffers object API unpacks anything, a bounded walk
over the lazy accessors visits everything the unpacker will visit and charges every table,
vector and string the bytes it must occupy in the file, so a crafted length, or parts of the
file shared many times over, cannot make the unpacker loop or allocate out of proportion to the
file. Afterwards every index, shape, buffer and quantization parameter is checked against the
rest of the file. Whatever is wrong becomes a :class:`~tinyabi.errors.ModelError` that says
what and where; no other exception escapes :func:`load_tflite` for any file content.

Metadata that is inconsistent but that TensorFlow Lite Micro reads one unambiguous way (older
converters' per-channel biases with axis 3, a single zero point for many scales, a variable's
buffer of zeros, the scratch tensors of a model compiled by Vela...) is normalized to what TFLM
does, each time with a note in :attr:`~tinyabi.ir.graph.Graph.import_notes`
(:mod:`tinyabi.tflite.normalize` has the rules).
"""

from __future__ import annotations

import functools
import math
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyabi.errors import GraphError, ModelError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.tflite import normalize
from tinyabi.tflite import options as opmap
from tinyabi.tflite.schema import (
    BUILTIN_NAMES,
    FILE_IDENTIFIER,
    OPTIONS2_NAMES,
    OPTIONS_NAMES,
    TENSOR_TYPES,
    schema,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_RANK",
    "MAX_TABLES",
    "MAX_TENSOR_BYTES",
    "load_tflite",
    "read_model_bytes",
    "unpack_model",
]

#: Largest model file tinyabi reads (flatbuffers address at most 2 GiB).
MAX_FILE_BYTES = 2**31 - 1
#: Largest tensor tinyabi accepts, in bytes: a guard against shapes crafted to exhaust memory.
MAX_TENSOR_BYTES = 2**28
#: Largest rank tinyabi accepts.
MAX_RANK = 8
#: Most tables (tensors, operators, buffers, options...) a model may have. The object API spends
#: about a kilobyte and tens of microseconds on each, however small the table is in the file, so
#: this bounds the import of a file made of nothing but tiny tables; MLPerf Tiny models have a
#: few hundred.
MAX_TABLES = 2**16

#: Element types outside the ABI that can still appear on extension nodes.
_EXTRA_TYPES: dict[int, str] = {
    schema.TensorType.FLOAT16: "float16",
    schema.TensorType.FLOAT64: "float64",
    schema.TensorType.UINT16: "uint16",
    schema.TensorType.UINT32: "uint32",
    schema.TensorType.UINT64: "uint64",
}

#: Bytes of a flatbuffer offset or vector length.
_WORD = 4
#: How many times over the bounds check lets the parts of a file add up to its size. A file
#: written by a flatbuffers builder stores each part once (sum <= 1); the slack admits builders
#: that share strings or vectors while keeping the unpacker's work linear in the file size.
_SHARING_ALLOWANCE = 2

#: Union fields of the schema (by accessor name) and the enum that names their member tables.
_UNION_ENUMS: dict[str, Any] = {
    "BuiltinOptions": schema.BuiltinOptions,
    "BuiltinOptions2": schema.BuiltinOptions2,
    "Details": schema.QuantizationDetails,
    "ArraySegments": schema.SparseIndexVector,
    "ArrayIndices": schema.SparseIndexVector,
}


def read_model_bytes(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> bytes:
    """The bytes of a model given as a path or as bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    path = Path(source)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ModelError(f"{path} is a folder, not a model file")
        if not stat.S_ISREG(info.st_mode):
            raise ModelError(f"{path} is not a regular file (a model is read from a file)")
        if info.st_size > MAX_FILE_BYTES:
            raise ModelError(
                f"{path}: {info.st_size} bytes is larger than the 2 GiB a flatbuffer can be"
            )
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"{path} is larger than the 2 GiB a flatbuffer can be")
    return data


def load_tflite(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Graph:
    """Import the main subgraph of a ``.tflite`` model (a path or the file's bytes).

    Raises :class:`ModelError`, and nothing else, for any malformed or unsupported file.
    """
    buf = read_model_bytes(source)
    model = unpack_model(buf)
    try:
        return _Importer(model, buf).graph()
    except ModelError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ModelError(f"model is too large or too deeply nested: {type(exc).__name__}") from None


def unpack_model(buf: bytes) -> Any:
    """Check the flatbuffer's structure within bounds, then unpack it with the object API."""
    if len(buf) < 8:
        raise ModelError(f"not a TFLite model: the file has only {len(buf)} bytes")
    if len(buf) > MAX_FILE_BYTES:
        raise ModelError("not a TFLite model: larger than 2 GiB")
    if buf[4:8] != FILE_IDENTIFIER:
        raise ModelError(
            f"not a TFLite model: file identifier is {bytes(buf[4:8])!r}, "
            f"expected {FILE_IDENTIFIER!r}"
        )
    _check_bounds(buf)
    try:
        return schema.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as exc:
        error = ModelError(f"malformed flatbuffer: {_describe(exc, len(buf))}")
    _check_bounds(buf, exact=True)  # to say where, if it can
    raise error


def _check_bounds(buf: bytes, exact: bool = False) -> None:
    """Refuse, before unpacking, a file whose structure does not fit within its own bytes."""
    root = int.from_bytes(buf[:_WORD], "little")
    if root > len(buf) - _WORD:
        raise ModelError(
            f"malformed flatbuffer: root table offset {root} points past the end of the file "
            f"({len(buf)} bytes)"
        )
    check = _BoundsCheck(len(buf), exact)
    try:
        check.root(schema.Model.GetRootAs(buf, 0))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"malformed flatbuffer at {check.where()}: {_describe(exc, len(buf))}"
        ) from None


def _describe(exc: BaseException, size: int) -> str:
    """What a low-level exception of the flatbuffers runtime means for the file."""
    if isinstance(exc, struct.error):
        return f"reads past the end of the file ({size} bytes)"
    if isinstance(exc, ValueError) and "buffer is smaller than requested size" in str(exc):
        return f"a vector runs past the end of the file ({size} bytes)"
    if isinstance(exc, TypeError) and str(exc).startswith("bad number"):
        return f"an offset points outside the file ({size} bytes)"
    if isinstance(exc, (RecursionError, MemoryError)):
        return f"structure too large or too deeply nested ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class _Layout:
    """The accessors of a generated table class that lead to more than an inline scalar."""

    numbers: tuple[tuple[str, str, str], ...]  # vectors of numbers: field, length, as numpy
    lists: tuple[tuple[str, str], ...]  # vectors of tables or strings: field, length
    unions: tuple[tuple[str, str], ...]  # field, union tag
    references: tuple[str, ...]  # tables and strings
    scalars: tuple[str, ...]


@functools.cache
def _layout(table_class: type) -> _Layout:
    """Read from the object API class: fields that unpack to ``None`` by default are exactly the
    vectors, strings, tables and unions (scalars default to a number)."""
    unpacked = getattr(schema, table_class.__name__ + "T")()
    fields = {a[0].upper() + a[1:]: default for a, default in vars(unpacked).items()}
    names = [n for n, default in fields.items() if default is None]
    vectors = [n for n in names if hasattr(table_class, n + "Length")]
    unions = [n for n in names if n not in vectors and hasattr(table_class, n + "Type")]
    return _Layout(
        numbers=tuple(
            (n, n + "Length", n + "AsNumpy") for n in vectors if hasattr(table_class, n + "AsNumpy")
        ),
        lists=tuple((n, n + "Length") for n in vectors if not hasattr(table_class, n + "AsNumpy")),
        unions=tuple((n, n + "Type") for n in unions),
        references=tuple(n for n in names if n not in vectors and n not in unions),
        scalars=tuple(n for n, default in fields.items() if default is not None),
    )


@functools.cache
def _union_members(field: str) -> dict[int, type]:
    """Union tag -> accessor class of the member table, for a union field."""
    enum = _UNION_ENUMS[field]
    return {
        value: getattr(schema, name)
        for name, value in vars(enum).items()
        if isinstance(value, int) and not name.startswith("_") and hasattr(schema, name)
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class _BoundsCheck:
    """A walk over the lazy accessors that visits what ``ModelT.InitFromPackedBuf`` will visit.

    Every table is charged its vtable offset, every vector and string its length word and its
    contents, every reference its offset: what each part must occupy in a file that stores it
    once. A file whose parts add up to more than it holds (times :data:`_SHARING_ALLOWANCE`)
    claims lengths it does not have or refers to the same parts over and over; either way it
    is refused before the unpacker's work, which is proportional to the same sum, can explode.

    A vector of numbers unpacks to a numpy view of the file, whose bounds numpy checks, so the
    walk only charges it a byte an entry (which keeps what the importer makes of it linear).
    Scalars cost nothing to read and are skipped. With ``exact``, the walk makes the views and
    reads the scalars too: it runs after the unpacker failed, to say where.
    """

    def __init__(self, size: int, exact: bool = False) -> None:
        self.size = size
        self.exact = exact
        self.left = size * _SHARING_ALLOWANCE
        self.tables = 0
        self.path: list[str] = []

    def where(self) -> str:
        """The part being checked, as ``subgraphs[0].tensors[3].shape``."""
        text = "".join(p if p.startswith("[") else "." + _snake(p) for p in self.path)
        return text.lstrip(".") or "the root table"

    def root(self, model: Any) -> None:
        """Check the whole file from its root table."""
        self._spend(2 * _WORD)  # root offset and file identifier
        self._table(model)

    def _spend(self, nbytes: int) -> None:
        if nbytes > self.left:
            raise ModelError(
                f"malformed flatbuffer at {self.where()}: the file's tables, vectors and strings "
                f"add up to more than {_SHARING_ALLOWANCE} times its {self.size} bytes "
                "(lengths too large or parts shared many times over)"
            )
        self.left -= nbytes

    def _claims(self, length: int, width: int) -> int:
        """The bytes of a vector, refused outright when the file cannot hold them at all."""
        nbytes = 2 * _WORD + length * width
        if nbytes > self.size:
            raise ModelError(
                f"malformed flatbuffer at {self.where()}: the vector claims {length} entries, "
                f"more than the file ({self.size} bytes) can hold"
            )
        return nbytes

    def _count(self, tables: int) -> None:
        if self.tables + tables > MAX_TABLES:
            raise ModelError(
                f"malformed flatbuffer at {self.where()}: the model has more than {MAX_TABLES} "
                "tables, the most tinyabi imports"
            )

    def _table(self, table: Any) -> None:
        self._count(1)
        self.tables += 1
        self._spend(_WORD)
        layout = _layout(table.__class__)
        if self.exact:
            for name in layout.scalars:
                self.path.append(name)
                getattr(table, name)()
                self.path.pop()
        for name, length_of, as_numpy in layout.numbers:
            length = getattr(table, length_of)()
            if length:
                self.path.append(name)
                self._spend(self._claims(length, 1))
                if self.exact:
                    self._numbers(getattr(table, as_numpy), length)
                self.path.pop()
        for name, length_of in layout.lists:
            length = getattr(table, length_of)()
            if length:
                self.path.append(name)
                self._list(getattr(table, name), length)
                self.path.pop()
        for name in layout.references:
            value = getattr(table, name)()
            if isinstance(value, bytes):
                self._spend(2 * _WORD + len(value))
            elif value is not None:
                self.path.append(name)
                self._spend(_WORD)
                self._table(value)
                self.path.pop()
        for name, tag in layout.unions:
            value = getattr(table, name)()
            if value is not None:
                self.path.append(name)
                self._union(name, getattr(table, tag)(), value)
                self.path.pop()

    def _numbers(self, as_numpy: Any, length: int) -> None:
        try:
            as_numpy()
        except ValueError:
            raise ModelError(
                f"malformed flatbuffer at {self.where()}: the vector of {length} entries "
                f"runs past the end of the file ({self.size} bytes)"
            ) from None

    def _list(self, item: Any, length: int) -> None:
        self._spend(self._claims(length, _WORD))
        self._count(length)
        for j in range(length):
            self.path.append(f"[{j}]")
            value = item(j)
            if isinstance(value, bytes):
                self._spend(_WORD + len(value))
            elif value is not None:
                self._table(value)
            self.path.pop()

    def _union(self, name: str, tag: int, value: Any) -> None:
        if name not in _UNION_ENUMS:
            raise ModelError(f"malformed flatbuffer at {self.where()}: union field not known")
        member_class = _union_members(name).get(tag)
        if member_class is not None:  # the object API drops unknown members as well
            member = member_class()
            member.Init(value.Bytes, value.Pos)
            self._spend(_WORD)
            self._table(member)


class _Importer:
    """Turns an unpacked ``ModelT`` into a :class:`Graph`, checking it on the way."""

    def __init__(self, model: Any, buf: bytes) -> None:
        self.model = model
        self.buf = buf
        if not model.subgraphs:
            raise ModelError("the model has no subgraphs")
        self.sub = model.subgraphs[0]
        if self.sub is None:
            raise ModelError("subgraph 0 is missing")
        self.buffers = model.buffers or []
        self.codes = model.operatorCodes or []
        self.tensors = self.sub.tensors or []
        self.names: list[str] = []
        self.raw: dict[int, bytes | None] = {}
        #: What was normalized, one line per tensor and rule (see :mod:`.normalize`).
        self.notes: list[str] = []

    def graph(self) -> Graph:
        """The checked graph of the main subgraph."""
        taken: set[str] = set()
        tensors = [self._tensor(i, t, taken) for i, t in enumerate(self.tensors)]
        self.names = [t.name for t in tensors]
        nodes = [self._node(i, op) for i, op in enumerate(self.sub.operators or [])]
        graph = Graph(
            tensors={t.name: t for t in tensors},
            nodes=nodes,
            inputs=[self._ref(i, "subgraph inputs") for i in _ints(self.sub.inputs)],
            outputs=[self._ref(i, "subgraph outputs") for i in _ints(self.sub.outputs)],
            name=_text(self.sub.name) or "main",
        )
        normalize.bias_quantization(graph, self.notes)
        normalize.scratch_tensors(graph, self.notes)
        self._check_dataflow(graph)
        graph.import_notes = self.notes
        return graph

    def _ref(self, index: int, where: str) -> str:
        if not 0 <= index < len(self.names):
            raise ModelError(f"{where}: tensor index {index} is out of range {_span(self.names)}")
        return self.names[index]

    @staticmethod
    def _unique_name(t: Any, index: int, taken: set[str]) -> str:
        name = _text(t.name) or f"tensor_{index}"
        if name in taken:
            base, n = f"{name}#{index}", 1
            name = base
            while name in taken:
                name, n = f"{base}.{n}", n + 1
        taken.add(name)
        return name

    def _tensor(self, index: int, t: Any, taken: set[str]) -> Tensor:
        if t is None:
            raise ModelError(f"tensor {index} is missing")
        name = self._unique_name(t, index, taken)
        where = f"tensor {index} ({name!r})"
        dtype = TENSOR_TYPES.get(t.type) or _EXTRA_TYPES.get(t.type)
        if dtype is None:
            raise ModelError(f"{where}: element type {t.type} is unknown or not supported")
        shape = self._shape(where, t.shape)
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes > MAX_TENSOR_BYTES:
            raise ModelError(
                f"{where}: shape {list(shape)} needs {nbytes} bytes, "
                f"over the {MAX_TENSOR_BYTES} byte limit"
            )
        if t.sparsity is not None:
            raise ModelError(f"{where}: sparse tensors are not supported")
        if t.externalBuffer:
            raise ModelError(
                f"{where}: data in external buffer {t.externalBuffer} is not supported"
            )
        normalize.shape_signature(name, t.shapeSignature, shape, self.notes)
        quant = normalize.quantization(where, name, t.quantization, shape, dtype, self.notes)
        data = self._data(where, t.buffer, dtype, shape, nbytes)
        variable = bool(t.isVariable)
        if variable:
            reset = normalize.reset_value(where, dtype, quant)
            normalize.variable_data(where, name, data, reset, self.notes)
            data = None
        return Tensor(
            name=name, dtype=dtype, shape=shape, quant=quant, data=data, variable=variable
        )

    @staticmethod
    def _shape(where: str, values: Any) -> tuple[int, ...]:
        rank = 0 if values is None else int(np.size(values))
        if rank > MAX_RANK:
            raise ModelError(f"{where}: rank {rank} exceeds the limit of {MAX_RANK}")
        shape = tuple(_ints(values))
        if any(d < 0 for d in shape):
            raise ModelError(f"{where}: shape {list(shape)} has a negative dimension")
        return shape

    def _data(
        self, where: str, index: int, dtype: str, shape: tuple[int, ...], nbytes: int
    ) -> np.ndarray | None:
        if index == 0:
            return None
        raw = self._buffer(where, index)
        if raw is None:
            return None
        if len(raw) != nbytes:
            raise ModelError(
                f"{where}: buffer {index} has {len(raw)} bytes, "
                f"but shape {list(shape)} of {dtype} needs {nbytes}"
            )
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)

    def _buffer(self, where: str, index: int) -> bytes | None:
        """The bytes of a buffer, read once however many tensors share it."""
        if index in self.raw:
            return self.raw[index]
        if not 0 <= index < len(self.buffers) or self.buffers[index] is None:
            raise ModelError(f"{where}: buffer index {index} is out of range {_span(self.buffers)}")
        buffer = self.buffers[index]
        raw: bytes | None = None
        if buffer.offset > 1:
            end = buffer.offset + buffer.size
            if end > len(self.buf):
                raise ModelError(
                    f"{where}: buffer {index} (offset {buffer.offset}, size {buffer.size}) "
                    f"lies beyond the end of the file ({len(self.buf)} bytes)"
                )
            raw = self.buf[buffer.offset : end]
        elif buffer.data is not None and len(buffer.data):
            raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
        self.raw[index] = raw
        return raw

    def _builtin(self, where: str, op: Any) -> tuple[Any, str]:
        if not 0 <= op.opcodeIndex < len(self.codes) or self.codes[op.opcodeIndex] is None:
            raise ModelError(
                f"{where}: opcode index {op.opcodeIndex} is out of range {_span(self.codes)}"
            )
        code = self.codes[op.opcodeIndex]
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        builtin = BUILTIN_NAMES.get(number)
        if builtin is None:
            raise ModelError(f"{where}: unknown builtin operator code {number}")
        return code, builtin

    def _node(self, index: int, op: Any) -> Node:
        where = f"operator {index}"
        if op is None:
            raise ModelError(f"{where} is missing")
        code, builtin = self._builtin(where, op)
        inputs = [None if i == -1 else self._ref(i, f"{where} inputs") for i in _ints(op.inputs)]
        outputs = [self._ref(i, f"{where} outputs") for i in _ints(op.outputs)]
        version = int(code.version)
        attrs: dict[str, Any]
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
            attrs = {"custom_options": _bytes(op.customOptions)}
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
        inputs = set(graph.inputs)
        for node in graph.nodes:
            for out in node.outputs:
                if out in written:
                    raise ModelError(
                        f"tensor {out!r} is written by both {written[out]} and {node.describe()}"
                    )
                if graph.tensors[out].is_constant:
                    raise ModelError(f"{node.describe()} writes constant tensor {out!r}")
                if out in inputs:
                    raise ModelError(f"{node.describe()} writes graph input {out!r}")
                written[out] = node.describe()
        try:
            order = graph.topological_order()
        except GraphError as exc:
            raise ModelError(str(exc)) from None
        graph.nodes = [graph.nodes[i] for i in order]
        for name in graph.outputs:
            t = graph.tensors[name]
            if name not in written and name not in inputs and not t.is_constant:
                raise ModelError(f"graph output {name!r} is never written")


def _span(items: list[Any]) -> str:
    return f"(0..{len(items) - 1})" if items else "(there are none)"


def _ints(values: Any) -> list[int]:
    return [] if values is None else [int(v) for v in np.asarray(values).reshape(-1).tolist()]


def _bytes(values: Any) -> bytes:
    return b"" if values is None else np.asarray(values, dtype=np.uint8).tobytes()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
