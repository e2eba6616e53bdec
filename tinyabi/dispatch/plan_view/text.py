"""Safe text for HTML and SVG: model-derived strings are untrusted and pass through :func:`esc`.

:func:`esc` first replaces characters that XML forbids (most control characters, lone
surrogates, U+FFFE/U+FFFF) so the SVG parts stay well-formed, then escapes ``& < > " '``.
:func:`json_for_script` makes JSON safe to embed in a ``<script type="application/json">``.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

__all__ = ["clean", "esc", "fmt_bytes", "json_for_script", "shorten"]

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """``text`` with characters XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def esc(text: object) -> str:
    """``str(text)`` cleaned and escaped for HTML/SVG text and quoted attribute values."""
    return html.escape(clean(str(text)), quote=True)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by an ellipsis in the middle."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def json_for_script(data: Any) -> str:
    """ASCII JSON with ``<``, ``>``, ``&`` and DEL written as ``\\u`` escapes, so that no
    ``</script>`` or ``<!--`` can appear in it."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    for raw in "<>&\x7f":
        text = text.replace(raw, f"\\u{ord(raw):04x}")
    return text


def fmt_bytes(n: int) -> str:
    """``55,296 B``."""
    return f"{n:,} B"
