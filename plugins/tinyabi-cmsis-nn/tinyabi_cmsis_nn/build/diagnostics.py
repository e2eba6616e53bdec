"""One-line summaries of compiler failures: the failing source file and the first error.

A failed build must say what failed in one line (a partition that falls back to another
backend shows it as the reason): the C file being compiled and the compiler's first ``error``
line, not a page of output.
"""

from __future__ import annotations

import re

_LOCATION = re.compile(r"^(?:In file included from |\s+from )?([^\s:][^:]*\.[ch]):\d+")
_ERROR = re.compile(r"\berror\b", re.I)


def first_error(output: str) -> str:
    """The compiler's first error line in ``output`` (else its first non-empty line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if _ERROR.search(line) and not line.startswith(("make:", "make[")):
            return line
    return lines[0] if lines else "(no output)"


def failing_source(output: str) -> str | None:
    """The C file whose compilation produced the first error in ``output``: the error's own
    location when it is a ``.c`` file, else the ``.c`` file that included the header."""
    source = None
    for raw in output.splitlines():
        match = _LOCATION.match(raw)
        if match is not None and match.group(1).endswith(".c"):
            source = match.group(1)
        elif raw.rstrip().endswith(": In function") or ": In function '" in raw:
            candidate = raw.split(":", 1)[0]
            source = candidate if candidate.endswith(".c") else source
        if _ERROR.search(raw) and not raw.lstrip().startswith(("make:", "make[")):
            return source
    return source


def summary(output: str, source: str | None = None) -> str:
    """``<source>: <first error line>`` on one line (``source`` defaults to
    :func:`failing_source`)."""
    where = source or failing_source(output)
    error = first_error(output)
    return f"{where}: {error}" if where and where not in error else error
