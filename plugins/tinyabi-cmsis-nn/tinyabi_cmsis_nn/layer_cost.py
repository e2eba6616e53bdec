"""``LayerCost``: the cost of one layer that a compiled partition's ``profile`` reports.

The backend contract exports it from :mod:`tinyabi.backends`; until that version of the
contract is installed, this module defines an identical frozen dataclass so that
:meth:`~tinyabi_cmsis_nn.build.qemu_partition.CortexMPartition.profile` keeps the same
signature either way (the fallback goes away once the contract has it). The contract's class
is looked up by attribute, not imported by name: plugins import only names the contract
exports (``tests/test_public_api.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import tinyabi.backends as contract

__all__ = ["LayerCost"]


@dataclass(frozen=True)
class FallbackLayerCost:
    """What one node cost in a profiled run (``None``: not measured)."""

    node: str
    seconds: float | None = None
    instructions: int | None = None
    cycles: int | None = None


if TYPE_CHECKING:
    LayerCost = FallbackLayerCost
else:
    LayerCost = getattr(contract, "LayerCost", FallbackLayerCost)
