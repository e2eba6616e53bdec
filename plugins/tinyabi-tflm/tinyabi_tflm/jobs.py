"""Jobs for the worker process: run one exported model once on a runtime, and the inputs to
run it with.

Everything that might crash the native runtimes goes through :func:`run_isolated`: the model
runs in the worker (:mod:`tinyabi_tflm.isolation`), and the result says whether it ran, what it
produced and what the runtime printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyabi.ir import Graph, numpy_dtype
from tinyabi_tflm import runtimes
from tinyabi_tflm.isolation import Worker, shared_worker

#: TFLM's allocation record lines (``print_allocations``).
_ALLOCATION = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
#: Lines of a runtime's log worth quoting in an error message.
_NOISE = re.compile(r"^(INFO: |\[RecordingMicroAllocator\] ')")


@dataclass
class RunResult:
    """What one isolated run gave."""

    ok: bool
    outputs: list[np.ndarray] = field(default_factory=list)
    error: str = ""
    log: str = ""
    crashed: bool = False

    def allocations(self) -> dict[str, int]:
        """TFLM's allocation record (``total``, ``head``, ``tail`` bytes) from the log."""
        return {kind: int(value) for kind, value in _ALLOCATION.findall(self.log)}

    def describe(self) -> str:
        """The error and the runtime's own messages, on one line."""
        lines = [
            line.strip()
            for line in self.log.splitlines()
            if line.strip() and not _NOISE.match(line.strip())
        ]
        details = "; ".join(dict.fromkeys(lines))
        if len(details) > 600:
            details = details[:600] + "..."
        error = "; ".join(line.strip() for line in self.error.splitlines() if line.strip())
        return error + (f" ({details})" if details else "")


def generous_arena(model: bytes) -> int:
    """An arena far larger than a model of this size needs (the first guess when probing)."""
    return 4 * len(model) + (1 << 20)


def probe_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """Deterministic inputs for ``graph``: random 8- and 16-bit integers and bools, floats in
    [-1, 1], zeros for wider integers (often indices or shapes, where zero is safe)."""
    rng = np.random.default_rng(seed)
    values = []
    for name in graph.inputs:
        t = graph.tensor(name)
        dtype = numpy_dtype(t.dtype)
        if dtype.kind == "b":
            values.append(rng.integers(0, 2, size=t.shape).astype(np.bool_))
        elif dtype.kind == "f":
            values.append(rng.uniform(-1.0, 1.0, size=t.shape).astype(dtype))
        elif dtype.itemsize <= 2:
            low, high = np.iinfo(dtype.name).min, np.iinfo(dtype.name).max
            values.append(rng.integers(int(low), int(high) + 1, t.shape).astype(dtype))
        else:
            values.append(np.zeros(t.shape, dtype))
    return values


def run_isolated(
    runtime: str,
    model: bytes,
    inputs: list[np.ndarray],
    outputs: int,
    worker: Worker | None = None,
    **options: Any,
) -> RunResult:
    """Run ``model`` once in the worker. TFLM options: ``arena_size`` (default: generous),
    ``allocations`` (print the allocation record into the log); LiteRT: ``kernels``,
    ``threads``."""
    job: dict[str, Any] = {
        "runtime": runtime,
        "model": model,
        "inputs": inputs,
        "outputs": outputs,
        **options,
    }
    if runtime == runtimes.TFLM:
        job.setdefault("arena_size", generous_arena(model))
    result = (worker or shared_worker()).run(job)
    return RunResult(
        ok=bool(result.get("ok")),
        outputs=list(result.get("outputs", [])),
        error=str(result.get("error", "")),
        log=str(result.get("log", "")),
        crashed=bool(result.get("crashed")),
    )
