"""Running conformance cases on a backend, each in a worker process that may die.

A backend under test is not trusted: one case may segfault, abort, loop forever or allocate
without bound. Cases run in worker processes (multiprocessing's ``spawn`` start method, so no
interpreter state or runtime threads are inherited), each with its own pipe and one case at a
time: a case has a time limit (from when the worker starts it, so starting a worker does
not count against it), a worker that dies or overruns is killed and replaced, and every
worker runs under a limit of its data memory. (Pools whose workers share one task channel,
``concurrent.futures`` and pebble, break or can deadlock when a worker dies mid-task.) The
worker builds the backend once from its class and options (a :class:`BackendRecipe`), so the
class must be importable; ``jobs=0`` runs cases in this process instead (no isolation).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import resource
import signal
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from typing import Literal

import numpy as np

from tinyabi.backends.base import Backend, BackendOptions, CompiledPartition
from tinyabi.conformance.cases import Case
from tinyabi.conformance.outcome import Stage
from tinyabi.errors import InputError
from tinyabi.ir.graph import Graph
from tinyabi.ir.validate import check_node

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "STARTED",
    "STARTUP_SECONDS",
    "Attempt",
    "BackendRecipe",
    "CaseRunner",
    "attempt",
    "error_text",
]

#: Default time limit of one case, seconds (compiling C for one case takes about a second).
DEFAULT_TIMEOUT = 60.0
#: Default limit of a worker's data memory, MiB.
DEFAULT_MEMORY_MB = 4096
#: Time a new worker may take to start its interpreter and build the backend, seconds.
STARTUP_SECONDS = 120.0
#: What a worker sends when it starts a case.
STARTED = "started"


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
        if getattr(verdict, "outside_spec", False):
            # Claimed by the runtime's own semantics, not as the spec operator: not certified.
            return Attempt("declined", "supports", f"claimed outside the spec: {verdict.reason}")
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


def _serve(conn: Connection, recipe: BackendRecipe, memory_bytes: int) -> None:
    """A worker's loop: build the backend once, then answer cases until told to stop."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    backend: Backend | None = None
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if backend is None:
            try:
                backend = recipe.build()
            except Exception as exc:
                message = f"the backend could not be built: {error_text(exc)}"
                conn.send(Attempt("raised", "worker", message))
                continue
        conn.send(STARTED)  # the case's time limit runs from here
        conn.send(attempt(backend, *task))


class _Worker:
    """One worker process with its own pipe, and the case it is running."""

    def __init__(self, context: SpawnContext, recipe: BackendRecipe, memory_bytes: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, recipe, memory_bytes))
        self.process.start()
        child.close()
        self.case: Case | None = None
        self.started = False
        self.deadline = 0.0

    def give(self, case: Case, timeout: float) -> None:
        """Send ``case``; until the worker says it started it (after starting the interpreter
        and building the backend), the limit includes :data:`STARTUP_SECONDS`."""
        self.conn.send((case.graph, case.inputs))
        self.case, self.started = case, False
        self.deadline = time.monotonic() + STARTUP_SECONDS + timeout

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"the worker died from signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"the worker died from signal {-exitcode}"
    return f"the worker exited with status {exitcode}"


class CaseRunner:
    """Runs cases on one backend: in ``jobs`` worker processes (``jobs >= 1``) with a time
    limit per case and a data memory limit per worker, or in this process (``jobs == 0``).

    Each worker has its own pipe and gets one case at a time, so a worker that dies or is
    killed takes nothing shared with it; it is replaced and the next case goes to the new one.
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
        self.memory_bytes = memory_mb * 2**20
        self._recipe: BackendRecipe | None = None
        self._workers: list[_Worker] = []
        self._context = multiprocessing.get_context("spawn")

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
            self._recipe = recipe
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def _new_worker(self) -> _Worker:
        assert self._recipe is not None
        return _Worker(self._context, self._recipe, self.memory_bytes)

    def _give(self, index: int, case: Case) -> None:
        """Hand ``case`` to worker ``index``, replacing the worker if it died meanwhile."""
        try:
            self._workers[index].give(case, self.timeout)
        except OSError:
            self._workers[index].kill()
            self._workers[index] = self._new_worker()
            self._workers[index].give(case, self.timeout)

    def run(self, cases: Sequence[Case]) -> Iterator[tuple[Case, Attempt]]:
        """Each case with what happened to it, in the order they complete."""
        if self._recipe is None:
            for case in cases:
                yield case, attempt(self.backend, case.graph, case.inputs)
            return
        pending = deque(cases)
        while len(self._workers) < min(self.jobs, len(pending)):
            self._workers.append(self._new_worker())
        for i in range(len(self._workers)):
            if pending:
                self._give(i, pending.popleft())
        while any(w.case is not None for w in self._workers):
            busy = [w for w in self._workers if w.case is not None]
            left = min(w.deadline for w in busy) - time.monotonic()
            wait([*(w.conn for w in busy), *(w.process.sentinel for w in busy)], max(left, 0))
            for i, worker in enumerate(self._workers):
                current = worker.case
                if current is None:
                    continue
                outcome = self._collect(i)
                if outcome is None:
                    continue
                yield current, outcome
                if pending:
                    self._give(i, pending.popleft())

    def _collect(self, index: int) -> Attempt | None:
        """Worker ``index``'s outcome when it has one (replacing a dead or overrun worker)."""
        worker = self._workers[index]
        outcome: Attempt | None = None
        while outcome is None and worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join()
                outcome = Attempt("crash", "worker", _death(worker.process.exitcode))
                break
            if message == STARTED:
                worker.started, worker.deadline = True, time.monotonic() + self.timeout
            else:
                outcome = message
        if outcome is None and not worker.process.is_alive():
            outcome = Attempt("crash", "worker", _death(worker.process.exitcode))
        elif outcome is None and time.monotonic() >= worker.deadline:
            if worker.started:
                message = f"ran past the time limit of {self.timeout:g} s"
            else:
                message = f"the worker did not start the case within {STARTUP_SECONDS:g} s"
            outcome = Attempt("timeout", "worker", message, seconds=self.timeout)
        if outcome is None:
            return None
        if outcome.kind in ("crash", "timeout") or not worker.process.is_alive():
            worker.kill()
            self._workers[index] = self._new_worker()
        else:
            worker.case = None
        return outcome
