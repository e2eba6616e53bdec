"""The NPU's command stream: a versioned little-endian binary, and its Python form.

Layout (every integer little-endian; ``docs/npu.md`` has the same tables)::

    header    HEADER_FORMAT: magic "TNPU", major, minor, tensor/layer/command counts,
              blob bytes, SRAM bytes and DRAM bytes the program needs, MAC count it was
              compiled for
    tensors   n x TENSOR_FORMAT: region (0 SRAM, 1 DRAM), dtype (1 = int8), rank, flags
              (1 graph input, 2 graph output), offset in the region, zero point, 4 dimensions
    layers    n x LAYER_FORMAT: operation, two input tensors and one output (0xFFFF = none),
              MAX_PARAMS int32 parameters named per operation by :data:`PARAMS`
    commands  n x COMMAND_FORMAT: opcode, layer, row range, channel range, and the weight
              block (blob offset, stored length, raw length, codec) the tile loads
    blob      weights (compressed per block), per-channel requantization tables
              (int32 bias, multiplier, shift per channel) and 256-byte activation tables

A reader refuses another major version; a higher minor version only adds fields at the end
of a record it can skip. :func:`decode` checks every count, offset and length against the
data, so a truncated or corrupted stream is a :class:`~tinyabi.errors.BackendError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from tinyabi.errors import BackendError

MAGIC = b"TNPU"
VERSION = (1, 0)
HEADER_FORMAT = "<4sHHIIIIIII"
TENSOR_FORMAT = "<BBBBIi4I"
MAX_PARAMS = 16
LAYER_FORMAT = f"<BBHHH{MAX_PARAMS}i"
COMMAND_FORMAT = "<BBHIIIIIIIxxxx"
NONE = 0xFFFF
#: DRAM a stream may ask for beyond its last tensor (the memory plan's alignment).
DRAM_SLACK = 64


class Region(IntEnum):
    """Where a tensor lives."""

    SRAM = 0
    DRAM = 1


class Op(IntEnum):
    """Layer operations, each run by one unit of the NPU."""

    CONV = 1  # MAC array + requantization unit
    DEPTHWISE = 2  # MAC array (one column per channel) + requantization unit
    FULLY_CONNECTED = 3  # MAC array + requantization unit
    AVERAGE_POOL = 4  # pooling unit
    MAX_POOL = 5  # pooling unit
    ADD = 6  # elementwise unit
    MUL = 7  # elementwise unit
    TABLE = 8  # activation unit: 256-entry lookup
    COPY = 9  # DMA: RESHAPE and SQUEEZE


class Codec(IntEnum):
    """How a weight block is stored in the blob."""

    RAW = 0
    ZERO_RUNS = 1
    PALETTE = 2


#: The names of each operation's int32 parameters, in stored order.
PARAMS: dict[Op, tuple[str, ...]] = {
    Op.CONV: (
        "kh", "kw", "sh", "sw", "dh", "dw", "pad_top", "pad_left",
        "input_offset", "output_offset", "act_min", "act_max", "requant", "channels",
    ),
    Op.DEPTHWISE: (
        "kh", "kw", "sh", "sw", "dh", "dw", "pad_top", "pad_left",
        "input_offset", "output_offset", "act_min", "act_max", "requant", "channels",
        "depth_multiplier",
    ),
    Op.FULLY_CONNECTED: (
        "input_offset", "output_offset", "act_min", "act_max", "requant", "channels", "depth",
    ),
    Op.AVERAGE_POOL: ("kh", "kw", "sh", "sw", "pad_top", "pad_left", "act_min", "act_max"),
    Op.MAX_POOL: ("kh", "kw", "sh", "sw", "pad_top", "pad_left", "act_min", "act_max"),
    Op.ADD: (
        "input1_offset", "input2_offset", "output_offset", "left_shift",
        "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift",
        "output_multiplier", "output_shift", "act_min", "act_max",
    ),
    Op.MUL: (
        "input1_offset", "input2_offset", "output_offset",
        "output_multiplier", "output_shift", "act_min", "act_max",
    ),
    Op.TABLE: ("table",),
    Op.COPY: (),
}  # fmt: skip


@dataclass(frozen=True)
class TensorDesc:
    """One int8 tensor: its region, byte offset there, zero point and NHWC-padded shape."""

    region: Region
    offset: int
    zero_point: int
    shape: tuple[int, ...]
    flags: int = 0

    @property
    def size(self) -> int:
        """Bytes (int8 elements)."""
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Layer:
    """One operation of the program: its unit, operands and named parameters."""

    op: Op
    inputs: tuple[int, int]
    output: int
    params: dict[str, int] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class Command:
    """One tile of a layer: output rows ``[row0, row1)`` (elements for elementwise layers) and
    output channels ``[ch0, ch1)``; the weight block it loads (``weight_len == 0``: none)."""

    layer: int
    row0: int
    row1: int
    ch0: int
    ch1: int
    weight_offset: int = 0
    weight_len: int = 0
    weight_raw: int = 0
    codec: Codec = Codec.RAW
    opcode: int = 1


@dataclass
class Program:
    """A compiled partition: what :func:`encode` writes and :func:`decode` reads."""

    tensors: list[TensorDesc]
    layers: list[Layer]
    commands: list[Command]
    blob: bytes
    sram_bytes: int
    dram_bytes: int
    macs: int
    layer_names: list[str] = field(default_factory=list)


def encode(program: Program) -> bytes:
    """The binary command stream of ``program``."""
    parts = [
        struct.pack(
            HEADER_FORMAT,
            MAGIC,
            *VERSION,
            len(program.tensors),
            len(program.layers),
            len(program.commands),
            len(program.blob),
            program.sram_bytes,
            program.dram_bytes,
            program.macs,
        )
    ]
    for t in program.tensors:
        dims = (*t.shape, *(1,) * (4 - len(t.shape)))
        parts.append(
            struct.pack(
                TENSOR_FORMAT, t.region, 1, len(t.shape), t.flags, t.offset, t.zero_point, *dims
            )
        )
    for layer in program.layers:
        names = PARAMS[layer.op]
        values = [int(layer.params[n]) for n in names] + [0] * (MAX_PARAMS - len(names))
        parts.append(struct.pack(LAYER_FORMAT, layer.op, 0, *layer.inputs, layer.output, *values))
    for c in program.commands:
        parts.append(
            struct.pack(
                COMMAND_FORMAT,
                c.opcode,
                c.codec,
                c.layer,
                c.row0,
                c.row1,
                c.ch0,
                c.ch1,
                c.weight_offset,
                c.weight_len,
                c.weight_raw,
            )
        )
    parts.append(program.blob)
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = memoryview(data), 0

    def take(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise BackendError(f"NPU command stream truncated at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values


def decode(data: bytes) -> Program:
    """Read a command stream, checking it: :class:`BackendError` names what is wrong."""
    r = _Reader(data)
    magic, major, minor, nt, nl, nc, nblob, sram, dram, macs = r.take(HEADER_FORMAT)
    if magic != MAGIC:
        raise BackendError("not an NPU command stream (bad magic)")
    if major != VERSION[0]:
        raise BackendError(f"NPU command stream version {major}.{minor} is not {VERSION[0]}.x")
    records = nt * struct.calcsize(TENSOR_FORMAT) + nl * struct.calcsize(LAYER_FORMAT)
    records += nc * struct.calcsize(COMMAND_FORMAT)
    if r.pos + records + nblob != len(data):
        raise BackendError("NPU command stream length does not match its header")
    tensors = []
    for _ in range(nt):
        region, dtype, rank, flags, offset, zp, *dims = r.take(TENSOR_FORMAT)
        if region not in (Region.SRAM, Region.DRAM) or dtype != 1 or not 0 <= rank <= 4:
            raise BackendError("NPU command stream has a bad tensor descriptor")
        t = TensorDesc(Region(region), offset, zp, tuple(dims[:rank]), flags)
        limit = sram if region == Region.SRAM else dram
        if offset + t.size > limit:
            raise BackendError("NPU tensor descriptor lies outside its memory region")
        tensors.append(t)
    extent = max((t.offset + t.size for t in tensors if t.region == Region.DRAM), default=0)
    if dram > extent + DRAM_SLACK:
        raise BackendError("NPU command stream asks for more DRAM than its tensors use")
    layers = []
    for _ in range(nl):
        op, _flags, in0, in1, out, *values = r.take(LAYER_FORMAT)
        if op not in Op._value2member_map_:
            raise BackendError(f"NPU command stream has an unknown operation {op}")
        if any(i != NONE and i >= nt for i in (in0, in1)) or out >= nt:
            raise BackendError("NPU layer names a tensor that does not exist")
        names = PARAMS[Op(op)]
        layers.append(Layer(Op(op), (in0, in1), out, dict(zip(names, values))))
    commands = []
    for _ in range(nc):
        opcode, codec, layer, row0, row1, ch0, ch1, woff, wlen, wraw = r.take(COMMAND_FORMAT)
        if opcode != 1 or layer >= nl or codec not in Codec._value2member_map_:
            raise BackendError("NPU command stream has a bad command")
        if woff + wlen > nblob or row0 > row1 or ch0 > ch1:
            raise BackendError("NPU command refers outside the blob or has an empty range")
        commands.append(Command(layer, row0, row1, ch0, ch1, woff, wlen, wraw, Codec(codec)))
    blob = bytes(data[r.pos :])
    return Program(tensors, layers, commands, blob, sram, dram, macs)
