"""Progress on long work (conformance runs, dataset evaluations, builds), shown with tqdm.

A bar appears only when stderr is a terminal, and never inside :func:`quiet` (the CLI's
``--quiet``), so logs and pipes stay clean.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress", "progress_bar", "quiet"]

T = TypeVar("T")

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("tinyabi_quiet", default=False)


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Within the block, :func:`progress` shows nothing (when ``enabled``)."""
    token = _QUIET.set(enabled or _QUIET.get())
    try:
        yield
    finally:
        _QUIET.reset(token)


def progress(
    items: Iterable[T], description: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """``items``, with a progress bar on stderr while they are consumed (a terminal only)."""
    # disable=None: tqdm itself turns the bar off when stderr is not a terminal.
    bar = tqdm(
        items,
        desc=description,
        total=total,
        unit=unit,
        leave=False,
        disable=True if _QUIET.get() else None,
    )
    with bar:
        yield from bar


@contextlib.contextmanager
def progress_bar(total: int | None, description: str, unit: str = "it") -> Iterator[tqdm]:
    """A progress bar to advance by hand (``bar.update()``, ``bar.set_postfix_str(...)``), for
    work that completes out of order, or of unknown length (``total=None``: a counter, as for
    a search or a build); shown like :func:`progress` (a terminal, not quiet)."""
    bar = tqdm(
        total=total,
        desc=description,
        unit=unit,
        leave=False,
        disable=True if _QUIET.get() else None,
    )
    with bar:
        yield bar
