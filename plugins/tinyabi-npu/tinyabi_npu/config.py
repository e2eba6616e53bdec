"""The accelerator's parameters, as the backend's options.

One pydantic model describes the NPU the compiler targets and the simulator times: the MAC
array, on-chip SRAM, the DMA engine, the clock and the energy of each event. Users pass them as
backend options (``("npu", {"macs": 256, "sram_bytes": 65536})``, ``--backends
npu:macs=256``). ``docs/npu.md`` describes the architecture they parameterize.

Energy defaults and their sources (all at 45 nm, so they are a consistent scale rather than a
prediction for a given product): M. Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, table of operation energies: 8-bit multiply 0.2 pJ and 8-bit add
0.03 pJ (one MAC 0.23 pJ); 32-bit read from an 8 KB SRAM 5 pJ (1.25 pJ per byte); 32-bit DRAM
read 640 pJ (160 pJ per byte), used for every byte the DMA engine moves from flash or DRAM.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from tinyabi.backends import BackendOptions

#: The MAC array's shape per size: (rows along the reduction, columns along output channels).
ARRAY_SHAPES: dict[int, tuple[int, int]] = {64: (8, 8), 128: (16, 8), 256: (16, 16)}


class NpuConfig(BackendOptions):
    """The NPU's configuration: the ``npu`` backend's options."""

    macs: int = Field(
        128, description="int8 multiply-accumulates per cycle of the MAC array (64, 128, 256)"
    )
    sram_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=1 << 30,
        description="on-chip SRAM in bytes: activations when they fit, and the DMA staging buffers",
    )
    flash_bytes_per_cycle: float = Field(
        4.0, gt=0, description="DMA bandwidth from flash (weights), bytes per cycle"
    )
    dram_bytes_per_cycle: float = Field(
        8.0,
        gt=0,
        description="DMA bandwidth to and from external DRAM (spilled activations), bytes per "
        "cycle",
    )
    clock_hz: float = Field(500e6, gt=0, description="NPU clock in Hz")
    command_overhead_cycles: int = Field(
        32, ge=0, description="cycles to fetch and decode one command"
    )
    energy_per_mac_pj: float = Field(
        0.23, ge=0, description="pJ per int8 MAC (Horowitz, ISSCC 2014: 0.2 mult + 0.03 add)"
    )
    energy_per_sram_byte_pj: float = Field(
        1.25, ge=0, description="pJ per SRAM byte read or written (Horowitz: 5 pJ per 32 bits)"
    )
    energy_per_dma_byte_pj: float = Field(
        160.0,
        ge=0,
        description="pJ per byte the DMA moves from flash or DRAM (Horowitz: 640 pJ per 32 "
        "bits of DRAM)",
    )
    min_macs: int = Field(
        0,
        ge=0,
        description="accept() refuses a partition with fewer MACs than this (not worth the "
        "hand-over); 0 takes every partition with at least one MAC-array, pooling or table "
        "operation",
    )
    compress_weights: bool = Field(
        True, description="compress weights losslessly (zero runs or a palette) when smaller"
    )

    @field_validator("macs")
    @classmethod
    def _array_size(cls, value: int) -> int:
        if value not in ARRAY_SHAPES:
            raise ValueError("the MAC array has 64, 128 or 256 MACs")
        return value

    #: Bytes of SRAM kept free for command and descriptor fetch.
    RESERVED_SRAM: ClassVar[int] = 256

    @property
    def array_shape(self) -> tuple[int, int]:
        """(rows, columns) of the MAC array: rows reduce, columns are output channels."""
        return ARRAY_SHAPES[self.macs]

    @property
    def usable_sram(self) -> int:
        """SRAM bytes available to tensors and staging buffers."""
        return self.sram_bytes - self.RESERVED_SRAM
