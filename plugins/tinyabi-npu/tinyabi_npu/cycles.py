"""The cycle model: what each command of a program costs on a configured NPU.

Read from the program (the decoded command stream) and the configuration only, so the
simulator's report and the backend's :meth:`estimate` agree by construction.

Per command (one tile):

* **compute**: the MAC array is weight-stationary, ``rows x cols`` (:data:`~tinyabi_npu.config.
  ARRAY_SHAPES`): a tile of ``P`` output pixels, reduction length ``K`` and ``N`` output
  channels takes ``ceil(K / rows) * ceil(N / cols)`` weight blocks, each loaded in ``rows``
  cycles and then streamed with one pixel per cycle: ``blocks * (P + rows)`` cycles.
  Depthwise maps channels to columns and kernel taps to rows. The requantization unit takes
  ``cols`` accumulators per cycle, pipelined behind the array. Pooling, elementwise and table
  units handle ``cols`` elements per cycle (pooling: per window tap). Copies move ``cols``
  bytes per cycle.
* **DMA**: the tile's weight block (stored, i.e. compressed, bytes) and its requantization
  table from flash at ``flash_bytes_per_cycle``; input rows (with the window's halo) and
  output rows of tensors that live in DRAM at ``dram_bytes_per_cycle``.
* **overlap**: DMA is double-buffered: a command's loads run during the previous command's
  compute, so it stalls only for ``max(0, dma - previous compute)``. Weight loads overlap
  across layers; activation loads from DRAM only within a layer (they wait for the previous
  layer's results). The first command stalls for all its loads. Every command adds
  ``command_overhead_cycles``.
* **utilization**: MACs / (compute cycles x MACs per cycle).
* **energy**: MACs x pJ/MAC + SRAM bytes x pJ/byte + DMA bytes x pJ/byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinyabi_npu.config import NpuConfig
from tinyabi_npu.stream import NONE, Command, Layer, Op, Program, Region, TensorDesc

#: Bytes of requantization table per output channel (int32 bias, multiplier, shift).
REQUANT_BYTES = 12
#: Operations run by the MAC array.
MAC_OPS = frozenset({Op.CONV, Op.DEPTHWISE, Op.FULLY_CONNECTED})


@dataclass
class CommandCost:
    """What one command costs."""

    layer: int
    macs: int = 0
    compute_cycles: int = 0
    stall_cycles: int = 0
    cycles: int = 0
    flash_read: int = 0
    dram_read: int = 0
    dram_write: int = 0
    sram_read: int = 0
    sram_write: int = 0
    energy_pj: float = 0.0

    @property
    def dma_bytes(self) -> int:
        """Bytes moved by the DMA engine."""
        return self.flash_read + self.dram_read + self.dram_write


def _nhwc(t: TensorDesc) -> tuple[int, int, int, int]:
    s = (*(1,) * (4 - len(t.shape)), *t.shape)
    return s[0], s[1], s[2], s[3]


def input_rows(layer: Layer, row0: int, row1: int, in_h: int) -> tuple[int, int]:
    """The input rows ``[lo, hi)`` the output rows ``[row0, row1)`` of a windowed layer read
    (clipped to the input)."""
    p = layer.params
    dh = p.get("dh", 1)
    lo = row0 * p["sh"] - p["pad_top"]
    hi = (row1 - 1) * p["sh"] - p["pad_top"] + (p["kh"] - 1) * dh + 1
    return max(lo, 0), min(hi, in_h)


def command_cost(program: Program, c: Command, config: NpuConfig) -> CommandCost:
    """The compute and traffic of one command, before overlap (``stall_cycles`` 0)."""
    rows, cols = config.array_shape
    layer = program.layers[c.layer]
    y = program.tensors[layer.output]
    x = program.tensors[layer.inputs[0]]
    cost = CommandCost(c.layer)
    nch = c.ch1 - c.ch0
    if layer.op in MAC_OPS or layer.op in (Op.AVERAGE_POOL, Op.MAX_POOL):
        n, _, ow, _ = _nhwc(y)
        _, in_h, in_w, in_c = _nhwc(x)
        if layer.op == Op.FULLY_CONNECTED:
            pixels, in_bytes = c.row1 - c.row0, (c.row1 - c.row0) * layer.params["depth"]
        else:
            lo, hi = input_rows(layer, c.row0, c.row1, in_h)
            pixels = n * (c.row1 - c.row0) * ow
            in_channels = in_c
            if layer.op == Op.DEPTHWISE:
                dm = layer.params["depth_multiplier"]
                in_channels = (c.ch1 - 1) // dm - c.ch0 // dm + 1
            elif layer.op in (Op.AVERAGE_POOL, Op.MAX_POOL):
                in_channels = nch
            in_bytes = n * (hi - lo) * in_w * in_channels
        out_bytes = pixels * nch
        p = layer.params
        if layer.op == Op.CONV:
            k = p["kh"] * p["kw"] * in_c
            blocks = math.ceil(k / rows) * math.ceil(nch / cols)
            cost.macs = pixels * k * nch
            cost.compute_cycles = blocks * (pixels + rows)
            cost.sram_read = pixels * k * math.ceil(nch / cols) + c.weight_raw
        elif layer.op == Op.DEPTHWISE:
            k = p["kh"] * p["kw"]
            blocks = math.ceil(k / rows) * math.ceil(nch / cols)
            cost.macs = pixels * k * nch
            cost.compute_cycles = blocks * (pixels + rows)
            cost.sram_read = pixels * k * nch + c.weight_raw
        elif layer.op == Op.FULLY_CONNECTED:
            k = p["depth"]
            blocks = math.ceil(k / rows) * math.ceil(nch / cols)
            cost.macs = pixels * k * nch
            cost.compute_cycles = blocks * (pixels + rows)
            cost.sram_read = pixels * k * math.ceil(nch / cols) + c.weight_raw
        else:
            taps = p["kh"] * p["kw"]
            cost.compute_cycles = pixels * taps * math.ceil(nch / cols)
            cost.sram_read = pixels * taps * nch
        if layer.op in MAC_OPS:
            cost.flash_read = c.weight_len + REQUANT_BYTES * nch
            cost.sram_write += c.weight_raw
        cost.sram_write += out_bytes
        if x.region == Region.DRAM:
            cost.dram_read += in_bytes
            cost.sram_write += in_bytes
        if y.region == Region.DRAM:
            cost.dram_write += out_bytes
    else:
        elements = c.row1 - c.row0
        operands = [x] + ([program.tensors[layer.inputs[1]]] if layer.inputs[1] != NONE else [])
        cost.compute_cycles = math.ceil(elements / cols)
        cost.sram_read = elements * len(operands) + (256 if layer.op == Op.TABLE else 0)
        cost.sram_write = elements
        cost.dram_read = sum(elements for t in operands if t.region == Region.DRAM)
        cost.dram_write = elements if y.region == Region.DRAM else 0
        if layer.op == Op.TABLE:
            cost.flash_read = 256
    return cost


def dma_cycles(cost: CommandCost, config: NpuConfig) -> tuple[int, int]:
    """(weight-load cycles, activation-transfer cycles) of a command."""
    weights = math.ceil(cost.flash_read / config.flash_bytes_per_cycle)
    activations = math.ceil((cost.dram_read + cost.dram_write) / config.dram_bytes_per_cycle)
    return weights, activations


def schedule(program: Program, config: NpuConfig) -> list[CommandCost]:
    """Every command's cost with double-buffered overlap applied (see the module docstring)."""
    costs = []
    previous: CommandCost | None = None
    for c in program.commands:
        cost = command_cost(program, c, config)
        weights, activations = dma_cycles(cost, config)
        if previous is None:
            hidden = 0
        elif previous.layer == cost.layer:
            hidden = previous.compute_cycles
        else:
            hidden = previous.compute_cycles if activations == 0 else 0
        cost.stall_cycles = max(0, weights + activations - hidden)
        cost.cycles = config.command_overhead_cycles + cost.compute_cycles + cost.stall_cycles
        cost.energy_pj = (
            cost.macs * config.energy_per_mac_pj
            + (cost.sram_read + cost.sram_write) * config.energy_per_sram_byte_pj
            + cost.dma_bytes * config.energy_per_dma_byte_pj
        )
        costs.append(cost)
        previous = cost
    return costs


def utilization(macs: int, compute_cycles: int, config: NpuConfig) -> float:
    """The MAC array's utilization: MACs over what the array could do in those cycles."""
    return macs / (compute_cycles * config.macs) if compute_cycles else 0.0
