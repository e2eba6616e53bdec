"""The TFLM arena a model needs, found by running it rather than by guessing.

TFLM's allocation record (``print_allocations``, printed from C++) gives a total, but that
total is not always enough to run (``ad01_int8`` reports 3,984 bytes and needs 4,632), and an
arena that is too small can crash the process instead of raising. So every trial runs in the
worker process: first with a generous arena, which gives the record and the reference outputs,
then a search from the reported total for the smallest arena (in 16-byte steps) with which the
model loads, runs and produces the same outputs (16-byte steps, then single bytes). The answer
is cached by the model's hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from tinyabi.progress import progress_bar
from tinyabi_tflm import cache, runtimes
from tinyabi_tflm.isolation import Worker, shared_worker
from tinyabi_tflm.jobs import RunResult, generous_arena, run_isolated

#: TFLM aligns arena allocations to 16 bytes; the search works in these steps.
ALIGN = 16
#: The largest arena the search tries before giving up.
MAX_ARENA = 1 << 30
#: Messages with which TFLM says the arena is too small.
_TOO_SMALL = ("Failed to allocate", "Failed to resize buffer", "bytes required", "Too many buffers")


@dataclass(frozen=True)
class Arena:
    """The arena a model needs, and TFLM's own record of it."""

    #: The smallest arena, in bytes, with which the model runs correctly.
    size: int
    #: TFLM's allocation record after a run with a generous arena: total, head and tail.
    reported_total: int
    head: int
    tail: int
    #: How many runs the search took (0 when the answer came from the cache).
    trials: int = 0


class ArenaError(Exception):
    """The model does not run on TFLM at all (not an arena problem); carries the run's result."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.describe())
        self.result = result


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _too_small(result: RunResult) -> bool:
    """Whether TFLM said the arena is too small (a crash is not taken as that answer here)."""
    return any(s in result.log + result.error for s in _TOO_SMALL)


def cache_key(digest: str) -> str:
    """The cache key of a model's arena: its hash and TFLM's version."""
    return f"{digest} {runtimes.runtime_version(runtimes.TFLM)}"


def find_arena(
    model: bytes,
    digest: str,
    inputs: list[np.ndarray],
    outputs: int,
    worker: Worker | None = None,
) -> Arena:
    """The arena ``model`` needs (cached by ``digest``); :class:`ArenaError` when the model
    does not run on TFLM with any arena."""
    key = cache_key(digest)
    cached = cache.load("tflm-arena", key)
    if cached is not None:
        try:
            return Arena(**{**cached, "trials": 0})
        except TypeError:
            pass
    with progress_bar(None, "TFLM arena search", unit="run") as bar:
        arena = _search(model, inputs, outputs, worker or shared_worker(), bar.update)
    cache.store("tflm-arena", key, {k: v for k, v in asdict(arena).items() if k != "trials"})
    return arena


def _search(
    model: bytes,
    inputs: list[np.ndarray],
    outputs: int,
    worker: Worker,
    step: Callable[[], object],
) -> Arena:
    """The search itself: a generous run for the record, then :func:`smallest`."""
    trials = 0

    def run(size: int, allocations: bool = False) -> RunResult:
        nonlocal trials
        trials += 1
        step()
        return run_isolated(
            runtimes.TFLM, model, inputs, outputs, worker, arena_size=size, allocations=allocations
        )

    size = _align(generous_arena(model))
    first = run(size, allocations=True)
    while not first.ok and _too_small(first) and size < MAX_ARENA:
        size *= 4
        first = run(size, allocations=True)
    if not first.ok:
        raise ArenaError(first)
    record = first.allocations()
    expected = first.outputs

    def works(candidate: int) -> bool:
        result = run(candidate)
        return result.ok and all(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip(result.outputs, expected)
        )

    reported = record.get("total", 0)
    needed = smallest(works, guess=_align(reported), good=size)
    return Arena(needed, reported, record.get("head", 0), record.get("tail", 0), trials)


def smallest(works: Callable[[int], bool], guess: int, good: int) -> int:
    """The smallest size in ``(0, good]`` for which ``works`` holds, assuming it holds from
    some size on; ``good`` (a multiple of :data:`ALIGN`) is known to work, ``guess`` (one too)
    is likely close."""
    bad = 0
    if bad < guess < good:
        if works(guess):
            good = guess
            below = guess - ALIGN
            if below > bad:
                if works(below):
                    good = below
                else:
                    bad = below
        else:
            bad = guess
            step = max(ALIGN, _align(guess // 16))
            while bad + step < good:
                if works(bad + step):
                    good = bad + step
                    break
                bad += step
                step *= 2
    for step in (ALIGN, 1):  # 16-byte steps first, then the last few bytes
        while good - bad > step:
            middle = bad + (good - bad) // 2 // step * step
            if works(middle):
                good = middle
            else:
                bad = middle
    return good
