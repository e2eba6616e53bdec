"""The plugin module the ``tinyabi`` entry point names: registers the ``npu`` backend."""

from __future__ import annotations

from typing import Any

from tinyabi.hookspecs import hookimpl


@hookimpl
def tinyabi_register_backends(registry: Any) -> None:
    """Register :class:`~tinyabi_npu.backend.NpuBackend`."""
    from tinyabi_npu.backend import NpuBackend

    registry.add(NpuBackend)
