"""The plugin module the ``tinyabi`` entry point names: registers the ``cmsis-nn`` backend."""

from __future__ import annotations

from typing import Any

from tinyabi.hookspecs import hookimpl


@hookimpl
def tinyabi_register_backends(registry: Any) -> None:
    """Register :class:`~tinyabi_cmsis_nn.backend.CmsisNNBackend`."""
    from tinyabi_cmsis_nn.backend import CmsisNNBackend

    registry.add(CmsisNNBackend)
