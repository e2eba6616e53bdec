"""The hook specifications of tinyabi's plugin system.

A plugin is a module (or object) with functions marked ``@tinyabi.hookimpl`` whose names are
hooks below. Installed distributions advertise their plugin module in the ``tinyabi``
entry-point group::

    [project.entry-points.tinyabi]
    my_npu = "my_npu_backend.plugin"

tinyabi loads every such entry point when it first needs the plugin manager, unless the
environment variable ``TINYABI_DISABLE_PLUGIN_AUTOLOAD`` is set; ``TINYABI_BLOCK_PLUGINS``
(comma-separated entry-point names) blocks individual plugins. The built-in reference backend
registers through :func:`tinyabi_register_backends` like any other plugin. A plugin that
implements a hook not listed here is rejected with an error naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from tinyabi.backends.registry import BackendRegistry
    from tinyabi.ir.graph import Graph

__all__ = ["hookimpl", "hookspec", "tinyabi_load_model", "tinyabi_register_backends"]

hookspec = pluggy.HookspecMarker("tinyabi")
hookimpl = pluggy.HookimplMarker("tinyabi")


@hookspec
def tinyabi_register_backends(registry: BackendRegistry) -> None:
    """Contribute backend classes.

    Called once per plugin, in registration order (the built-in plugin first), when a backend
    registry is built: the first time tinyabi needs its backends (a :class:`tinyabi.Session`,
    ``tinyabi backends``). Call ``registry.add(BackendClass)`` for each backend the plugin
    provides; the class must derive from :class:`tinyabi.backends.Backend` and have a unique
    ``name``. All implementations are called and the return value is ignored; an implementation
    that raises becomes an entry of ``registry.problems`` (shown as a warning by
    ``tinyabi backends``) instead of an error.
    """


@hookspec(firstresult=True)
def tinyabi_load_model(data: bytes, suffix: str) -> Graph | None:
    """Import a model file in a format tinyabi does not read itself.

    Called by :func:`tinyabi.load` (and by :class:`tinyabi.Session` given a path or bytes) with
    the file's bytes and its suffix (``".onnx"``, or ``""`` when the model was given as bytes),
    before tinyabi's own ``.tflite`` importer. Return the
    imported :class:`~tinyabi.ir.graph.Graph`, or ``None`` when the data is not yours. The first
    non-``None`` result wins.
    """
