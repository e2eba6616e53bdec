"""Progress on long work (conformance runs, dataset evaluations, builds), shown with tqdm.

A bar appears only when stderr is a terminal, and never inside :func:`quiet` (the CLI's
``--quiet``), so logs and pipes stay clean.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress", "quiet", "steps"]

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
def steps(description: str, unit: str = "step") -> Iterator[Callable[[], None]]:
    """A counter on stderr for work of unknown length (a search, a build): call the function it
    yields once per step done. Shown on a terminal only, like :func:`progress`."""
    bar = tqdm(
        total=None,
        desc=description,
        unit=unit,
        leave=False,
        disable=True if _QUIET.get() else None,
    )
    with bar:
        yield lambda: bar.update(1)
