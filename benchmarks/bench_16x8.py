"""16x8 models (int16 activations, int8 weights): the reference backend against TFLM, the memory
plan against TFLM's arena, and the cmsis-nn backend's instructions on Cortex-M4 and M55.

Run: ``python benchmarks/bench_16x8.py [--runs N] [--cmsis-nn PATH]``. Writes the ``16x8``
section of ``benchmarks/RESULTS.md``. The models are the test suite's seeded random 16x8
generators (``tests/modelgen.py``), exported to ``.tflite`` for TFLM: the conv family (CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED, seeds whose every node the cmsis-nn backend runs) and the
elementwise/activation family. Instructions are counted as in ``bench_cmsis_nn.py`` (whose
helpers this script uses), outputs checked equal to TFLM's.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

# The random model generators live with the tests, beside this folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_cmsis_nn import _libraries, _tflm, millions, on_core
from bench_memory import tflm_arena
from results import machine, median_seconds, write_section
from tinyabi_cmsis_nn.build import cortexm

import tinyabi
from tests.modelgen import random_16x8_conv_model, random_16x8_model
from tinyabi.feeds import random_inputs
from tinyabi.ir import Graph
from tinyabi.tflite.exporter import export_tflite

#: (label, graph) of the benchmarked models; the conv seeds run wholly on cmsis-nn.
CONV_SEEDS = (2, 10, 24)
MIXED_SEEDS = (0, 1, 2)


def models() -> list[tuple[str, Graph]]:
    """The benchmarked 16x8 models, labelled by generator and seed."""
    conv = [(f"conv16 seed {s}", random_16x8_conv_model(s)) for s in CONV_SEEDS]
    mixed = [(f"mixed16 seed {s}", random_16x8_model(s)) for s in MIXED_SEEDS]
    return conv + mixed


def reference_row(label: str, graph: Graph, runs: int) -> str:
    """Latency of the reference backend and TFLM, and the arena of both, as a table row."""
    data = export_tflite(graph)
    feeds = random_inputs(graph, 0)
    values = [feeds[n] for n in graph.inputs]
    session = tinyabi.Session(graph, backends=["reference"], fallback="error", strict=True)
    ref_s = median_seconds(functools.partial(session.run, feeds), runs)
    interpreter = _tflm(data)

    def run_tflm() -> object:
        for i, v in enumerate(values):
            interpreter.set_input(v, i)
        interpreter.invoke()
        return [interpreter.get_output(i) for i in range(len(graph.outputs))]

    tflm_s = median_seconds(run_tflm, runs)
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(data)
        f.flush()
        arena = tflm_arena(f.name)
    memory = session.memory
    head = "n/a" if arena is None else f"{arena[0]:,}"
    versus = "n/a" if arena is None else f"{memory.arena_bytes / arena[0]:.2f}x"
    return (
        f"| {label} | {len(graph.nodes)} | {ref_s * 1e3:.3f} | {tflm_s * 1e3:.3f} "
        f"| {ref_s / tflm_s:.2f}x | {memory.arena_bytes:,} | {head} | {versus} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per model (default 50)")
    parser.add_argument("--cmsis-nn", help="Arm's CMSIS-NN tree (default: beside the repo)")
    args = parser.parse_args()
    rows = []
    for label, graph in models():
        rows.append(reference_row(label, graph, args.runs))
        print(rows[-1], flush=True)

    libraries, library_text = _libraries(args.cmsis_nn)
    core_rows = []
    missing = cortexm.missing_tools()
    if not missing:
        for label, graph in models()[: len(CONV_SEEDS)]:
            data = export_tflite(graph)
            for lib in libraries:
                m4 = on_core(data, graph, lib, "cortex-m4")
                m55 = on_core(data, graph, lib, "cortex-m55")
                core_rows.append(
                    f"| {label} | {lib.label} | {millions(m4.instructions)} "
                    f"| {millions(m55.instructions)} |"
                )
                print(core_rows[-1], flush=True)
    ops = sorted({n.op for _, g in models()[: len(CONV_SEEDS)] for n in g.nodes})
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    body = [
        "## 16x8 models (`bench_16x8.py`)",
        "",
        f"Run on {date.today().isoformat()} at {commit or 'an unknown commit'}: {machine()}.",
        "Random 16x8 models from the test generators (`tests/modelgen.py`): *conv16* = "
        "`random_16x8_conv_model` (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED with int64 or "
        "int32 biases), *mixed16* = `random_16x8_model` (pooling, LEAKY_RELU, LOGISTIC, TANH, "
        "ADD/SUB/MUL, CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE, MEAN, SOFTMAX, QUANTIZE).",
        "",
        "### Reference backend vs TFLM, and the arena",
        "",
        f"Median of {args.runs} runs after 3 warm-up runs, one random input, ms per inference; "
        'the reference backend alone (`fallback="error"`), TFLM = its Python interpreter '
        "(reference kernels). Arena bytes: tinyabi's memory plan vs TFLM's activation arena "
        "(head). The models are tiny (a few hundred to a few thousand activation bytes), so the "
        "reference backend's fixed cost per node (Python) dominates its time here.",
        "",
        "| model | nodes | reference ms | TFLM ms | reference / TFLM | tinyabi arena | TFLM head "
        "| arena / TFLM |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "### cmsis-nn instructions per inference under QEMU",
        "",
    ]
    if core_rows:
        body += [
            "Instructions executed by `model_run()` (SysTick under `qemu-system-arm -icount "
            "shift=0`), the conv16 models wholly on the cmsis-nn backend "
            f"({', '.join(ops)}; the s16 kernels), outputs checked equal to TFLM's; firmware as in "
            f"the CMSIS-NN section. {library_text}; the portable s16 functions are plain C (no "
            "DSP or MVE paths yet). TFLM's own Cortex-M figures for these models are not "
            "available (no TFLM firmware build here).",
            "",
            "| model | library | M4 | M55 |",
            "|---|---|---|---|",
            *core_rows,
        ]
    else:
        body.append(f"Not measured: {', '.join(missing)} missing.")
    write_section("16x8", "\n".join(body))


if __name__ == "__main__":
    main()
