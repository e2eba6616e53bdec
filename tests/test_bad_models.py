"""Untrusted model files: whatever the bytes, the importer returns a Graph or raises ModelError.

Two halves: seeded mutation runs over every shared model (bit flips, byte overwrites,
truncations, random 32-bit integers at random offsets, swapped chunks; and edits of the unpacked
object tree), which time every import as a hang detector and trace every few under tracemalloc
for allocations out of proportion to the file; and hand-crafted files, one per kind of damage,
each of which must be refused with a message that names the problem.

``TINYABI_FUZZ_ITERATIONS`` sets the total number of mutated files (default 2000): four fifths
damage the bytes (shared out among the models in inverse proportion to how long one of their
imports takes), one fifth edits fields of the unpacked object tree and packs it again, which
reaches the semantic checks that damaged bytes seldom get through the flatbuffer checks to."""

from __future__ import annotations

import math
import os
import random
import struct
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest

from tests.conftest import FLOAT_MODELS, INT8_MODELS, shared_model
from tinyabi.errors import ModelError
from tinyabi.ir.graph import Graph, Node, Quantization, Tensor
from tinyabi.tflite import importer
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import (
    _UNION_ENUMS,
    MAX_TENSOR_BYTES,
    _layout,
    load_tflite,
    unpack_model,
)
from tinyabi.tflite.schema import BUILTIN_CODES, FILE_IDENTIFIER, schema

ITERATIONS = int(os.environ.get("TINYABI_FUZZ_ITERATIONS", "2000"))
BYTE_ITERATIONS = ITERATIONS * 4 // 5
TREE_ITERATIONS = ITERATIONS - BYTE_ITERATIONS
#: Models whose object trees are damaged ("small" is the hand-made model below).
TREE_MODELS = ["small", "kws_ref_model"]
#: Relative share of the mutated files per model: the VWW models have the most tables.
SHARES = {name: 1 if name.startswith("vww") else 2 for name in INT8_MODELS + FLOAT_MODELS}
#: Every how many mutated files one import runs under tracemalloc (which slows it five-fold).
TRACE_EVERY = 16
#: A hang detector, not a performance target: real models import in milliseconds. Measured in
#: CPU time, so that a machine busy with other work does not trip it.
MAX_SECONDS_PER_IMPORT = 2.0
#: Peak traced memory of one import may be at most this many times the file size, plus
#: :data:`MEMORY_SLACK`. The object API's Python objects take up to about 25 bytes per byte of a
#: file made of nothing but small tables; a length or a shape taken on trust costs far more.
MEMORY_FACTOR = 32
MEMORY_SLACK = 16 << 20


# --- running one import under watch ---------------------------------------------------------------


@dataclass
class Watch:
    """Imports files one at a time, recording the slowest import and the largest peak."""

    slowest: float = 0.0
    worst_memory_ratio: float = 0.0
    outcomes: dict[str, int] = field(default_factory=lambda: {"graph": 0, "ModelError": 0})

    def load(self, data: bytes, trace: bool = True) -> Graph | ModelError:
        """Import ``data``; any exception but ModelError propagates."""
        owner = trace and not tracemalloc.is_tracing()
        if owner:
            tracemalloc.start()
        if trace:
            tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0] if trace else 0
        start = time.process_time()
        try:
            result: Graph | ModelError = load_tflite(data)
            self.outcomes["graph"] += 1
        except ModelError as exc:
            result = exc
            self.outcomes["ModelError"] += 1
        finally:
            elapsed = time.process_time() - start
            peak = tracemalloc.get_traced_memory()[1] - base if trace else 0
            if owner:
                tracemalloc.stop()
        self.slowest = max(self.slowest, elapsed)
        self.worst_memory_ratio = max(self.worst_memory_ratio, peak / (len(data) + 1))
        assert elapsed < MAX_SECONDS_PER_IMPORT, f"import took {elapsed:.2f} s of CPU (hang?)"
        assert peak <= MEMORY_FACTOR * len(data) + MEMORY_SLACK, (
            f"import of a {len(data)} byte file peaked at {peak} traced bytes"
        )
        return result


@pytest.fixture
def watch() -> Watch:
    return Watch()


# --- mutations ------------------------------------------------------------------------------------


def _data_regions(data: bytes) -> list[tuple[int, int]]:
    """Where the constant buffers' bytes lie: mutating them only changes weights."""
    model = schema.Model.GetRootAs(data, 0)
    base = np.frombuffer(data, np.uint8).ctypes.data
    regions = []
    for i in range(model.BuffersLength()):
        array = model.Buffers(i).DataAsNumpy()
        if isinstance(array, np.ndarray) and array.size:
            start = array.ctypes.data - base
            regions.append((start, start + array.size))
    return regions


class Mutator:
    """Seeded damage to a model file, aimed mostly at its structure rather than its weights."""

    def __init__(self, data: bytes, seed: int) -> None:
        self.data = data
        self.rng = random.Random(seed)
        in_data = np.zeros(len(data), dtype=bool)
        for start, end in _data_regions(data):
            in_data[start:end] = True
        self.structure = np.flatnonzero(~in_data)

    def _offset(self, size: int, width: int = 1) -> int:
        """A position for damage: usually in the structure, sometimes anywhere."""
        if self.rng.random() < 0.85 and self.structure.size:
            offset = int(self.structure[self.rng.randrange(self.structure.size)])
        else:
            offset = self.rng.randrange(size)
        return min(offset, size - width)

    def _int32(self) -> int:
        size = len(self.data)
        return self.rng.choice(
            [
                self.rng.getrandbits(32),
                self.rng.randrange(size),
                self.rng.randrange(64),
                size,
                size - 4,
                size // 2,
                0,
                0x7FFFFFFF,
                0x80000000,
                0xFFFFFFFF,
                (-self.rng.randrange(1, 64)) & 0xFFFFFFFF,
                3_000_000_000,
            ]
        )

    def flip_bits(self, b: bytearray) -> str:
        for _ in range(self.rng.randint(1, 8)):
            p = self._offset(len(b))
            b[p] ^= 1 << self.rng.randrange(8)
        return "bit flips"

    def overwrite(self, b: bytearray) -> str:
        p = self._offset(len(b))
        n = min(self.rng.randint(1, 16), len(b) - p)
        fill = self.rng.choice(["zeros", "ones", "random"])
        if fill == "random":
            b[p : p + n] = self.rng.randbytes(n)
        else:
            b[p : p + n] = (b"\x00" if fill == "zeros" else b"\xff") * n
        return f"{n} bytes of {fill} at {p}"

    def truncate(self, b: bytearray) -> str:
        n = self._offset(len(b)) if self.rng.random() < 0.5 else self.rng.randrange(len(b))
        del b[n:]
        return f"truncated to {n}"

    def integer(self, b: bytearray) -> str:
        p = self._offset(len(b), 4)
        if self.rng.random() < 0.75:
            p &= ~3
        value = self._int32()
        b[p : p + 4] = value.to_bytes(4, "little")
        return f"int {value:#x} at {p}"

    def swap(self, b: bytearray) -> str:
        n = self.rng.randint(4, 64)
        p, q = self._offset(len(b), n), self._offset(len(b), n)
        b[p : p + n], b[q : q + n] = bytes(b[q : q + n]), bytes(b[p : p + n])
        return f"swapped {n} bytes at {p} and {q}"

    def mutate(self) -> tuple[bytes, str]:
        """One damaged copy of the file and what was done to it."""
        b = bytearray(self.data)
        kinds: list[Callable[[bytearray], str]] = [
            self.flip_bits,
            self.overwrite,
            self.truncate,
            self.integer,
            self.integer,
            self.swap,
        ]
        done = []
        for _ in range(self.rng.choice([1, 1, 1, 2, 3])):
            if len(b) < 8:
                break
            done.append(self.rng.choice(kinds)(b))
        return bytes(b), "; ".join(done)


@pytest.mark.parametrize("name", INT8_MODELS + FLOAT_MODELS)
def test_mutated_models_import_or_raise_model_error(
    name: str, watch: Watch, tmp_path: Path
) -> None:
    data = shared_model(name).read_bytes()
    assert isinstance(watch.load(data), Graph)
    count = max(1, BYTE_ITERATIONS * SHARES[name] // sum(SHARES.values()))
    mutator = Mutator(data, seed=int.from_bytes(name.encode()[:8], "little"))
    failures = []
    for i in range(count):
        mutated, what = mutator.mutate()
        try:
            watch.load(mutated, trace=i % TRACE_EVERY == 0)
        except Exception as exc:  # anything but ModelError, a hang or a blow-up
            path = tmp_path / f"{name}_{i}.tflite"
            path.write_bytes(mutated)
            failures.append(f"#{i} ({what}, saved as {path}): {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {count} failed:\n" + "\n".join(failures[:10])
    # Most mutations hit the structure; both outcomes must occur or the run tests nothing.
    assert watch.outcomes["ModelError"] > count // 10
    assert watch.outcomes["graph"] > 0


# --- a small model to damage by hand --------------------------------------------------------------


def _q(scale: float | list[float], zero_point: int | list[int] = 0, axis: int = 0) -> Quantization:
    scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
    zeros = np.broadcast_to(np.asarray(zero_point, dtype=np.int64), scales.shape)
    return Quantization(scales, zeros, axis)


def small_graph() -> Graph:
    """x -> FULLY_CONNECTED(w, b) -> h -> ADD(c) -> y, int8 with per-axis weights.

    Tensor indices: x 0, w 1, b 2, h 3, c 4, y 5. Operator 0 is FULLY_CONNECTED, 1 is ADD.
    """
    rng = np.random.default_rng(0)
    tensors = [
        Tensor("x", "int8", (1, 4), _q(0.5)),
        Tensor("w", "int8", (4, 4), _q([0.1, 0.2, 0.3, 0.4]), rng.integers(-9, 9, (4, 4), np.int8)),
        Tensor("b", "int32", (4,), _q([0.05, 0.1, 0.15, 0.2]), np.arange(4, dtype=np.int32)),
        Tensor("h", "int8", (1, 4), _q(0.25, 3)),
        Tensor("c", "int8", (1, 4), _q(0.25), np.ones((1, 4), np.int8)),
        Tensor("y", "int8", (1, 4), _q(0.5, -1)),
    ]
    nodes = [
        Node("fc", "FULLY_CONNECTED", ["x", "w", "b"], ["h"], {"fused_activation": "NONE"}),
        Node("add", "ADD", ["h", "c"], ["y"], {"fused_activation": "RELU"}),
    ]
    return Graph({t.name: t for t in tensors}, nodes, ["x"], ["y"], "small")


SMALL = export_tflite(small_graph())


def unpacked() -> Any:
    """A fresh object tree of the small model, to damage."""
    return schema.ModelT.InitFromPackedBuf(SMALL, 0)


def pack(model: Any) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def damaged(change: Callable[[Any], object]) -> bytes:
    """The small model with ``change`` applied to its object tree."""
    model = unpacked()
    change(model)
    return pack(model)


def assert_refused(data: bytes, *words: str) -> ModelError:
    """The file is refused with a ModelError whose message contains every one of ``words``."""
    with pytest.raises(ModelError) as info:
        load_tflite(data)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return info.value


def sub(model: Any) -> Any:
    return model.subgraphs[0]


def tensor(model: Any, index: int) -> Any:
    return sub(model).tensors[index]


def op(model: Any, index: int) -> Any:
    return sub(model).operators[index]


def test_the_small_model_imports() -> None:
    graph = load_tflite(SMALL)
    assert [n.op for n in graph.nodes] == ["FULLY_CONNECTED", "ADD"]
    assert graph.tensor("w").quant is not None and graph.tensor("w").quant.per_axis
    assert load_tflite(pack(unpacked())).tensors.keys() == graph.tensors.keys()


# --- damage to the object tree -----------------------------------------------------------------


class TreeMutator:
    """Seeded edits of an unpacked model: fields set to edge values, then packed again.

    Each edit is undone after packing, so the tree is unpacked once.
    """

    def __init__(self, data: bytes, seed: int) -> None:
        self.model = schema.ModelT.InitFromPackedBuf(data, 0)
        # Edits pick their targets from the undamaged lists, which an edit may replace.
        self.sub = self.model.subgraphs[0]
        self.tensors, self.operators = list(self.sub.tensors), list(self.sub.operators)
        self.codes, self.buffers = list(self.model.operatorCodes), list(self.model.buffers)
        self.rng = random.Random(seed)
        self.undo: list[tuple[Any, str, Any]] = []

    def _put(self, obj: Any, attr: str, value: Any) -> str:
        self.undo.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)
        shown = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
        return f"{type(obj).__name__}.{attr} = {shown[:60]}"

    def _int(self, n: int) -> int:
        """An index or count near the edges of ``0..n``."""
        r = self.rng
        return r.choice([-1, 0, 1, n - 1, n, n + 1, 2**31 - 1, -(2**31), r.randrange(-3, n + 4)])

    def _ints(self, n: int) -> list[int]:
        return [self._int(n) for _ in range(self.rng.choice([0, 1, 1, 2, 3, 4, 9]))]

    def _floats(self) -> list[float]:
        values = [0.0, -1.0, 1e-30, 0.5, 1e30, math.nan, math.inf]
        return [self.rng.choice(values) for _ in range(self.rng.choice([0, 1, 1, 2, 4, 7]))]

    def _pick(self, items: list[Any] | None) -> Any:
        return self.rng.choice(items) if items else None

    def edit_tensor(self) -> str:
        t = self._pick(self.tensors)
        r = self.rng
        edit = r.choice(
            ["type", "shape", "buffer", "name", "scale", "zero", "axis", "quant", "sparse", "ext"]
        )
        q = t.quantization
        if edit == "type":
            return self._put(t, "type", r.randrange(-3, 40))
        if edit == "shape":
            return self._put(
                t,
                "shape",
                [
                    r.choice([-1, 0, 1, 2, 7, 2**16, 2**31 - 1])
                    for _ in range(r.choice([0, 1, 2, 4, 9]))
                ],
            )
        if edit == "buffer":
            return self._put(t, "buffer", self._int(len(self.buffers)) & 0xFFFFFFFF)
        if edit == "name":
            other = self._pick(self.tensors).name
            return self._put(t, "name", r.choice([None, "", other, "x#1", "\u00e9\u4e2d"]))
        if edit == "scale" and q is not None:
            return self._put(q, "scale", self._floats())
        if edit == "zero" and q is not None:
            return self._put(q, "zeroPoint", self._ints(300))
        if edit == "axis" and q is not None:
            return self._put(q, "quantizedDimension", self._int(4))
        if edit == "sparse":
            return self._put(t, "sparsity", schema.SparsityParametersT())
        if edit == "ext":
            return self._put(t, "externalBuffer", r.randrange(0, 3))
        return self._put(t, "quantization", None if r.random() < 0.5 else self._bare_quant())

    @staticmethod
    def _bare_quant() -> Any:
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [0.5, 0.25], [0]
        return q

    def edit_operator(self) -> str:
        op = self._pick(self.operators)
        n = len(self.tensors)
        edit = self.rng.choice(["opcode", "inputs", "outputs", "options_type", "options"])
        if edit == "opcode":
            return self._put(op, "opcodeIndex", self._int(len(self.codes)) & 0xFFFF)
        if edit == "inputs":
            return self._put(op, "inputs", self._ints(n))
        if edit == "outputs":
            return self._put(op, "outputs", self._ints(n))
        if edit == "options_type":
            return self._put(op, "builtinOptionsType", self.rng.randrange(0, 130))
        return self._put(op, "builtinOptions", None)

    def edit_code(self) -> str:
        code = self._pick(self.codes)
        r = self.rng
        edit = r.choice(["builtin", "deprecated", "version", "custom"])
        if edit == "builtin":
            return self._put(code, "builtinCode", r.choice([-5, 0, 32, 127, 128, 210, 9999]))
        if edit == "deprecated":
            return self._put(code, "deprecatedBuiltinCode", r.randrange(-128, 128))
        if edit == "version":
            return self._put(code, "version", self._int(3))
        return self._put(code, "customCode", r.choice(["", "x", None]))

    def edit_buffer(self) -> str:
        buffer = self._pick(self.buffers[1:])
        r = self.rng
        edit = r.choice(["data", "offset", "size"])
        if edit == "data":
            return self._put(
                buffer, "data", np.arange(r.choice([0, 1, 3, 16, 100]), dtype=np.uint8)
            )
        if edit == "offset":
            return self._put(buffer, "offset", r.choice([0, 1, 2, 100, 2**40, 2**64 - 1]))
        return self._put(buffer, "size", r.choice([0, 1, 16, 2**40, 2**64 - 1]))

    def edit_graph(self) -> str:
        model, sub = self.model, self.sub
        n = len(self.tensors)
        r = self.rng
        edit = r.choice(
            ["inputs", "outputs", "operators", "tensors", "subgraphs", "buffers", "codes"]
        )
        if edit in ("inputs", "outputs"):
            return self._put(sub, edit, self._ints(n))
        if edit == "operators":
            ops = list(self.operators)
            r.shuffle(ops)
            return self._put(sub, "operators", ops + ops[: r.choice([0, 0, 1])])
        if edit == "tensors":
            return self._put(sub, "tensors", self.tensors[: r.randrange(n + 1)])
        if edit == "subgraphs":
            return self._put(model, "subgraphs", r.choice([[], [sub, sub]]))
        if edit == "buffers":
            return self._put(model, "buffers", self.buffers[: r.randrange(len(self.buffers) + 1)])
        return self._put(model, "operatorCodes", self.codes[: r.randrange(2)])

    def mutate(self) -> tuple[bytes | None, str]:
        """One damaged file (``None`` when the edits cannot be packed) and what was done."""
        edits = (
            [self.edit_tensor] * 4
            + [self.edit_operator] * 3
            + [
                self.edit_code,
                self.edit_buffer,
                self.edit_graph,
            ]
        )
        done = [self.rng.choice(edits)() for _ in range(self.rng.choice([1, 1, 2, 3]))]
        try:
            data: bytes | None = pack(self.model)
        except (struct.error, TypeError, ValueError, OverflowError, UnicodeError):
            data = None  # a value the field's type cannot hold
        finally:
            for obj, attr, old in reversed(self.undo):
                setattr(obj, attr, old)
            self.undo.clear()
        return data, "; ".join(done)


@pytest.mark.parametrize("name", TREE_MODELS)
def test_damaged_object_trees_import_or_raise_model_error(
    name: str, watch: Watch, tmp_path: Path
) -> None:
    data = SMALL if name == "small" else shared_model(name).read_bytes()
    count = max(1, TREE_ITERATIONS // len(TREE_MODELS))
    mutator = TreeMutator(data, seed=len(name))
    failures, packed = [], 0
    for i in range(count):
        mutated, what = mutator.mutate()
        if mutated is None:
            continue
        packed += 1
        try:
            watch.load(mutated, trace=i % TRACE_EVERY == 0)
        except Exception as exc:
            path = tmp_path / f"{name}_tree_{i}.tflite"
            path.write_bytes(mutated)
            failures.append(f"#{i} ({what}, saved as {path}): {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {packed} failed:\n" + "\n".join(failures[:10])
    assert packed > count // 2
    assert watch.outcomes["ModelError"] > packed // 4 and watch.outcomes["graph"] > 0


# --- the file as a whole --------------------------------------------------------------------------


def test_empty_file() -> None:
    assert_refused(b"", "only 0 bytes")


def test_seven_byte_file() -> None:
    assert_refused(SMALL[:7], "only 7 bytes")


def test_wrong_file_identifier() -> None:
    assert_refused(SMALL[:4] + b"TFL2" + SMALL[8:], "file identifier", "b'TFL2'")


@pytest.mark.parametrize("keep", [8, 12, 0.25, 0.5, 0.9, -1])
def test_truncated_file(keep: float) -> None:
    n = int(keep) if keep >= 1 or keep == -1 else int(len(SMALL) * keep)
    error = assert_refused(SMALL[:n])
    assert any(w in str(error) for w in ("past the end", "beyond the end")), str(error)


def test_root_offset_past_the_end() -> None:
    bad = struct.pack("<I", len(SMALL) + 100) + SMALL[4:]
    assert_refused(bad, "root table offset", "past the end")


def test_paths_that_are_not_model_files(tmp_path: Path) -> None:
    assert_refused(tmp_path / "missing.tflite", "cannot read model file")
    assert_refused(tmp_path, "is a folder, not a model file")
    if Path("/dev/zero").exists():
        assert_refused("/dev/zero", "not a regular file")


# --- lengths and offsets in the flatbuffer --------------------------------------------------------


def _length_word(data: bytes, table: Any, name: str) -> int:
    """Where the length of vector or string ``name`` of ``table`` (a lazy accessor) lies."""
    attrs = list(vars(getattr(schema, type(table).__name__ + "T")()))
    slot = 4 + 2 * [a[0].upper() + a[1:] for a in attrs].index(name)  # fields in schema order
    offset = table._tab.Offset(slot)
    assert offset, f"{type(table).__name__}.{name} is absent"
    position = int(table._tab.Vector(offset)) - 4
    length = getattr(table, name + "Length")() if hasattr(table, name + "Length") else None
    if length is None:
        length = len(getattr(table, name)())
    assert struct.unpack_from("<I", data, position)[0] == length, "not the length word"
    return position


def _with_word(data: bytes, position: int, value: int) -> bytes:
    return data[:position] + struct.pack("<I", value) + data[position + 4 :]


LENGTHS: dict[str, Callable[[Any], tuple[Any, str]]] = {
    "subgraphs": lambda m: (m, "Subgraphs"),
    "operator_codes": lambda m: (m, "OperatorCodes"),
    "buffers": lambda m: (m, "Buffers"),
    "tensors": lambda m: (m.Subgraphs(0), "Tensors"),
    "operators": lambda m: (m.Subgraphs(0), "Operators"),
    "subgraph inputs": lambda m: (m.Subgraphs(0), "Inputs"),
    "shape": lambda m: (m.Subgraphs(0).Tensors(1), "Shape"),
    "scale": lambda m: (m.Subgraphs(0).Tensors(1).Quantization(), "Scale"),
    "zero_point": lambda m: (m.Subgraphs(0).Tensors(1).Quantization(), "ZeroPoint"),
    "buffer data": lambda m: (m.Buffers(1), "Data"),
    "operator inputs": lambda m: (m.Subgraphs(0).Operators(0), "Inputs"),
}


@pytest.mark.parametrize("where", list(LENGTHS))
@pytest.mark.parametrize("length", [3_000_000_000, 2**32 - 1, 2**31])
def test_vector_length_claiming_billions_of_entries(where: str, length: int, watch: Watch) -> None:
    table, name = LENGTHS[where](schema.Model.GetRootAs(SMALL, 0))
    bad = _with_word(SMALL, _length_word(SMALL, table, name), length)
    result = watch.load(bad)
    assert isinstance(result, ModelError)
    message = str(result)
    assert f"claims {length} entries" in message or "past the end" in message, message


def test_vector_length_slightly_too_long(watch: Watch) -> None:
    model = schema.Model.GetRootAs(SMALL, 0)
    position = _length_word(SMALL, model.Buffers(1), "Data")
    result = watch.load(_with_word(SMALL, position, len(SMALL) - position))
    assert isinstance(result, ModelError) and "past the end" in str(result), result


def test_string_length_past_the_end_stays_within_the_file(watch: Watch) -> None:
    model = schema.Model.GetRootAs(SMALL, 0)
    position = _length_word(SMALL, model.Subgraphs(0).Tensors(0), "Name")
    result = watch.load(_with_word(SMALL, position, 2**32 - 1))
    # A string cut short by the end of the file is harmless: it may import, with a bounded name.
    if isinstance(result, Graph):
        assert all(len(name) <= len(SMALL) + 16 for name in result.tensors)


def test_union_fields_are_all_known_to_the_bounds_check() -> None:
    classes = [
        c for n, c in vars(schema).items() if hasattr(schema, n + "T") and hasattr(c, "Init")
    ]
    unions = {name for c in classes for name, _ in _layout(c).unions}
    assert unions == set(_UNION_ENUMS)


# --- tables shared many times over ----------------------------------------------------------------


def _shared_operator_model(copies: int, inputs: int) -> bytes:
    """``copies`` operator entries that all point to one operator with ``inputs`` inputs.

    A builder stores each table once; a crafted file can make one table appear everywhere.
    """
    b = flatbuffers.Builder(1024)
    name = b.CreateString("t")
    schema.TensorStartShapeVector(b, 1)
    b.PrependInt32(1)
    shape = b.EndVector()
    schema.TensorStart(b)
    schema.TensorAddShape(b, shape)
    schema.TensorAddType(b, schema.TensorType.INT8)
    schema.TensorAddName(b, name)
    tensor_table = b.EndObject()
    schema.OperatorStartInputsVector(b, inputs)
    for _ in range(inputs):
        b.PrependInt32(-1)
    op_inputs = b.EndVector()
    schema.OperatorStart(b)
    schema.OperatorAddOpcodeIndex(b, 0)
    schema.OperatorAddInputs(b, op_inputs)
    op_table = b.EndObject()
    schema.SubGraphStartTensorsVector(b, 1)
    b.PrependUOffsetTRelative(tensor_table)
    tensors = b.EndVector()
    schema.SubGraphStartOperatorsVector(b, copies)
    for _ in range(copies):
        b.PrependUOffsetTRelative(op_table)
    operators = b.EndVector()
    schema.SubGraphStart(b)
    schema.SubGraphAddTensors(b, tensors)
    schema.SubGraphAddOperators(b, operators)
    subgraph = b.EndObject()
    schema.OperatorCodeStart(b)
    schema.OperatorCodeAddBuiltinCode(b, BUILTIN_CODES["RELU"])
    schema.OperatorCodeAddDeprecatedBuiltinCode(b, BUILTIN_CODES["RELU"])
    code = b.EndObject()
    schema.ModelStartOperatorCodesVector(b, 1)
    b.PrependUOffsetTRelative(code)
    codes = b.EndVector()
    schema.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(subgraph)
    subgraphs = b.EndVector()
    schema.ModelStart(b)
    schema.ModelAddVersion(b, 3)
    schema.ModelAddOperatorCodes(b, codes)
    schema.ModelAddSubgraphs(b, subgraphs)
    b.Finish(schema.ModelEnd(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def test_one_table_shared_many_times_is_refused_quickly(watch: Watch) -> None:
    # 20 000 operators x 20 000 inputs from a file of about 160 kB.
    result = watch.load(_shared_operator_model(20_000, 20_000))
    assert isinstance(result, ModelError)
    assert "parts shared" in str(result) and "operators" in str(result)


def test_more_tables_than_the_limit_are_refused(
    watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real limit is many thousands; a smaller one keeps the test fast.
    monkeypatch.setattr(importer, "MAX_TABLES", 1000)
    assert isinstance(watch.load(_shared_operator_model(990, 0)), Graph)
    result = watch.load(_shared_operator_model(1000, 0))
    assert isinstance(result, ModelError) and "more than 1000 tables" in str(result), result


def test_many_tensors_sharing_one_name_get_distinct_names(watch: Watch) -> None:
    model = unpacked()
    template = tensor(model, 3)
    sub(model).tensors.extend(template for _ in range(1000))  # packed as separate tables
    graph = watch.load(pack(model))
    assert isinstance(graph, Graph) and len(graph.tensors) == 6 + 1000


def test_colliding_renamed_tensors_stay_distinct() -> None:
    def rename(model: Any) -> None:
        for i, name in enumerate(["x", "w", "x#3", "x", "c", "y"]):  # "x" becomes "x#3"
            tensor(model, i).name = name

    graph = load_tflite(damaged(rename))
    assert len(graph.tensors) == 6


def test_a_buffer_shared_by_many_tensors_is_read_once(watch: Watch) -> None:
    def share(model: Any) -> None:
        big = schema.BufferT()
        big.data = np.zeros(1 << 16, np.uint8)
        model.buffers.append(big)
        for _ in range(500):
            t = schema.TensorT()
            t.shape, t.type, t.name = [1 << 16], schema.TensorType.INT8, "s"
            t.buffer = len(model.buffers) - 1
            sub(model).tensors.append(t)

    data = damaged(share)
    graph = watch.load(data)
    assert isinstance(graph, Graph)
    arrays = [
        t.data for t in graph.tensors.values() if t.data is not None and t.data.size == 1 << 16
    ]
    assert len(arrays) == 500 and len({a.ctypes.data for a in arrays}) == 1


# --- tensors --------------------------------------------------------------------------------------


def test_negative_shape_dimension() -> None:
    assert_refused(damaged(lambda m: setattr(tensor(m, 3), "shape", [1, -4])), "negative dimension")


@pytest.mark.parametrize("shape", [[2**20, 2**20], [2**31 - 1] * 8, [65536, 65536, 65536]])
def test_huge_shape(shape: list[int], watch: Watch) -> None:
    result = watch.load(damaged(lambda m: setattr(tensor(m, 3), "shape", shape)))
    assert isinstance(result, ModelError)
    assert f"over the {MAX_TENSOR_BYTES} byte limit" in str(result)


def test_rank_over_the_limit() -> None:
    assert_refused(damaged(lambda m: setattr(tensor(m, 3), "shape", [1] * 9)), "rank 9")


def test_buffer_size_does_not_match_shape() -> None:
    def shrink(model: Any) -> None:
        model.buffers[tensor(model, 1).buffer].data = np.zeros(15, np.uint8)

    assert_refused(damaged(shrink), "tensor 1 ('w')", "has 15 bytes", "needs 16")


def test_buffer_index_out_of_range() -> None:
    assert_refused(damaged(lambda m: setattr(tensor(m, 1), "buffer", 99)), "buffer index 99")


@pytest.mark.parametrize(
    ("offset", "size"), [(10**9, 16), (64, 2**62), (2**63, 2**63), (2**64 - 1, 1)]
)
def test_external_buffer_past_the_end(offset: int, size: int) -> None:
    def external(model: Any) -> None:
        buffer = model.buffers[tensor(model, 1).buffer]
        buffer.data, buffer.offset, buffer.size = None, offset, size

    assert_refused(damaged(external), "tensor 1 ('w')", "beyond the end of the file")


def test_external_buffer_inside_the_file_is_read() -> None:
    # Models over 2 GiB keep their weights after the flatbuffer, at an offset from the start.
    w = small_graph().tensor("w").data
    assert w is not None
    model = unpacked()
    buffer = model.buffers[tensor(model, 1).buffer]
    # Any non-zero offset packs to the same size (a zero one would be left out), so the packed
    # size with a placeholder offset is where the appended weights start.
    buffer.data, buffer.offset, buffer.size = None, 2**20, 16
    buffer.offset = len(pack(model))
    graph = load_tflite(pack(model) + w.tobytes())
    assert np.array_equal(graph.tensor("w").data, w)


def test_unknown_tensor_type() -> None:
    assert_refused(damaged(lambda m: setattr(tensor(m, 3), "type", 100)), "element type 100")


def test_tensor_type_outside_the_abi_imports() -> None:
    def to_float16(model: Any) -> None:
        tensor(model, 4).type = schema.TensorType.FLOAT16
        model.buffers[tensor(model, 4).buffer].data = np.zeros(8, np.uint8)

    graph = load_tflite(damaged(to_float16))
    c = graph.tensor("c")
    assert c.dtype == "float16" and c.data is not None and c.data.dtype == np.float16


def test_tensor_in_an_external_file_is_refused() -> None:
    assert_refused(
        damaged(lambda m: setattr(tensor(m, 1), "externalBuffer", 3)), "external buffer 3"
    )


def test_sparse_tensor_is_refused() -> None:
    def sparse(model: Any) -> None:
        tensor(model, 1).sparsity = schema.SparsityParametersT()

    assert_refused(damaged(sparse), "tensor 1 ('w')", "sparse")


# --- quantization ---------------------------------------------------------------------------------


def test_per_axis_scale_count_does_not_match_axis() -> None:
    def three_scales(model: Any) -> None:
        q = tensor(model, 1).quantization
        q.scale, q.zeroPoint = [0.1, 0.2, 0.3], [0, 0, 0]

    assert_refused(damaged(three_scales), "3 per-axis scales do not match axis 0 of shape [4, 4]")


def test_per_axis_axis_out_of_range() -> None:
    assert_refused(
        damaged(lambda m: setattr(tensor(m, 1).quantization, "quantizedDimension", 7)),
        "do not match axis 7",
    )


def test_scale_and_zero_point_counts_differ() -> None:
    assert_refused(
        damaged(lambda m: setattr(tensor(m, 1).quantization, "zeroPoint", [0, 0])),
        "4 scales but 2 zero points",
    )


@pytest.mark.parametrize("scale", [0.0, -0.5, math.nan, math.inf])
def test_non_positive_or_non_finite_scale(scale: float) -> None:
    assert_refused(
        damaged(lambda m: setattr(tensor(m, 3).quantization, "scale", [scale])),
        "tensor 3 ('h')",
        "finite and positive",
    )


# --- operators ------------------------------------------------------------------------------------


def test_opcode_index_out_of_range() -> None:
    assert_refused(
        damaged(lambda m: setattr(op(m, 1), "opcodeIndex", 7)), "operator 1", "opcode index 7"
    )


def test_unknown_builtin_code() -> None:
    def unknown(model: Any) -> None:
        model.operatorCodes[0].builtinCode = 9999
        model.operatorCodes[0].deprecatedBuiltinCode = 127

    assert_refused(damaged(unknown), "unknown builtin operator code 9999")


@pytest.mark.parametrize("index", [6, 99, -2, 2**31 - 1])
def test_operator_input_index_out_of_range(index: int) -> None:
    assert_refused(
        damaged(lambda m: setattr(op(m, 0), "inputs", [0, index, 2])),
        "operator 0 inputs",
        f"tensor index {index} is out of range",
    )


@pytest.mark.parametrize("index", [6, -1])
def test_operator_output_index_out_of_range(index: int) -> None:
    assert_refused(
        damaged(lambda m: setattr(op(m, 1), "outputs", [index])),
        "operator 1 outputs",
        f"tensor index {index} is out of range",
    )


def test_cyclic_graph() -> None:
    # FULLY_CONNECTED reads ADD's output y, ADD reads FULLY_CONNECTED's output h.
    assert_refused(damaged(lambda m: setattr(op(m, 0), "inputs", [5, 1, 2])), "cycle")


def test_tensor_written_by_two_operators() -> None:
    error = assert_refused(damaged(lambda m: setattr(op(m, 1), "outputs", [3])), "'h'")
    assert "written by both" in str(error)


def test_operator_writes_a_constant_tensor() -> None:
    assert_refused(
        damaged(lambda m: setattr(op(m, 1), "outputs", [4])), "writes constant tensor 'c'"
    )


def test_operator_writes_a_graph_input() -> None:
    assert_refused(damaged(lambda m: setattr(op(m, 1), "outputs", [0])), "writes graph input 'x'")


def test_operator_reads_a_tensor_nothing_provides() -> None:
    assert_refused(damaged(lambda m: setattr(sub(m), "inputs", [])), "reads tensor 'x'")


# --- the subgraph ---------------------------------------------------------------------------------


def test_zero_subgraphs() -> None:
    assert_refused(damaged(lambda m: setattr(m, "subgraphs", [])), "no subgraphs")


@pytest.mark.parametrize("field_name", ["inputs", "outputs"])
@pytest.mark.parametrize("index", [6, 1000, -1])
def test_graph_input_or_output_index_out_of_range(field_name: str, index: int) -> None:
    assert_refused(
        damaged(lambda m: setattr(sub(m), field_name, [index])),
        f"subgraph {field_name}",
        f"tensor index {index} is out of range",
    )


def test_graph_output_never_written() -> None:
    assert_refused(
        damaged(lambda m: setattr(op(m, 1), "outputs", [])), "graph output 'y' is never written"
    )


def test_unpack_model_refuses_like_load_tflite() -> None:
    with pytest.raises(ModelError, match="root table offset"):
        unpack_model(struct.pack("<I", 2**31) + SMALL[4:])
