"""tinyabi's memory plan against TensorFlow Lite Micro's arena, on every shared model.

Run: ``python benchmarks/bench_memory.py``. Writes the ``memory`` section of
``benchmarks/RESULTS.md``. TFLM's numbers come from its allocation record
(``print_allocations``, read in a child process because it prints from C++ and because a wrong
arena size can crash the process): "head" is its activation arena, "total" adds its persistent
allocations. tinyabi's arena is the plan of a reference-only session; the lower bound is the
largest sum of tensors live at once in the plan's execution order.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date

from results import MODELS, machine, write_section

import tinyabi

MODELS_ALL = [
    "kws_ref_model",
    "vww_96_int8",
    "ad01_int8",
    "kws_ref_model_float32",
    "vww_96_float",
    "ad01_fp32",
]

_PROBE = """
import sys
from tflite_micro.python.tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
runtime.Interpreter.from_bytes(data, arena_size=4 * len(data) + (1 << 20)).print_allocations()
"""


def tflm_arena(path: str) -> tuple[int, int] | None:
    """TFLM's (head, total) arena bytes for the model at ``path`` (None if TFLM refuses it)."""
    run = subprocess.run([sys.executable, "-c", _PROBE, path], capture_output=True, text=True)
    if run.returncode != 0:
        return None
    out = run.stdout + run.stderr
    head = int(re.search(r"allocation head (\d+) bytes", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"allocation total (\d+) bytes", out).group(1))  # type: ignore[union-attr]
    return head, total


def main() -> None:
    rows = []
    for name in MODELS_ALL:
        path = MODELS / f"{name}.tflite"
        arena = tflm_arena(str(path))
        memory = tinyabi.Session(tinyabi.load(path), backends=["reference"]).memory
        gap = memory.arena_bytes / memory.lower_bound_bytes - 1
        tflm = (
            "refused (hybrid) | n/a | n/a"
            if arena is None
            else (f"{arena[0]:,} | {arena[1]:,} | {memory.arena_bytes / arena[0]:.2f}x")
        )
        rows.append(
            f"| {name} | {memory.arena_bytes:,} | {memory.lower_bound_bytes:,} | {gap:.1%} "
            f"| {tflm} |"
        )
        print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## Memory plan vs TFLM's arena (`bench_memory.py`)",
            "",
            f"Run on {date.today().isoformat()}: {machine()}.",
            "Bytes. Goals: tinyabi's arena no larger than TFLM's activation arena (head), and "
            "within 5% of the lower bound.",
            "",
            "| model | tinyabi arena | lower bound | above bound | TFLM head | TFLM total "
            "| tinyabi / TFLM head |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    write_section("memory", body)


if __name__ == "__main__":
    main()
