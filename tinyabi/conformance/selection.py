"""Which cases a run includes, which it expects to fail, and which shard it is.

Patterns are shell-style (:mod:`fnmatch`) over case ids ``OP/signature/generator/index``, e.g.
``CONV_2D/*``, ``*/int8/special/*`` or ``SOFTMAX/int8/*/3``; an operator-level pattern without a
slash (``CONV_2D``) matches all of that operator's cases. Shards split the selected cases by a
stable hash of their id, so ``--shard 1/4`` to ``4/4`` on four machines cover each case once.
"""

from __future__ import annotations

import fnmatch
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from tinyabi.errors import InputError

__all__ = ["Selection", "parse_shard"]


def _matches(case_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(case_id, p if "/" in p else f"{p}/*") for p in patterns)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)`` with ``1 <= i <= n`` (an :class:`InputError` otherwise)."""
    index, sep, total = text.partition("/")
    try:
        i, n = int(index), int(total)
    except ValueError:
        i, n = 0, 0
    if not sep or not 1 <= i <= n:
        raise InputError(f"a shard is I/N with 1 <= I <= N, e.g. 2/4; got {text!r}")
    return i, n


@dataclass(frozen=True)
class Selection:
    """Include/exclude/expected-failure patterns and a shard ``(i, n)``."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    xfail: tuple[str, ...] = ()
    shard: tuple[int, int] = (1, 1)

    def selects(self, case_id: str) -> bool:
        """Whether the run includes the case."""
        if self.include and not _matches(case_id, self.include):
            return False
        if _matches(case_id, self.exclude):
            return False
        i, n = self.shard
        return n == 1 or zlib.crc32(case_id.encode()) % n == i - 1

    def expects_failure(self, case_id: str) -> bool:
        """Whether the case is expected to fail (its failure does not fail the run)."""
        return _matches(case_id, self.xfail)
