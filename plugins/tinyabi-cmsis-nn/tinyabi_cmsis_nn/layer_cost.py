"""``LayerCost``: the cost of one layer that a compiled partition's ``profile`` reports.

The backend contract exports it from :mod:`tinyabi.backends`; until that version of the
contract is installed, this module defines an identical frozen dataclass so that
:meth:`~tinyabi_cmsis_nn.build.qemu_partition.CortexMPartition.profile` keeps the same
signature either way (the fallback goes away once the contract has it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerCost"]

try:
    from tinyabi.backends import LayerCost  # type: ignore[attr-defined]
except ImportError:  # the contract without per-layer profiles

    @dataclass(frozen=True)
    class LayerCost:  # type: ignore[no-redef]
        """What one node cost in a profiled run (``None``: not measured)."""

        node: str
        seconds: float | None = None
        instructions: int | None = None
        cycles: int | None = None
