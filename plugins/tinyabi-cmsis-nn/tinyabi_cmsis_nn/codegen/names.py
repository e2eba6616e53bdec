"""Names in the generated C code.

C identifiers are never derived from the model: tensors are ``t<index>``, layers
``layer<index>`` with a role suffix (``layer3_bias``). Strings from the model (tensor names)
appear only as C string literals made by :func:`c_string_literal`, which escapes everything
outside printable ASCII, the quote, the backslash, ``?`` (no trigraph like ``??=`` can form)
and ``*`` (no ``*/`` or ``/*`` appears), so a hostile name can neither end the literal nor a
comment nor the line.
"""

from __future__ import annotations

import re

#: Prefix of every symbol with external linkage the generated data file defines.
DATA_PREFIX = "model_"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def tensor_symbol(index: int) -> str:
    """The C name of the tensor with this index in the generated model: ``t12``."""
    return f"t{int(index)}"


def tensor_offset_macro(index: int) -> str:
    """The macro holding the arena offset of tensor ``index``: ``T12_OFFSET``."""
    return f"T{int(index)}_OFFSET"


def scratch_macros(index: int) -> tuple[str, str]:
    """The macros holding layer ``index``'s scratch buffer: its arena offset and its bytes."""
    return f"LAYER{int(index)}_SCRATCH_OFFSET", f"LAYER{int(index)}_SCRATCH_SIZE"


def layer_symbol(index: int, role: str = "") -> str:
    """The C name of a layer's object: ``layer3`` or, with a role, ``layer3_bias``."""
    name = f"layer{int(index)}" + (f"_{role}" if role else "")
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a C identifier: {name!r}")
    return name


def data_symbol(index: int, role: str) -> str:
    """The exported name of a layer's constant array: ``model_layer3_bias``."""
    return DATA_PREFIX + layer_symbol(index, role)


def c_string_literal(text: str) -> str:
    """``text`` as a C string literal (UTF-8 bytes; octal escapes for anything unusual)."""
    out = ['"']
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in ('"', "\\", "?"):
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F and char != "*":
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def c_comment_text(text: str) -> str:
    """``text`` made safe inside a ``/* ... */`` comment on one line: printable ASCII only,
    without ``*/``, ``/*`` or ``??`` sequences (used for operator names, never model strings)."""
    safe = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in text)
    while "*/" in safe or "/*" in safe or "??" in safe:
        safe = safe.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
    return safe.replace("\\", "/")
