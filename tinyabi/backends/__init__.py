"""Backends: the contract plugins implement, the registry, and the built-in reference backend."""

from tinyabi.backends.base import (
    Backend,
    CompiledPartition,
    Estimate,
    MemoryNeeds,
    Pattern,
    Verdict,
)

__all__ = ["Backend", "CompiledPartition", "Estimate", "MemoryNeeds", "Pattern", "Verdict"]
