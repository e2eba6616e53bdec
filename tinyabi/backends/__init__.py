"""Backends: the contract plugins implement, the registry, and the built-in reference backend."""

from tinyabi.backends.base import (
    Backend,
    BackendOptions,
    CompiledPartition,
    Estimate,
    LayerCost,
    MemoryNeeds,
    NameList,
    Pattern,
    Verdict,
)
from tinyabi.backends.registry import BackendRegistry
from tinyabi.ir.validate import NodeCheck

__all__ = [
    "Backend",
    "BackendOptions",
    "BackendRegistry",
    "CompiledPartition",
    "Estimate",
    "LayerCost",
    "MemoryNeeds",
    "NameList",
    "NodeCheck",
    "Pattern",
    "Verdict",
]
