"""Plugin discovery and the registry of backends.

:func:`default_registry` sets up the pluggy plugin manager once: the built-in plugin first,
then every ``tinyabi`` entry point (unless ``TINYABI_DISABLE_PLUGIN_AUTOLOAD`` is set; names
in ``TINYABI_BLOCK_PLUGINS`` are skipped), and asks each plugin to register its backends.
A plugin that fails to import or to register becomes a recorded problem, not a crash; a plugin
that implements an unknown hook is an error that names it.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from tinyabi import hookspecs
from tinyabi.backends.base import Backend
from tinyabi.errors import TinyABIError

ENV_DISABLE_AUTOLOAD = "TINYABI_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK = "TINYABI_BLOCK_PLUGINS"
ENTRY_POINT_GROUP = "tinyabi"


class PluginError(TinyABIError):
    """A plugin breaks the plugin contract (for example, implements a hook that does not exist)."""


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend class and where it came from."""

    cls: type[Backend]
    plugin: str
    distribution: str


@dataclass
class BackendRegistry:
    """The backends contributed by plugins, by name."""

    entries: dict[str, BackendEntry] = field(default_factory=dict)
    #: Problems met while loading plugins and registering backends, one line each.
    problems: list[str] = field(default_factory=list)
    _plugin: str = "?"
    _distribution: str = "?"

    def add(self, cls: Any) -> None:
        """Register a backend class (called by plugins from ``tinyabi_register_backends``)."""
        where = f"plugin {self._plugin!r}"
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            self.problems.append(f"{where}: {cls!r} is not a subclass of tinyabi.backends.Backend")
            return
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            self.problems.append(f"{where}: backend class {cls.__name__} has no name")
            return
        if name in self.entries:
            other = self.entries[name].plugin
            self.problems.append(f"{where}: backend {name!r} is already registered by {other!r}")
            return
        self.entries[name] = BackendEntry(cls, self._plugin, self._distribution)

    def names(self) -> list[str]:
        """The registered backend names, in registration order."""
        return list(self.entries)

    def get(self, name: str) -> BackendEntry:
        """The entry of backend ``name``; a :class:`TinyABIError` listing the known ones if none."""
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(self.entries) or "none"
            raise TinyABIError(
                f"unknown backend {name!r}: the backends available are {known} "
                "(`tinyabi backends` lists them; is the plugin installed?)"
            ) from None


def create_plugin_manager(
    autoload: bool | None = None, blocked: Iterable[str] | None = None
) -> tuple[pluggy.PluginManager, dict[str, str], list[str]]:
    """A plugin manager with the built-in plugin and (unless disabled) the entry points.

    Returns the manager, the distribution name of each plugin, and load problems.
    """
    from tinyabi.backends import reference

    if autoload is None:
        autoload = not os.environ.get(ENV_DISABLE_AUTOLOAD)
    if blocked is None:
        blocked = [b.strip() for b in os.environ.get(ENV_BLOCK, "").split(",") if b.strip()]
    pm = pluggy.PluginManager("tinyabi")
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    pm.register(reference, name="reference")
    distributions = {"reference": "tinyabi"}
    problems: list[str] = []
    if autoload:
        for ep in sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
        ):
            if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
                continue
            dist = ep.dist.name if ep.dist is not None else "?"
            try:
                plugin = ep.load()
            except Exception as exc:
                problems.append(
                    f"plugin {ep.name!r} ({dist}) failed to load: {type(exc).__name__}: {exc}"
                )
                continue
            try:
                pm.register(plugin, name=ep.name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"plugin {ep.name!r} ({dist}): {exc}") from None
            distributions[ep.name] = dist
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r}: {exc}") from None
    return pm, distributions, problems


def build_registry(
    pm: pluggy.PluginManager, distributions: dict[str, str], problems: list[str]
) -> BackendRegistry:
    """Ask every plugin to register its backends; a plugin that raises becomes a problem."""
    registry = BackendRegistry(problems=list(problems))
    for impl in pm.hook.tinyabi_register_backends.get_hookimpls():
        registry._plugin = impl.plugin_name
        registry._distribution = distributions.get(impl.plugin_name, "?")
        try:
            impl.function(registry=registry)
        except Exception as exc:
            registry.problems.append(
                f"plugin {impl.plugin_name!r} failed to register backends: "
                f"{type(exc).__name__}: {exc}"
            )
    return registry


_DEFAULT: tuple[pluggy.PluginManager, BackendRegistry] | None = None


def default_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, set up on first use."""
    return _default()[0]


def default_registry() -> BackendRegistry:
    """The process-wide backend registry, set up on first use."""
    return _default()[1]


def _default() -> tuple[pluggy.PluginManager, BackendRegistry]:
    global _DEFAULT
    if _DEFAULT is None:
        pm, distributions, problems = create_plugin_manager()
        _DEFAULT = (pm, build_registry(pm, distributions, problems))
    return _DEFAULT


def reset_default_registry() -> None:
    """Forget the process-wide plugin manager (tests use this after changing the environment)."""
    global _DEFAULT
    _DEFAULT = None
