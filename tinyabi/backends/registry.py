"""Plugin discovery and the registry of backends.

:func:`default_registry` sets up the pluggy plugin manager once: the built-in plugin first,
then every ``tinyabi`` entry point (unless ``TINYABI_DISABLE_PLUGIN_AUTOLOAD`` is set; names
in ``TINYABI_BLOCK_PLUGINS`` are skipped), and asks each plugin to register its backends.
A plugin that fails to import or to register becomes a recorded problem, not a crash; a plugin
that implements an unknown hook is an error that names it.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy
from pydantic import ValidationError

from tinyabi import hookspecs
from tinyabi.backends.base import Backend, BackendOptions
from tinyabi.errors import BackendError, OptionsError, TinyABIError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_BLOCK",
    "ENV_DISABLE_AUTOLOAD",
    "BackendEntry",
    "BackendRegistry",
    "PluginError",
    "build_registry",
    "create_plugin_manager",
    "default_plugin_manager",
    "default_registry",
    "describe_backends",
    "parse_options",
    "reset_default_registry",
]

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

    def create(self, name: str, options: Mapping[str, Any] | None = None) -> Backend:
        """An instance of backend ``name`` with ``options`` validated against its declared
        :attr:`~tinyabi.backends.Backend.Options` (an :class:`~tinyabi.errors.OptionsError`
        naming the option and the allowed ones when they do not fit); a
        :class:`BackendError` naming the backend and its plugin when its constructor fails."""
        entry = self.get(name)
        validated = parse_options(name, entry.cls.Options, options)
        try:
            return entry.cls(validated)
        except Exception as exc:
            raise BackendError(
                f"backend {name!r} (plugin {entry.plugin!r}) could not be created with "
                f"options {dict(options or {})}: {type(exc).__name__}: {exc}"
            ) from None


def parse_options(
    backend: str, model: type[BackendOptions], options: Mapping[str, Any] | None
) -> BackendOptions:
    """``options`` validated by ``model`` (lax: ``"4"`` becomes ``4``, ``"true"`` ``True``);
    a one-line :class:`~tinyabi.errors.OptionsError` when a key is unknown or a value bad."""
    if isinstance(options, model):
        return options
    given = dict(options or {})
    allowed = list(model.model_fields)
    if not allowed and given:
        raise OptionsError(
            f"backend {backend!r} takes no options; got {', '.join(repr(k) for k in given)}"
        )
    unknown = [k for k in given if k not in model.model_fields]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, allowed, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise OptionsError(
            f"backend {backend!r}: unknown option {key!r}{guess}; "
            f"its options are {', '.join(allowed)}"
        )
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        value = given.get(key)
        reason = " ".join(str(error["msg"]).split())
        raise OptionsError(
            f"backend {backend!r}: option {key!r} = {value!r}: {reason}; "
            f"its options are {', '.join(allowed)}"
        ) from None


def create_plugin_manager(
    autoload: bool | None = None,
    blocked: Iterable[str] | None = None,
    plugins: Mapping[str, object] | None = None,
) -> tuple[pluggy.PluginManager, dict[str, str], list[str]]:
    """A plugin manager with the built-in plugin and (unless disabled) the entry points.

    ``autoload`` and ``blocked`` default to what the environment variables say. ``plugins``
    adds plugin modules or objects by name without an entry point (tests, notebooks); they
    are checked like installed ones. Returns the manager, the distribution name of each plugin,
    and load problems. A plugin that implements a hook tinyabi does not define raises
    :class:`PluginError` naming the plugin.
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
            dist = ep.dist.name if ep.dist is not None else "?"
            if pm.is_blocked(ep.name):
                continue
            if pm.get_plugin(ep.name) is not None:
                if distributions.get(ep.name) != dist:
                    problems.append(
                        f"plugin {ep.name!r} ({dist}) skipped: the name is already taken by "
                        f"distribution {distributions.get(ep.name, '?')}"
                    )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                problems.append(
                    f"plugin {ep.name!r} ({dist}) failed to load: {type(exc).__name__}: {exc}"
                )
                continue
            if _register(pm, plugin, ep.name, dist, problems):
                distributions[ep.name] = dist
    for name, plugin in (plugins or {}).items():
        if not pm.is_blocked(name) and _register(pm, plugin, name, "?", problems):
            distributions[name] = "?"
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(
            f"plugin {name!r} ({distributions.get(name, '?')}): {exc}; the hooks tinyabi "
            f"defines are {', '.join(_hook_names())}"
        ) from None
    return pm, distributions, problems


def _register(
    pm: pluggy.PluginManager, plugin: object, name: str, dist: str, problems: list[str]
) -> bool:
    """Register ``plugin``; a hook with a wrong signature is an error, a plugin object that is
    already registered (under another name) a problem. Whether it was registered."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} ({dist}): {exc}") from None
    except ValueError as exc:  # pluggy: the same object registered twice
        problems.append(f"plugin {name!r} ({dist}) skipped: {exc}")
        return False
    return True


def _hook_names() -> list[str]:
    return sorted(n for n in vars(hookspecs) if n.startswith("tinyabi_"))


def build_registry(
    pm: pluggy.PluginManager, distributions: dict[str, str], problems: list[str]
) -> BackendRegistry:
    """Ask every plugin to register its backends; a plugin that raises becomes a problem."""
    registry = BackendRegistry(problems=list(problems))
    for impl in pm.hook.tinyabi_register_backends.get_hookimpls():
        registry._plugin = impl.plugin_name
        registry._distribution = distributions.get(impl.plugin_name, "?")
        try:
            # Like pluggy, pass only the arguments the implementation declares.
            impl.function(*[{"registry": registry}[arg] for arg in impl.argnames])
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


def describe_backends(registry: BackendRegistry, verbose: bool = False) -> str:
    """The listing ``tinyabi backends`` prints: per registered backend its name, version,
    plugin and distribution, spec version, profile, the operators (with signature names) it
    claims and how many operator signatures cached conformance results verify, then each
    plugin load problem as a warning line.

    With ``verbose``, one operator per line instead of a wrapped list.
    """
    lines: list[str] = []
    for name, entry in registry.entries.items():
        cls = entry.cls
        lines.append(
            f"{name} {cls.version}  distribution {entry.distribution}, plugin {entry.plugin!r}  "
            f"spec {cls.spec_version}  profile {cls.profile}"
        )
        try:
            claims = dict(cls().claims())
        except Exception as exc:
            lines.append(f"  operators: unknown (claims() failed: {type(exc).__name__}: {exc})")
            continue
        if not claims:
            lines.append("  operators: not listed (the backend decides node by node)")
            lines.append(f"  verified: {_verified_text(cls)}")
            continue
        items = [
            f"{op} ({', '.join(sigs)})" if sigs else op
            for op, sigs in sorted((str(k), [str(s) for s in v]) for k, v in claims.items())
        ]
        if verbose:
            lines.append(f"  operators ({len(items)}):")
            lines += [f"    {item}" for item in items]
        else:
            lines += _wrap(f"operators ({len(items)}):", items)
        lines.append(f"  verified: {_verified_text(cls)}")
    if not registry.entries:
        lines.append("no backends registered")
    lines += [f"warning: {problem}" for problem in registry.problems]
    return "\n".join(lines)


def _verified_text(cls: type[Backend]) -> str:
    """What cached conformance results prove about a backend class's version."""
    from tinyabi.conformance.verified import load_record

    if cls.name == "reference":
        return "the reference kernels define the spec's results"
    record = load_record(cls.name, cls.version, cls.spec_version)
    if record is None:
        return f"nothing yet (run tinyabi conformance --backend {cls.name})"
    verified = sorted(k for k, v in record.signatures.items() if v == "verified")
    failed = sorted(k for k, v in record.signatures.items() if v == "failed")
    text = f"{len(verified)} operator signature(s) by conformance on {record.updated[:10]}"
    return text + (f"; failed: {', '.join(failed)}" if failed else "")


def _wrap(head: str, items: list[str], width: int = 100) -> list[str]:
    """``head`` and the comma-separated ``items`` in lines of at most ``width`` characters
    (longer items get a line of their own), never breaking an item."""
    lines = [f"  {head}"]
    for k, item in enumerate(items):
        text = item + ("," if k < len(items) - 1 else "")
        if len(lines[-1]) + 1 + len(text) > width and lines[-1].strip() != head:
            lines.append("    " + text)
        else:
            lines[-1] += " " + text
    return lines
