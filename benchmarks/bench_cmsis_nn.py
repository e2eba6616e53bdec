"""CMSIS-NN backend: generated code on the host and on emulated Cortex-M4 / Cortex-M55.

Run: ``python benchmarks/bench_cmsis_nn.py [--runs N] [--cmsis-nn PATH]`` (needs the
``tinyabi-cmsis-nn`` plugin, and for the Cortex-M columns ``arm-none-eabi-gcc``, newlib and
``qemu-system-arm``). Writes the ``cmsis-nn`` section of ``benchmarks/RESULTS.md``. Every
figure is given for two kernel libraries side by side: tinyabi's portable CMSIS-NN and Arm's
CMSIS-NN (``--cmsis-nn``, default ``$CMSIS_NN_PATH`` or ``../shared/third_party/CMSIS-NN``;
left out when missing). Per shared int8 model:

* host latency of the generated code (``Session(backends=["cmsis-nn"])``, median) next to
  TFLM's Python interpreter and tinyabi's reference backend;
* instructions per inference on Cortex-M4 (``mps2-an386``) and Cortex-M55 (``mps3-an547``),
  counted with SysTick under ``qemu-system-arm -icount shift=0``, with QEMU's wall time;
* flash and RAM of the firmware on each core from ``arm-none-eabi-size`` and the link map,
  with the arena planned for performance (the backend's default ``optimise`` option, which
  the instruction counts are for) and for size;

next to the TFLM + CMSIS-NN figures quoted in the issue, with the goals flash <= 0.75x and
RAM <= 0.65x of those. Every Cortex-M output is checked against TFLM's before it is reported.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from results import MODELS, machine, median_seconds, write_section
from tflite_micro.python.tflite_micro import runtime
from tinyabi_cmsis_nn.backend import CmsisNNBackend, CmsisNNOptions
from tinyabi_cmsis_nn.build import cortexm, host
from tinyabi_cmsis_nn.build.library import find_library
from tinyabi_cmsis_nn.codegen.banding import OPTIMISE, Optimise
from tinyabi_cmsis_nn.codegen.emit import generate

import tinyabi
from tinyabi.feeds import random_inputs
from tinyabi.ir.graph import Graph, numpy_dtype

INT8 = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
CORES = ["cortex-m4", "cortex-m55"]
CORE_NAMES = {"cortex-m4": "Cortex-M4", "cortex-m55": "Cortex-M55"}


@dataclass(frozen=True)
class Published:
    """TFLM + CMSIS-NN on the MLPerf Tiny models, as quoted in the issue (Cortex-M4 for flash
    and arena), and the issue's goals for the model: the portable kernels' instructions as a
    share of TFLM + CMSIS-NN's on each core, and RAM below the layer-by-layer bound as a share
    of TFLM's arena (``None``: no such goal)."""

    m4_instructions: float
    m55_instructions: float
    flash: int
    arena: int
    m4_goal: float
    m55_goal: float
    below_bound_goal: float | None


ISSUE = {
    "kws_ref_model": Published(7.70e6, 1.81e6, 197_952, 22_820, 0.80, 1.00, 0.60),
    "vww_96_int8": Published(24.10e6, 6.56e6, 480_712, 100_708, 0.80, 1.00, 0.45),
    "ad01_int8": Published(0.583e6, 0.150e6, 363_424, 2_580, 0.90, 1.00, None),
}
#: The issue's bound on the MACs computed twice to get below the layer-by-layer bound.
EXTRA_MACS_GOAL = 0.10
#: Where Cortex-M55's kernel sums went.
M55_NOTE = (
    " On Cortex-M55 Arm's `arm_fully_connected_s8` needs the FULLY_CONNECTED kernel sums: "
    "they are computed at generation time and kept in flash (`const`), not in the arena. "
    "Arm's MVE depthwise convolution asks a 4,464-byte buffer (3x3 filters) that its "
    "Cortex-M4 code does not: no gap of the activations holds it while a depthwise layer "
    "runs, so it adds to the arena (and to the layer-by-layer bound) in *performance*; in "
    "*size* the layers whose buffer sets the peak run Arm's `arm_depthwise_conv_s8` instead, "
    "which takes no buffer but many more instructions (the generated README names them); the "
    "TFLM arena quoted is Cortex-M4's, which does not need it either."
)
#: How the arena gets below the layer-by-layer bound (the footprint tables' preamble).
PLAN_NOTE = (
    "Convolutions (depthwise, 1x1 and others) run in row bands whose output overlaps input "
    "rows no later band reads (`codegen/banding.py`, `codegen/arena.py`). *optimise* = the "
    "backend's `optimise` option the arena was planned for: *performance* (the default; the "
    "instruction counts above are for it) gives every banded layer its coarse bands (a few "
    "calls); *size* also takes finer bands (more calls, more instructions) for the layers "
    "where they make the arena smaller, and runs a depthwise layer through the buffer-free "
    "`arm_depthwise_conv_s8` instead of its wrapper where the wrapper's scratch buffer sets "
    "the arena's peak. *layer-by-layer bound* = the most bytes live "
    "while one layer runs whole (its inputs, outputs and what stays live across it, and its "
    "scratch buffer); *achieved arena* = the generated `MODEL_ARENA_SIZE`; *extra MACs* = "
    "MACs computed twice (halo rows), as a share of the run's."
)
FLASH_GOAL = 0.75
RAM_GOAL = 0.65


@dataclass
class CoreResult:
    """One model on one core under QEMU."""

    instructions: int
    stack_bytes: int
    qemu_seconds: float
    build_seconds: float
    sizes: dict[str, int]
    #: The memory plan of the generated code (:class:`PlanFigures`).
    plan: PlanFigures | None = None
    #: What the arena was planned for (the backend's ``optimise`` option).
    optimise: Optimise = "performance"


@dataclass(frozen=True)
class PlanFigures:
    """What the memory planner reports for a model generated for a core."""

    bound: int
    arena: int
    macs: int
    extra_macs: int

    def cells(self) -> str:
        """The footprint table's "layer-by-layer bound | achieved arena | extra MACs" cells."""
        share = 100.0 * self.extra_macs / self.macs if self.macs else 0.0
        return (
            f"{nbytes(self.bound)} | {nbytes(self.arena)} "
            f"| {nbytes(self.extra_macs)} ({share:.1f}%)"
        )


def plan_figures(
    graph: Graph, library: Library, core: str, optimise: Optimise = "performance"
) -> PlanFigures:
    """The memory plan of ``graph`` generated for ``core`` with ``library``, optimised for
    ``optimise`` (what :func:`on_core` builds)."""
    lib = find_library(library.path)
    layout = generate(graph, host.size_oracle(lib, target=core), lib, optimise).layout
    return PlanFigures(layout.bound, layout.total, layout.macs, layout.extra_macs)


def _tflm(data: bytes) -> runtime.Interpreter:
    return runtime.Interpreter.from_bytes(data, arena_size=4 * len(data) + (1 << 20))


def _tflm_outputs(data: bytes, values: list[np.ndarray], count: int) -> list[np.ndarray]:
    interpreter = _tflm(data)
    for i, v in enumerate(values):
        interpreter.set_input(v, i)
    interpreter.invoke()
    return [np.array(interpreter.get_output(i)) for i in range(count)]


#: Arm's CMSIS-NN beside the repository (the tests use the same tree).
ARM_TREE = Path(__file__).resolve().parents[2] / "shared" / "third_party" / "CMSIS-NN"


@dataclass(frozen=True)
class Library:
    """A kernel library to build the generated code with."""

    label: str
    path: str | None  # the CMSIS-NN tree, None for the portable library

    def options(self, optimise: Optimise = "performance") -> dict[str, object]:
        """The cmsis-nn backend options that select it, with the arena planned for
        ``optimise``."""
        return {"optimise": optimise, **({"cmsis_nn_path": self.path} if self.path else {})}


PORTABLE = Library("portable", None)


def host_latencies(data: bytes, graph: Graph, runs: int, libraries: list[Library]) -> list[float]:
    """Median seconds per inference: the generated code on the host with each library, then
    the reference backend, then TFLM."""
    feeds = random_inputs(graph, 0)
    values = [feeds[n] for n in graph.inputs]
    backends: list[tuple[str, dict[str, object]]] = [
        ("cmsis-nn", lib.options()) for lib in libraries
    ]
    result = []
    for backend in [*backends, ("reference", {})]:
        # strict, no fallback: the figure under a backend's name is that backend's alone.
        session = tinyabi.Session(
            tinyabi.load(data), backends=[backend], fallback="error", strict=True
        )
        result.append(median_seconds(functools.partial(session.run, feeds), runs))
    interpreter = _tflm(data)

    def run_tflm() -> object:
        for i, v in enumerate(values):
            interpreter.set_input(v, i)
        interpreter.invoke()
        return [interpreter.get_output(i) for i in range(len(graph.outputs))]

    result.append(median_seconds(run_tflm, runs))
    return result


def on_core(
    data: bytes, graph: Graph, library: Library, core: str, optimise: Optimise = "performance"
) -> CoreResult:
    """Generate the project for ``core`` with ``library`` (the arena planned for
    ``optimise``), build it, run it once under QEMU, check the outputs against TFLM's."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = CmsisNNBackend(CmsisNNOptions.model_validate(library.options(optimise)))
        backend.generate_code(graph, Path(tmp), target=core, measure=False)
        start = time.perf_counter()
        elf = cortexm.build_firmware(tmp, core)
        build_seconds = time.perf_counter() - start
    feeds = random_inputs(graph, 0)
    values = [feeds[n] for n in graph.inputs]
    run = cortexm.run_firmware(elf, core, b"".join(v.tobytes() for v in values), timeout=600)
    expected = b"".join(
        np.ascontiguousarray(v, dtype=numpy_dtype(graph.tensor(n).dtype)).tobytes()
        for n, v in zip(graph.outputs, _tflm_outputs(data, values, len(graph.outputs)))
    )
    if run.output != expected:
        raise SystemExit(
            f"{core} ({library.label}, {optimise}): the firmware's outputs differ from TFLM's"
        )
    return CoreResult(
        run.instructions,
        run.stack_bytes,
        run.seconds,
        build_seconds,
        cortexm.size_report(elf),
        plan_figures(graph, library, core, optimise),
        optimise,
    )


def footprint_row(name: str, label: str, r: CoreResult, pub: Published) -> str:
    """One row of a footprint table (see :data:`FOOTPRINT_HEADER`)."""
    s = r.sizes
    assert r.plan is not None and r.plan.arena == s["arena"], "the ELF's arena is the plan's"
    model_ram = s["arena"] + r.stack_bytes + s["model_static_ram"]
    return (
        f"| {name} | {label} | {r.optimise} | {nbytes(s['model_flash'])} | {nbytes(s['flash'])} "
        f"| {nbytes(pub.flash)} "
        f"| {versus_goal(s['model_flash'] / pub.flash, FLASH_GOAL)} "
        f"| {r.plan.cells()} | {nbytes(r.stack_bytes)} "
        f"| {nbytes(s['model_static_ram'])} | {nbytes(model_ram)} "
        f"| {nbytes(pub.arena)} | {versus_goal(model_ram / pub.arena, RAM_GOAL)} |"
    )


#: The header of the footprint tables.
FOOTPRINT_HEADER = (
    "| model | library | optimise | model flash | firmware flash | TFLM flash | flash ratio "
    "| layer-by-layer bound | achieved arena | extra MACs | peak stack | static | RAM "
    "| TFLM arena | RAM ratio |\n" + "|---" * 15 + "|"
)


def ram_goal_cell(
    core: str, results: list[CoreResult], pub: Published, goal: float = RAM_GOAL
) -> str:
    """Whether RAM <= ``goal`` x TFLM's arena on ``core``, for each mode of ``results`` (one
    per ``optimise`` value), e.g. "Cortex-M4: met (performance 0.53x, size 0.42x)"."""
    ratios = [
        (r.optimise, (r.sizes["arena"] + r.stack_bytes + r.sizes["model_static_ram"]) / pub.arena)
        for r in results
    ]
    met = [mode for mode, ratio in ratios if ratio <= goal]
    verdict = (
        "met"
        if len(met) == len(ratios)
        else f"met with {' and '.join(met)} only"
        if met
        else "**missed**"
    )
    shares = ", ".join(f"{mode} {ratio:.2f}x" for mode, ratio in ratios)
    return f"{CORE_NAMES[core]}: {verdict} ({shares})"


def millions(value: float) -> str:
    """Instructions in millions."""
    return f"{value / 1e6:.3f} M"


def nbytes(value: int) -> str:
    """Bytes with thousands separators."""
    return f"{value:,}"


def versus_goal(ratio: float, goal: float) -> str:
    """A ratio to a published figure, and whether it meets the goal."""
    return f"**{ratio:.3f}x** ({'meets' if ratio <= goal else 'misses'} <= {goal:.2f}x)"


def instruction_ratio(instructions: int, published: float, goal: float | None) -> str:
    """The instructions as a share of TFLM + CMSIS-NN's, checked against ``goal`` when the
    issue sets one for this library (the portable kernels), else the bare ratio."""
    ratio = instructions / published
    return f"{ratio:.2f}x" if goal is None else versus_goal(ratio, goal)


def extra_macs_goal_cell(results: list[CoreResult]) -> str:
    """Whether every plan of ``results`` computes at most :data:`EXTRA_MACS_GOAL` of its MACs
    twice."""
    shares = [r.plan.extra_macs / r.plan.macs for r in results if r.plan and r.plan.macs]
    worst = max(shares, default=0.0)
    verdict = "met" if worst <= EXTRA_MACS_GOAL else "**missed**"
    return f"{verdict} (at most {worst:.1%})"


def _libraries(path: str | None) -> tuple[list[Library], str]:
    """The libraries to compare and a sentence saying which they are."""
    tree = Path(path or os.environ.get("CMSIS_NN_PATH") or ARM_TREE)
    portable = (
        "*portable* = tinyabi's own C implementation of the CMSIS-NN API (`csrc/`, written "
        "from the public API; on Cortex-M4 its hot loops use the ACLE DSP intrinsics (SMLAD), "
        "on Cortex-M55 MVE intrinsics)"
    )
    if not (tree / "Include").is_dir():
        return [PORTABLE], f"{portable}; Arm's CMSIS-NN left out: not found at `{tree}`"
    provenance = tree / "PROVENANCE.md"
    commit = ""
    if provenance.is_file():
        found = [w for w in provenance.read_text().split() if len(w) == 40 and w.isalnum()]
        commit = f" (commit {found[0][:12]})" if found else ""
    arm = (
        f"*arm* = Arm's CMSIS-NN{commit}, of which the build compiles only the sources the "
        "model calls (and what they call)"
    )
    return [PORTABLE, Library("arm", str(tree))], f"{portable}; {arm}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed host runs (default 50)")
    parser.add_argument("--cmsis-nn", metavar="PATH", help="Arm's CMSIS-NN source tree")
    args = parser.parse_args()
    missing = cortexm.missing_tools()
    libraries, described = _libraries(args.cmsis_nn)
    labels = [lib.label for lib in libraries]
    host_rows, core_rows, timing_rows = [], [], []
    size_rows: dict[str, list[str]] = {core: [] for core in CORES}
    ram_goal: dict[tuple[str, str], list[str]] = {}
    below_bound: dict[tuple[str, str], list[str]] = {}
    extra_macs: dict[tuple[str, str], list[CoreResult]] = {}
    for name in INT8:
        data = (MODELS / f"{name}.tflite").read_bytes()
        graph = tinyabi.load(data)
        pub = ISSUE[name]
        *ours, reference, tflm = host_latencies(data, graph, args.runs, libraries)
        cells = " | ".join(f"{t * 1e3:.3f}" for t in ours)
        ratios = " | ".join(f"{t / tflm:.2f}x" for t in ours)
        host_rows.append(
            f"| {name} | {cells} | {reference * 1e3:.3f} | {tflm * 1e3:.3f} | {ratios} |"
        )
        print(host_rows[-1], flush=True)
        if missing:
            continue
        for lib in libraries:
            by_mode = {
                mode: {core: on_core(data, graph, lib, core, mode) for core in CORES}
                for mode in OPTIMISE
            }
            results = by_mode[OPTIMISE[0]]
            m4, m55 = results["cortex-m4"], results["cortex-m55"]
            # The issue's instruction goals are for the portable kernels.
            portable = lib.label == PORTABLE.label
            m4_ratio = instruction_ratio(
                m4.instructions, pub.m4_instructions, pub.m4_goal if portable else None
            )
            m55_ratio = instruction_ratio(
                m55.instructions, pub.m55_instructions, pub.m55_goal if portable else None
            )
            core_rows.append(
                f"| {name} | {lib.label} | {millions(m4.instructions)} "
                f"| {millions(pub.m4_instructions)} | {m4_ratio} "
                f"| {millions(m55.instructions)} | {millions(pub.m55_instructions)} "
                f"| {m55_ratio} |"
            )
            for core in CORES:
                per_mode = [by_mode[mode][core] for mode in OPTIMISE]
                ram_goal.setdefault((name, lib.label), []).append(
                    ram_goal_cell(core, per_mode, pub)
                )
                if pub.below_bound_goal is not None:
                    below_bound.setdefault((name, lib.label), []).append(
                        ram_goal_cell(core, per_mode, pub, pub.below_bound_goal)
                    )
                extra_macs.setdefault((name, lib.label), []).extend(per_mode)
                size_rows[core] += [
                    footprint_row(name, lib.label, by_mode[mode][core], pub) for mode in OPTIMISE
                ]
            timing_rows.append(
                f"| {name} | {lib.label} | {m4.qemu_seconds:.2f} | {m55.qemu_seconds:.2f} "
                f"| {m4.instructions / m4.qemu_seconds / 1e6:.0f} "
                f"| {m55.instructions / m55.qemu_seconds / 1e6:.0f} |"
            )
            print(core_rows[-1], *(r for rows in size_rows.values() for r in rows[-2:]), sep="\n")

    lines = [
        "## CMSIS-NN backend: host and Cortex-M (`bench_cmsis_nn.py`)",
        "",
        f"Run on {date.today().isoformat()}: {machine()}.",
        f"Kernel libraries: {described}. The TFLM + CMSIS-NN figures are those quoted in the "
        "issue (TFLM's interpreter with Arm's optimized kernels).",
        "",
        "### Host latency",
        "",
        f"Median of {args.runs} runs after 3 warm-up runs, one random input, ms per inference "
        "including moving inputs in and outputs out. cmsis-nn = the generated C code built for "
        "the host (`gcc -O2`, plain C: no DSP or MVE code on x86) and called through ctypes; "
        "TFLM = its Python interpreter.",
        "",
        "| model | "
        + " | ".join(f"cmsis-nn {label} ms" for label in labels)
        + " | reference ms | TFLM ms | "
        + " | ".join(f"{label} / TFLM" for label in labels)
        + " |",
        "|---|" + "---|" * (2 * len(labels) + 2),
        *host_rows,
    ]
    if missing:
        lines += ["", f"Cortex-M columns skipped: {', '.join(missing)} not installed."]
    else:
        lines += [
            "",
            "### Instructions per inference under QEMU",
            "",
            "Instructions executed by `model_run()` (not cycles), counted with SysTick under "
            "`qemu-system-arm -icount shift=0` (calibrated on a loop of known length to within "
            "a few instructions); outputs checked equal to TFLM's. Firmware: `arm-none-eabi-gcc "
            "12.2 -O2`, M4 with `-mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16` (CMSIS-NN's "
            "DSP code), M55 with `-mcpu=cortex-m55 -mfloat-abi=hard -fno-if-conversion "
            "-fno-if-conversion2` (its MVE code). Each project is generated for its core "
            "(buffer sizes of that core's `*_get_buffer_size` variant), its arena planned for "
            "performance (the backend's default `optimise` option).",
            "",
            "Goals for the portable kernels (issue 10, point 4), as a share of TFLM+CMSIS-NN's "
            "instructions: "
            + "; ".join(
                f"{m} <= {p.m4_goal:.2f}x (M4), {p.m55_goal:.2f}x (M55)" for m, p in ISSUE.items()
            )
            + ".",
            "",
            "| model | library | M4 | TFLM+CMSIS-NN M4 | ratio | M55 | TFLM+CMSIS-NN M55 | ratio |",
            "|---|---|---|---|---|---|---|---|",
            *core_rows,
        ]
        for core in CORES:
            lines += [
                "",
                f"### Footprint on {CORE_NAMES[core]} (bytes)",
                "",
                "model flash = generated code + weights + kernels (the input sections of "
                "`libmodel.a` in the link map); firmware flash adds the harness, startup code "
                "and newlib-nano's semihosting stdio. RAM = arena (activations and the layers' "
                "scratch buffers, each placed where nothing live at its layer lies) + peak "
                "stack during `model_run()` (stack painting) + the model library's static "
                "data; the firmware also reserves a 32 KiB stack and a 16 KiB heap for the "
                f"harness, not counted. {PLAN_NOTE} "
                f"Goals: flash <= {FLASH_GOAL:.2f}x and RAM "
                f"<= {RAM_GOAL:.2f}x of TFLM+CMSIS-NN's flash and arena (quoted for Cortex-M4)."
                + (M55_NOTE if core == "cortex-m55" else ""),
                "",
                FOOTPRINT_HEADER,
                *size_rows[core],
            ]
        lines += [
            "",
            f"### RAM goal (RAM <= {RAM_GOAL:.2f}x of TFLM's Cortex-M4 arena)",
            "",
            "Per core, with the arena planned for each `optimise` value.",
            "",
            "| model | library | goal |",
            "|---|---|---|",
            *(f"| {m} | {lib} | {'; '.join(v)} |" for (m, lib), v in ram_goal.items()),
            "",
            "### Below the layer-by-layer bound (RAM <= "
            + ", ".join(
                f"{pub.below_bound_goal:.2f}x ({m})"
                for m, pub in ISSUE.items()
                if pub.below_bound_goal is not None
            )
            + f" of TFLM's Cortex-M4 arena; extra MACs <= {EXTRA_MACS_GOAL:.0%})",
            "",
            "Per core, with the arena planned for each `optimise` value; extra MACs over every "
            "plan of the model and library.",
            "",
            "| model | library | RAM goal | extra MACs |",
            "|---|---|---|---|",
            *(
                f"| {m} | {lib} | {'; '.join(v)} | {extra_macs_goal_cell(extra_macs[m, lib])} |"
                for (m, lib), v in below_bound.items()
            ),
        ]
        lines += [
            "",
            "### QEMU wall time per inference run (s, including QEMU start-up)",
            "",
            "| model | library | M4 s | M55 s | M4 M instr/s | M55 M instr/s |",
            "|---|---|---|---|---|---|",
            *timing_rows,
        ]
    write_section("cmsis-nn", "\n".join(lines))


if __name__ == "__main__":
    main()
