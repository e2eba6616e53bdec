"""Shared helpers of the benchmark scripts: timing, machine description, RESULTS.md sections.

Each benchmark owns one section of ``benchmarks/RESULTS.md`` between ``<!-- NAME -->`` and
``<!-- /NAME -->`` markers and rewrites only that section, so scripts can run independently.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def median_seconds(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    """The median wall time of ``fn`` over ``runs`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> str:
    """One line describing the machine and the numeric stack."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        info = threadpool_info()
        blas = ", ".join(
            f"{i['internal_api']} {i.get('version', '')} ({i.get('architecture', '')})"
            for i in info
        )
    except ImportError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy {np.__version__}"
        + (f", {blas}" if blas else "")
        + f"; load average {os.getloadavg()[0]:.2f} when the run started"
    )


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of RESULTS.md with ``body``."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nEach section is written by the script it names.\n"
    )
    block = f"<!-- {name} -->\n{body.rstrip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    RESULTS.write_text(text)
