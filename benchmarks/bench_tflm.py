"""The tflm and litert backends (plugins/tinyabi-tflm) against calling the runtimes directly.

Run: ``python benchmarks/bench_tflm.py [--seconds S]``. Writes the ``tflm`` section of
``benchmarks/RESULTS.md``:

* latency per inference, median after warm-up, of ``Session(model, backends=[b]).run`` and of
  the same runtime called directly on the original file through its public Python API (inputs
  set, invoke, outputs read), plus the plugin's compiled partition called without the Session,
  which splits the overhead between the plugin and the dispatcher. Blocks of runs alternate
  between the contestants so drifts in machine speed hit all of them;
* TFLM's arena for each model (the size the plugin found, TFLM's own record) next to tinyabi's
  memory plan;
* where LiteRT's int8 results differ from TFLM's (the reference backend's) and by how much.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from results import MODELS, machine, write_section
from tflite_micro.python.tflite_micro import runtime
from tinyabi_tflm.tflm import TFLMPartition

import tinyabi
from tinyabi.feeds import random_inputs

INT8 = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
FLOAT = ["kws_ref_model_float32", "vww_96_float", "ad01_fp32"]
HYBRID = {"kws_ref_model_float32"}  # TFLM refuses it
GOALS = {"tflm": 0.10, "litert": 0.05}


def alternate(contestants: dict[str, Callable[[], object]], seconds: float) -> dict[str, float]:
    """Median seconds per call of each contestant: after warm-up, rounds of equal-sized blocks
    of calls, one block per contestant per round, for about ``seconds`` in all."""
    for fn in contestants.values():
        for _ in range(20):
            fn()
    start = time.perf_counter()
    first = next(iter(contestants.values()))
    for _ in range(20):
        first()
    per_call = (time.perf_counter() - start) / 20
    block = max(5, int(0.02 / max(per_call, 1e-7)))
    rounds = max(5, int(seconds / (len(contestants) * block * per_call)))
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, fn in contestants.items():
            for _ in range(block):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(values) for name, values in times.items()}


def direct_tflm(data: bytes, values: list[np.ndarray], outputs: int) -> Callable[[], object]:
    """TFLM's interpreter on the original file, as a user would call it."""
    interpreter = runtime.Interpreter.from_bytes(data)  # TFLM's default arena: 10x the model

    def run() -> object:
        for i, v in enumerate(values):
            interpreter.set_input(v, i)
        interpreter.invoke()
        return [interpreter.get_output(i) for i in range(outputs)]

    return run


def direct_litert(data: bytes, values: list[np.ndarray]) -> Callable[[], object]:
    """LiteRT's interpreter on the original file, as a user would call it."""
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    inputs = [d["index"] for d in interpreter.get_input_details()]
    outputs = [d["index"] for d in interpreter.get_output_details()]

    def run() -> object:
        for index, v in zip(inputs, values):
            interpreter.set_tensor(index, v)
        interpreter.invoke()
        return [interpreter.get_tensor(index) for index in outputs]

    return run


def bench_latency(name: str, backend: str, seconds: float) -> dict[str, float] | None:
    data = (MODELS / f"{name}.tflite").read_bytes()
    graph = tinyabi.load(data)
    if backend == "tflm" and name in HYBRID:
        return None
    # litert is told to take int8 nodes too: here its speed is measured, not its rounding.
    spec = ("litert", {"int8": True}) if backend == "litert" else backend
    # strict: a figure published under a backend's name is never another backend's.
    session = tinyabi.Session(graph, backends=[spec], fallback="error", strict=True)
    feeds = random_inputs(session.graph, 0)
    values = [feeds[n] for n in session.graph.inputs]
    (partition,) = session.compiled
    direct = (
        direct_tflm(data, values, len(graph.outputs))
        if backend == "tflm"
        else direct_litert(data, values)
    )
    named = dict(feeds)
    return alternate(
        {
            "direct": direct,
            "partition": lambda: partition.run(named),
            "session": lambda: session.run(feeds),
        },
        seconds,
    )


def arena_row(name: str) -> str:
    graph = tinyabi.load(str(MODELS / f"{name}.tflite"))
    session = tinyabi.Session(graph, backends=["tflm"], fallback="error", strict=True)
    (partition,) = session.compiled
    assert isinstance(partition, TFLMPartition)
    arena, memory = partition.arena, session.memory
    return (
        f"| {name} | {arena.size:,} | {arena.reported_total:,} | {arena.head:,} | "
        f"{memory.arena_bytes:,} | {memory.lower_bound_bytes:,} | "
        f"{memory.arena_bytes / arena.head:.2f}x |"
    )


def litert_rows(name: str, inputs: int) -> list[str]:
    graph = tinyabi.load(str(MODELS / f"{name}.tflite"))
    reference = tinyabi.Session(graph, backends=["reference"])
    feeds = [random_inputs(graph, seed) for seed in range(inputs)]
    truth = [reference.run(f) for f in feeds]
    rows = []
    for kernels in ("default", "builtin", "reference"):
        session = tinyabi.Session(
            graph,
            backends=[("litert", {"kernels": kernels, "int8": True})],
            fallback="error",
            strict=True,
        )
        worst, elements, differing, runs = 0, 0, 0, 0
        for feed, want in zip(feeds, truth):
            got = session.run(feed)
            diff = np.concatenate(
                [np.abs(got[k].astype(np.int64) - want[k].astype(np.int64)).ravel() for k in want]
            )
            worst = max(worst, int(diff.max()))
            elements += diff.size
            differing += int(np.count_nonzero(diff))
            runs += int(diff.any())
        rows.append(
            f"| {name} | {kernels} | {worst} | {differing:,} / {elements:,} | "
            f"{runs} / {len(feeds)} |"
        )
    return rows


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per model and backend")
    parser.add_argument("--inputs", type=int, default=20, help="random inputs for accuracy")
    args = parser.parse_args()

    lines = [
        "## TFLM and LiteRT backends vs the runtimes called directly (`bench_tflm.py`)",
        "",
        f"Run on {date.today().isoformat()}: {machine()}.",
        "Microseconds per inference, median over alternating blocks of runs after warm-up, "
        "one random input. *direct*: the runtime's public Python API on the original file "
        "(set inputs, invoke, read outputs). *partition*: the plugin's compiled partition "
        "called without the Session. *session*: `Session(model, backends=[b]).run`. "
        "Overhead = session / direct - 1; goals: at most 10% for tflm, 5% for litert. "
        "TFLM refuses the hybrid model (n/a).",
        "",
        "| model | backend | direct µs | partition µs | session µs | overhead | goal met |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend in ("tflm", "litert"):
        for name in INT8 + FLOAT:
            result = bench_latency(name, backend, args.seconds)
            if result is None:
                lines.append(f"| {name} | {backend} | n/a | n/a | n/a | n/a | n/a |")
                continue
            overhead = result["session"] / result["direct"] - 1
            met = "yes" if overhead <= GOALS[backend] else "no"
            lines.append(
                f"| {name} | {backend} | {us(result['direct'])} | {us(result['partition'])} | "
                f"{us(result['session'])} | {overhead:+.1%} | {met} |"
            )
    lines += [
        "",
        "TFLM's arena per model, bytes: *needed* is the smallest arena with which TFLM runs the "
        "model (found by the plugin, in a child process); *recorded total* and *head* "
        "(activations) come from TFLM's `print_allocations`. Next to them, tinyabi's own memory "
        "plan for the activations: `Session(...).memory.arena_bytes` and its lower bound.",
        "",
        "| model | TFLM needed | TFLM recorded total | TFLM head | tinyabi arena | "
        "lower bound | tinyabi / TFLM head |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [arena_row(name) for name in INT8 + [n for n in FLOAT if n not in HYBRID]]
    lines += [
        "",
        f"LiteRT int8 against TFLM (the reference backend, bit-exact with TFLM) over "
        f"{args.inputs} random inputs per model, for each `kernels` option of the litert "
        "backend: *default* is LiteRT's default CPU path (XNNPACK), *builtin* its builtin "
        "kernels without XNNPACK, *reference* TFLite's reference kernels. Largest difference "
        "in LSB, output elements that differ, runs with any difference.",
        "",
        "| model | kernels | max LSB | elements differing | runs differing |",
        "|---|---|---|---|---|",
    ]
    for name in INT8:
        lines += litert_rows(name, args.inputs)
    write_section("tflm", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
