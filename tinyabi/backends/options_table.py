"""Every installed backend's options as one Markdown table, generated from their ``Options``
models (the README's table is this output; ``tinyabi backends --options`` prints it)."""

from __future__ import annotations

import types
import typing
from typing import Any

from tinyabi.backends.registry import BackendRegistry

__all__ = ["options_table", "type_text"]


def type_text(annotation: Any) -> str:
    """An option's type as a user reads it: ``host | cortex-m4``, ``int``, ``names``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(str(v) for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " \\| ".join(type_text(a) for a in parts)
    if origin is typing.Annotated:
        return type_text(typing.get_args(annotation)[0])
    if origin is tuple:
        return "names"
    return getattr(annotation, "__name__", str(annotation))


def options_table(registry: BackendRegistry) -> str:
    """A Markdown table of every registered backend's options (a row saying "none" for a
    backend without any), in registration order."""
    lines = [
        "| backend | option | type | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for name, entry in registry.entries.items():
        fields = entry.cls.Options.model_fields
        if not fields:
            lines.append(f"| `{name}` | (none) | | | |")
            continue
        for option, info in fields.items():
            default = "" if info.default is None else f"`{info.default}`"
            description = " ".join((info.description or "").split())
            lines.append(
                f"| `{name}` | `{option}` | {type_text(info.annotation)} | {default} | "
                f"{description} |"
            )
    return "\n".join(lines) + "\n"
