"""Running conformance cases on a backend, each in a worker process that may die.

A backend under test is not trusted: one case may segfault, abort, loop forever or allocate
without bound. Cases run in a pebble process pool (``spawn`` start method, so no interpreter
state or runtime threads are inherited): each task has a time limit, a worker that dies or
overruns is replaced, and every worker runs under an address-space limit for data. The worker
builds the backend once from its class and options (a :class:`BackendRecipe`), so the class
must be importable; ``jobs=0`` runs cases in this process instead (no isolation).
"""

from __future__ import annotations

import multiprocessing
import pickle
import resource
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, TimeoutError, as_completed
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pebble import ProcessExpired, ProcessPool

from tinyabi.backends.base import Backend, BackendOptions, CompiledPartition
from tinyabi.conformance.cases import Case
from tinyabi.conformance.outcome import Stage
from tinyabi.errors import InputError
from tinyabi.ir.graph import Graph
from tinyabi.ir.validate import check_node

#: Default time limit of one case, seconds (compiling C for one case takes about a second).
DEFAULT_TIMEOUT = 60.0
#: Default limit of a worker's data memory, MiB.
DEFAULT_MEMORY_MB = 4096


@dataclass(frozen=True)
class BackendRecipe:
    """How a worker builds the backend under test: its class and validated options."""

    cls: type[Backend]
    options: BackendOptions

    @classmethod
    def of(cls, backend: Backend) -> BackendRecipe:
        """The recipe of an existing backend instance."""
        return cls(type(backend), backend.options)

    def build(self) -> Backend:
        """A fresh backend instance."""
        return self.cls(self.options)


@dataclass
class Attempt:
    """What happened when a backend got one case.

    ``kind``: ``declined`` (``supports`` said no; ``message`` is the reason), ``raised``
    (an exception at ``stage``), ``outputs`` (it answered), ``memory`` (it ran out of its
    memory limit), ``crash`` (the worker died), ``timeout`` (the case overran its limit).
    """

    kind: Literal["declined", "raised", "outputs", "memory", "crash", "timeout"]
    stage: Stage | None = None
    message: str = ""
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def error_text(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def attempt(backend: Backend, graph: Graph, inputs: Mapping[str, np.ndarray]) -> Attempt:
    """Ask ``backend`` for the graph's only node, then compile and run it; never raises for the
    backend's errors."""
    start = time.perf_counter()
    stage: Stage = "supports"
    try:
        node = graph.nodes[0]
        verdict = backend.supports(node, graph, check_node(node, graph))
        if not verdict:
            reason = " ".join(str(getattr(verdict, "reason", "") or "declined").split())
            return Attempt("declined", "supports", reason)
        stage = "compile"
        compiled = backend.compile(graph)
        if not isinstance(compiled, CompiledPartition):
            message = f"compile returned {compiled!r}, not a CompiledPartition"
            return Attempt("raised", "compile", message)
        stage = "run"
        outputs = compiled.run({k: np.array(v, copy=True) for k, v in inputs.items()})
        result = {k: np.asarray(v) for k, v in dict(outputs).items()}
    except MemoryError as exc:
        return Attempt("memory", stage, f"ran out of memory ({error_text(exc)})")
    except Exception as exc:
        return Attempt("raised", stage, error_text(exc), seconds=time.perf_counter() - start)
    return Attempt("outputs", "run", "", result, time.perf_counter() - start)


# --- the worker side ------------------------------------------------------------------------

_RECIPE: BackendRecipe | None = None
_BACKEND: Backend | None = None


def _init_worker(recipe: BackendRecipe, memory_bytes: int) -> None:
    global _RECIPE
    _RECIPE = recipe
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))


def _work(graph: Graph, inputs: dict[str, np.ndarray]) -> Attempt:
    global _BACKEND
    if _BACKEND is None:
        assert _RECIPE is not None
        try:
            _BACKEND = _RECIPE.build()
        except Exception as exc:
            return Attempt("raised", "worker", f"the backend could not be built: {error_text(exc)}")
    return attempt(_BACKEND, graph, inputs)


def _death(exc: ProcessExpired) -> str:
    code = exc.exitcode
    if code is not None and code < 0:
        try:
            return f"the worker died from signal {signal.Signals(-code).name}"
        except ValueError:
            return f"the worker died from signal {-code}"
    return f"the worker exited with status {code}"


class CaseRunner:
    """Runs cases on one backend: in ``jobs`` worker processes (``jobs >= 1``) with a time
    limit per case and a data memory limit per worker, or in this process (``jobs == 0``).

    Use as a context manager; :meth:`run` yields each case with its :class:`Attempt` as they
    complete."""

    def __init__(
        self,
        backend: Backend,
        jobs: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
        memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        if jobs < 0:
            raise InputError(f"jobs must be 0 (in this process) or more, got {jobs}")
        if timeout <= 0:
            raise InputError(f"the time limit per case must be positive, got {timeout}")
        self.backend = backend
        self.jobs = jobs
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._pool: ProcessPool | None = None

    def __enter__(self) -> CaseRunner:
        if self.jobs > 0:
            recipe = BackendRecipe.of(self.backend)
            try:
                pickle.dumps(recipe)
            except Exception as exc:
                raise InputError(
                    f"backend {self.backend.name!r} cannot be sent to worker processes "
                    f"({error_text(exc)}); define its class at module level, or use jobs=0"
                ) from None
            self._pool = ProcessPool(
                max_workers=self.jobs,
                initializer=_init_worker,
                initargs=(recipe, self.memory_mb * 2**20),
                context=multiprocessing.get_context("spawn"),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    def run(self, cases: Sequence[Case]) -> Iterator[tuple[Case, Attempt]]:
        """Each case with what happened to it, in the order they complete."""
        if self._pool is None:
            for case in cases:
                yield case, attempt(self.backend, case.graph, case.inputs)
            return
        futures: dict[Future[Attempt], Case] = {
            self._pool.schedule(_work, args=(case.graph, case.inputs), timeout=self.timeout): case
            for case in cases
        }
        for future in as_completed(futures):
            yield futures[future], self._outcome(future)

    def _outcome(self, future: Future[Attempt]) -> Attempt:
        try:
            return future.result()
        except TimeoutError:
            return Attempt(
                "timeout", "worker", f"ran past the time limit of {self.timeout:g} s",
                seconds=self.timeout,
            )  # fmt: skip
        except ProcessExpired as exc:
            return Attempt("crash", "worker", _death(exc))
        except MemoryError as exc:
            return Attempt("memory", "worker", f"ran out of memory ({error_text(exc)})")
        except Exception as exc:
            return Attempt("raised", "worker", error_text(exc))
