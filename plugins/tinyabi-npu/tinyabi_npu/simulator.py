"""The NPU simulator: executes a binary command stream, command by command.

It reads nothing but the stream (:func:`tinyabi_npu.stream.decode`): tensors are byte ranges of
an SRAM and a DRAM array, each command computes one tile of its layer from those bytes with
the unit's integer arithmetic, and writes the tile's bytes back. The arithmetic is TFLite's
(int32 accumulators, double-rounding requantization with
:mod:`tinyabi.quantization.fixed_point`, no float anywhere in the result: the float64 matrix
product of int8 values is exact), so outputs are byte-identical with TensorFlow Lite Micro.

Cycles, traffic and energy come from :mod:`tinyabi_npu.cycles`; they depend only on the
program, so they are computed once per stream. Weight blocks are decoded once when the stream
is loaded (the decoder is part of the DMA path; its cost is the stored bytes). A run allocates
its own memories, so one :class:`Simulator` may run from several threads at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinyabi.errors import BackendError
from tinyabi.quantization.fixed_point import multiply_by_quantized_multiplier, wrap_int32
from tinyabi_npu.compress import decompress
from tinyabi_npu.config import NpuConfig
from tinyabi_npu.cycles import CommandCost, input_rows, schedule
from tinyabi_npu.stream import NONE, Command, Layer, Op, Program, Region, decode


class Simulator:
    """A loaded command stream, ready to run."""

    def __init__(self, data: bytes, config: NpuConfig) -> None:
        self.program: Program = decode(data)
        self.config = config
        p = self.program
        if p.macs != config.macs or p.sram_bytes > config.sram_bytes:
            raise BackendError(
                f"the NPU stream was compiled for {p.macs} MACs and {p.sram_bytes} B of SRAM, "
                f"not this NPU's {config.macs} MACs and {config.sram_bytes} B"
            )
        for c in p.commands:
            problem = _command_problem(p, c)
            if problem:
                raise BackendError(f"NPU command for layer {c.layer} is invalid: {problem}")
        self.inputs = [i for i, t in enumerate(p.tensors) if t.flags & 1]
        self.outputs = [i for i, t in enumerate(p.tensors) if t.flags & 2]
        self._weights: dict[tuple[int, int], np.ndarray] = {}
        for c in p.commands:
            key = (c.weight_offset, c.weight_len)
            if c.weight_len and key not in self._weights:
                stored = p.blob[c.weight_offset : c.weight_offset + c.weight_len]
                block = decompress(c.codec, stored, c.weight_raw)
                channels = c.ch1 - c.ch0
                if channels < 1 or block.size % channels:
                    raise BackendError("NPU weight block does not match its channel range")
                # [K, channels], contiguous: the operand BLAS wants on the right.
                self._weights[key] = np.ascontiguousarray(
                    block.reshape(channels, -1).T, dtype=np.float64
                )
        self._requant = [self._requant_table(layer) for layer in p.layers]
        self._tables = [self._table(layer) for layer in p.layers]
        self.costs: list[CommandCost] = schedule(p, config)

    def _blob_i32(self, offset: int, count: int) -> np.ndarray:
        end = offset + 4 * count
        if offset < 0 or end > len(self.program.blob):
            raise BackendError("NPU layer table lies outside the blob")
        return np.frombuffer(self.program.blob, dtype="<i4", count=count, offset=offset)

    def _requant_table(self, layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if layer.op not in (Op.CONV, Op.DEPTHWISE, Op.FULLY_CONNECTED):
            return None
        n = layer.params["channels"]
        table = self._blob_i32(layer.params["requant"], 3 * n).astype(np.int64)
        return table[:n], table[n : 2 * n], table[2 * n :]

    def _table(self, layer: Layer) -> np.ndarray | None:
        if layer.op != Op.TABLE:
            return None
        offset = layer.params["table"]
        if offset < 0 or offset + 256 > len(self.program.blob):
            raise BackendError("NPU activation table lies outside the blob")
        table = np.frombuffer(self.program.blob, dtype=np.int8, count=256, offset=offset)
        return np.concatenate([table[128:], table[:128]])  # indexed by the input byte

    @property
    def total_cycles(self) -> int:
        """Cycles of one inference."""
        return sum(c.cycles for c in self.costs)

    def run(
        self, inputs: Sequence[np.ndarray], layer_seconds: list[float] | None = None
    ) -> list[np.ndarray]:
        """Run once: ``inputs`` in the stream's input order; returns copies of the outputs.

        With ``layer_seconds`` (one entry per layer), adds the host time each layer's commands
        took to its entry."""
        p = self.program
        memories = {
            Region.SRAM: np.zeros(p.sram_bytes, np.int8),
            Region.DRAM: np.zeros(p.dram_bytes, np.int8),
        }
        if len(inputs) != len(self.inputs):
            raise BackendError(f"the NPU program takes {len(self.inputs)} inputs")
        for index, value in zip(self.inputs, inputs):
            view = self._view(memories, index)
            view[...] = np.asarray(value, dtype=np.int8).reshape(view.shape)
        if layer_seconds is None:
            for command in p.commands:
                self._execute(memories, command)
        else:
            clock = time.perf_counter
            for command in p.commands:
                start = clock()
                self._execute(memories, command)
                layer_seconds[command.layer] += clock() - start
        return [self._view(memories, i).copy() for i in self.outputs]

    def _view(self, memories: dict[Region, np.ndarray], index: int) -> np.ndarray:
        t = self.program.tensors[index]
        return memories[t.region][t.offset : t.offset + t.size].reshape(t.shape)

    def _execute(self, memories: dict[Region, np.ndarray], c: Command) -> None:
        layer = self.program.layers[c.layer]
        x = self._view(memories, layer.inputs[0])
        y = self._view(memories, layer.output)
        op = layer.op
        if op in (Op.CONV, Op.DEPTHWISE):
            self._window_mac(layer, c, x, y)
        elif op == Op.FULLY_CONNECTED:
            self._fully_connected(layer, c, x, y)
        elif op in (Op.AVERAGE_POOL, Op.MAX_POOL):
            self._pool(layer, c, x, y)
        else:
            flat_x, flat_y = x.reshape(-1), y.reshape(-1)
            a = flat_x[c.row0 : c.row1]
            if op == Op.TABLE:
                table = self._tables[c.layer]
                assert table is not None
                flat_y[c.row0 : c.row1] = table[a.view(np.uint8)]
            elif op == Op.COPY:
                flat_y[c.row0 : c.row1] = a
            else:
                assert layer.inputs[1] != NONE
                b = self._view(memories, layer.inputs[1]).reshape(-1)[c.row0 : c.row1]
                flat_y[c.row0 : c.row1] = _elementwise(layer, a, b)

    def _requantize(self, layer: Layer, acc: np.ndarray, c: Command) -> np.ndarray:
        table = self._requant[c.layer]
        assert table is not None
        bias, mult, shift = (t[c.ch0 : c.ch1] for t in table)
        p = layer.params
        acc = wrap_int32(acc + bias)
        out = multiply_by_quantized_multiplier(acc, mult, shift) + p["output_offset"]
        return np.clip(out, p["act_min"], p["act_max"]).astype(np.int8)

    def _band(
        self,
        layer: Layer,
        c: Command,
        x: np.ndarray,
        ow: int,
        fill: float,
        dtype: type,
        offset: int = 0,
    ) -> np.ndarray:
        """The input rows the tile's windows cover plus ``offset``, padded with ``fill``, as
        ``dtype``."""
        p = layer.params
        n, h, w, _ = x.shape
        dh, dw = p.get("dh", 1), p.get("dw", 1)
        start = c.row0 * p["sh"] - p["pad_top"]
        span = (c.row1 - c.row0 - 1) * p["sh"] + (p["kh"] - 1) * dh + 1
        wspan = (ow - 1) * p["sw"] + (p["kw"] - 1) * dw + 1
        lo, hi = input_rows(layer, c.row0, c.row1, h)
        band: np.ndarray = np.full((n, span, wspan, x.shape[3]), fill, dtype=dtype)
        left = p["pad_left"]
        width = max(0, min(w, wspan - left))
        if hi > lo and width:
            inner = band[:, lo - start : hi - start, left : left + width, :]
            inner[...] = x[:, lo:hi, :width, :]
            if offset:
                inner += offset
        return band

    def _windows(self, layer: Layer, band: np.ndarray, rows: int, ow: int) -> np.ndarray:
        p = layer.params
        s_n, s_h, s_w, s_c = band.strides
        shape = (band.shape[0], rows, ow, p["kh"], p["kw"], band.shape[3])
        strides = (
            s_n,
            s_h * p["sh"],
            s_w * p["sw"],
            s_h * p.get("dh", 1),
            s_w * p.get("dw", 1),
            s_c,
        )
        return as_strided(band, shape=shape, strides=strides, writeable=False)

    def _window_mac(self, layer: Layer, c: Command, x: np.ndarray, y: np.ndarray) -> None:
        p = layer.params
        n, _, ow, _ = y.shape
        rows = c.row1 - c.row0
        weights = self._weights[(c.weight_offset, c.weight_len)]
        if layer.op == Op.DEPTHWISE:
            channels = np.arange(c.ch0, c.ch1) // p["depth_multiplier"]
            x = x[..., channels]
        # Centered input (q - zp); padding is zero, i.e. the zero point.
        band = self._band(layer, c, x, ow, 0.0, np.float64, p["input_offset"])
        win = self._windows(layer, band, rows, ow)
        if layer.op == Op.CONV:
            # A contiguous im2col matrix: numpy's matmul only calls BLAS on plain layouts.
            cols = np.ascontiguousarray(win.reshape(n * rows * ow, -1))
            acc = cols @ weights
        else:
            acc = np.zeros((n, rows, ow, c.ch1 - c.ch0))
            for ky in range(p["kh"]):
                for kx in range(p["kw"]):
                    acc += win[:, :, :, ky, kx, :] * weights[ky * p["kw"] + kx]
            acc = acc.reshape(n * rows * ow, -1)
        out = self._requantize(layer, acc.astype(np.int64), c)
        y[:, c.row0 : c.row1, :, c.ch0 : c.ch1] = out.reshape(n, rows, ow, -1)

    def _fully_connected(self, layer: Layer, c: Command, x: np.ndarray, y: np.ndarray) -> None:
        depth = layer.params["depth"]
        rows = x.reshape(-1, depth)[c.row0 : c.row1].astype(np.float64)
        acc = (rows + layer.params["input_offset"]) @ self._weights[(c.weight_offset, c.weight_len)]
        out = self._requantize(layer, acc.astype(np.int64), c)
        y.reshape(-1, layer.params["channels"])[c.row0 : c.row1, c.ch0 : c.ch1] = out

    def _pool(self, layer: Layer, c: Command, x: np.ndarray, y: np.ndarray) -> None:
        p = layer.params
        _, _, ow, _ = y.shape
        rows = c.row1 - c.row0
        x = x[..., c.ch0 : c.ch1]
        if layer.op == Op.MAX_POOL:
            band = self._band(layer, c, x, ow, -32768, np.int16)
            out = self._windows(layer, band, rows, ow).max(axis=(3, 4))
        else:
            band = self._band(layer, c, x, ow, 0, np.int32)
            sums = self._windows(layer, band, rows, ow).sum(axis=(3, 4), dtype=np.int64)
            counts = self._counts(layer, c, x.shape[1], x.shape[2], ow)
            half = counts // 2
            out = np.sign(sums) * ((np.abs(sums) + half) // counts)
        y[:, c.row0 : c.row1, :, c.ch0 : c.ch1] = np.clip(out, p["act_min"], p["act_max"])

    def _counts(self, layer: Layer, c: Command, h: int, w: int, ow: int) -> np.ndarray:
        """Real (unpadded) input positions in each window of the tile, ``[rows, ow, 1]``."""
        p = layer.params

        def along(first: int, count: int, stride: int, pad: int, k: int, size: int) -> np.ndarray:
            starts = (np.arange(first, first + count) * stride) - pad
            return np.minimum(starts + k, size) - np.maximum(starts, 0)

        r = along(c.row0, c.row1 - c.row0, p["sh"], p["pad_top"], p["kh"], h)
        q = along(0, ow, p["sw"], p["pad_left"], p["kw"], w)
        return (r[:, None] * q[None, :])[None, :, :, None].astype(np.int64)


def _elementwise(layer: Layer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = layer.params
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    if layer.op == Op.ADD:
        shift = p["left_shift"]
        a_scaled = multiply_by_quantized_multiplier(
            (a64 + p["input1_offset"]) << shift, p["input1_multiplier"], p["input1_shift"]
        )
        b_scaled = multiply_by_quantized_multiplier(
            (b64 + p["input2_offset"]) << shift, p["input2_multiplier"], p["input2_shift"]
        )
        raw = multiply_by_quantized_multiplier(
            a_scaled + b_scaled, p["output_multiplier"], p["output_shift"]
        )
    else:
        product = (a64 + p["input1_offset"]) * (b64 + p["input2_offset"])
        raw = multiply_by_quantized_multiplier(product, p["output_multiplier"], p["output_shift"])
    return np.clip(raw + p["output_offset"], p["act_min"], p["act_max"]).astype(np.int8)


#: Largest window, stride and dilation the simulator accepts from a stream.
_MAX_WINDOW = 64


def _reduction(program: Program, layer: Layer) -> int:
    """Weights per output channel of a MAC-array layer."""
    p = layer.params
    if layer.op == Op.CONV:
        return p["kh"] * p["kw"] * program.tensors[layer.inputs[0]].shape[-1]
    if layer.op == Op.DEPTHWISE:
        return p["kh"] * p["kw"]
    return p["depth"]


def _command_problem(program: Program, c: Command) -> str | None:
    """Why a command cannot run on its layer's tensors, or ``None``: every range, window and
    weight block is checked against the descriptors before anything runs."""
    layer = program.layers[c.layer]
    x, y = program.tensors[layer.inputs[0]], program.tensors[layer.output]
    p = layer.params
    if layer.op in (Op.CONV, Op.DEPTHWISE, Op.AVERAGE_POOL, Op.MAX_POOL):
        if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != y.shape[0]:
            return "windowed layers take NHWC tensors with the same batch"
        steps = [p["kh"], p["kw"], p["sh"], p["sw"], p.get("dh", 1), p.get("dw", 1)]
        if not all(1 <= v <= _MAX_WINDOW for v in steps):
            return "window, stride or dilation out of range"
        if not (
            0 <= p["pad_top"] < p["kh"] * p.get("dh", 1)
            and 0 <= p["pad_left"] < p["kw"] * p.get("dw", 1)
        ):
            return "padding out of range"
        if c.row1 > y.shape[1] or c.ch1 > y.shape[3] or c.row0 >= c.row1 or c.ch0 >= c.ch1:
            return "tile outside the output"
        if layer.op in (Op.AVERAGE_POOL, Op.MAX_POOL) and x.shape[3] != y.shape[3]:
            return "pooling changes the channel count"
        if layer.op == Op.DEPTHWISE:
            dm = p["depth_multiplier"]
            if dm < 1 or x.shape[3] * dm != y.shape[3]:
                return "depth multiplier does not match the channels"
    elif layer.op == Op.FULLY_CONNECTED:
        depth, channels = p["depth"], p["channels"]
        if depth < 1 or x.size % depth or y.size != x.size // depth * channels:
            return "depth and channels do not match the tensors"
        if c.row1 > x.size // depth or c.ch1 > channels or c.row0 >= c.row1 or c.ch0 >= c.ch1:
            return "tile outside the output"
    else:
        sizes = [x.size, y.size]
        if layer.inputs[1] != NONE:
            sizes.append(program.tensors[layer.inputs[1]].size)
        if len(set(sizes)) != 1 or c.row1 > y.size or c.row0 > c.row1:
            return "elementwise operands differ in size or the range is outside them"
    mac = layer.op in (Op.CONV, Op.DEPTHWISE, Op.FULLY_CONNECTED)
    weights = (c.ch1 - c.ch0) * _reduction(program, layer) if mac else 0
    if mac and (p["channels"] != y.shape[-1] or c.weight_raw != weights):
        return "weight block does not match the layer"
    return None
