"""Vela-style named checks, shared by backends that document what they run.

A backend's constraints are plain functions, each answering one question about a node (``None``
when the node passes, else the reason); the function's docstring is the rule, and a hint may go
with it. This module turns such checks into the Markdown rows of a backend's support document
and gives that document its small command line (print it, or ``--write`` it), so every backend
renders its rules the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TABLE_HEADER", "check_rows", "rule", "support_doc_main"]

#: The header of a table of checks (:func:`check_rows` gives its rows).
TABLE_HEADER = ("| check | rule | hint when it fails |", "|---|---|---|")


def rule(check: Callable[..., Any]) -> str:
    """A check's rule in words: its docstring on one line."""
    return " ".join((check.__doc__ or check.__name__).split())


def check_rows(
    checks: Iterable[Callable[..., Any]], hints: Mapping[Callable[..., Any], str]
) -> list[str]:
    """One Markdown table row per check: its name, its rule and the hint shown when it fails."""
    rows = []
    for check in checks:
        cells = (f"`{check.__name__}`", rule(check), hints.get(check, ""))
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def support_doc_main(
    render: Callable[[], str], path: Path, argv: Sequence[str] | None = None
) -> int:
    """The command line of a support document: print ``render()``, or write it to ``path``
    with ``--write``."""
    parser = argparse.ArgumentParser(description=f"print {path.name}, or write it with --write")
    parser.add_argument("--write", action="store_true", help=f"write {path.name}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    else:
        print(text, end="")
    return 0
