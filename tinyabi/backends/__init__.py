"""Backends: the contract plugins implement, the registry, and the built-in reference backend."""

from tinyabi.backends.base import (
    Backend,
    BackendOptions,
    CompiledPartition,
    Estimate,
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
    "MemoryNeeds",
    "NameList",
    "NodeCheck",
    "Pattern",
    "Verdict",
]
