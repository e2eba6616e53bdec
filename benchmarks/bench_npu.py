"""The NPU backend's simulated performance on the shared int8 models, next to Arm Vela's
estimates for Ethos-U55 at the same MAC count and clock, and the simulator's own speed.

Run: ``python benchmarks/bench_npu.py``. Writes the ``npu`` section of
``benchmarks/RESULTS.md``. Needs ``ethos-u-vela`` (``pip install ethos-u-vela``; a benchmark
requirement, not a dependency of tinyabi or the plugin); without it the Vela column says so.
Each model runs with ``backends=[("npu", {...}), "cmsis-nn"]`` (SOFTMAX falls back to
cmsis-nn; the NPU columns count the NPU partitions only) at 500 MHz.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from results import MODELS, machine, write_section
from tinyabi_npu.backend import NpuPartition
from tinyabi_npu.report import LayerReport

import tinyabi
from tinyabi.dispatch.partition import TRANSFER_SECONDS_FIXED, TRANSFER_SECONDS_PER_BYTE
from tinyabi.feeds import random_inputs

NAMES = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
SIZES = [64, 128, 256]
CLOCK = 500e6
DEFAULT_SRAM = 256 * 1024
#: Smaller than kws's and vww's activations: tiles spill to DRAM (ad01's first layers decline:
#: their smallest tile does not fit, and cmsis-nn runs them).
SMALL_SRAM = 12 * 1024


def vela_ms(path: Path, macs: int) -> str:
    """Vela's estimated inference time for Ethos-U55 with ``macs`` MACs, in ms (as text)."""
    vela = shutil.which("vela")
    if vela is None:
        return "n/a (vela not installed)"
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [vela, "--accelerator-config", f"ethos-u55-{macs}", "--output-dir", out, str(path)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        (summary,) = Path(out).glob("*_summary_*.csv")
        row = next(csv.DictReader(summary.open()))
        assert float(row["core_clock"]) == CLOCK
        return f"{float(row['inference_time']) * 1e3:.3f}"


def npu_rows(name: str, macs: int, sram: int) -> tuple[list[LayerReport], float, int]:
    """Per-layer rows of the NPU partitions, host seconds per run and simulated cycles."""
    graph = tinyabi.load(MODELS / f"{name}.tflite")
    options = {"macs": macs, "clock_hz": CLOCK, "sram_bytes": sram}
    sess = tinyabi.Session(graph, backends=[("npu", options), "cmsis-nn"], strict=True)
    parts = [p for p in sess.compiled if isinstance(p, NpuPartition)]
    rows = [row for p in parts for row in p.report()]
    feeds = random_inputs(graph, 0)
    sess.run(feeds)
    start = time.perf_counter()
    runs = 20
    for _ in range(runs):
        sess.run(feeds)
    seconds = (time.perf_counter() - start) / runs
    return rows, seconds, sum(p.simulator.total_cycles for p in parts)


#: A narrow NPU on slow flash: fully connected layers, whose weights are used once, starve it.
SLOW_NPU = {"macs": 64, "flash_bytes_per_cycle": 0.5, "clock_hz": 200e6}
COST_CASES = [
    ("kws_ref_model", ["cmsis-nn", "npu"], {}),
    ("ad01_int8", ["npu", "cmsis-nn"], SLOW_NPU),
    ("kws_ref_model", ["npu", "cmsis-nn"], SLOW_NPU),
]


def planned_seconds(sess: tinyabi.Session) -> float:
    """A plan's estimated time: the partitions' estimates plus the hand-over cost the planner
    charges per tensor that crosses from one partition to another."""
    produced = {name: p.index for p in sess.plan.partitions for name in p.outputs}
    seconds = sum(p.estimated_seconds or 0.0 for p in sess.plan.partitions)
    for p in sess.plan.partitions:
        for name in p.inputs:
            if produced.get(name, p.index) != p.index:
                seconds += TRANSFER_SECONDS_FIXED
                seconds += TRANSFER_SECONDS_PER_BYTE * sess.graph.tensor(name).nbytes
    return seconds


def cost_mode_rows() -> list[str]:
    """First-claim against cost mode on the cases of :data:`COST_CASES`."""
    rows = []
    for name, order, npu in COST_CASES:
        graph = tinyabi.load(MODELS / f"{name}.tflite")
        backends = [("npu", npu) if b == "npu" else b for b in order]
        cells = []
        for mode in ("first-claim", "cost"):
            sess = tinyabi.Session(graph, backends=backends, mode=mode, strict=True)  # type: ignore[arg-type]
            split = " + ".join(f"{p.backend} ({len(p.nodes)})" for p in sess.plan.partitions)
            cells += [f"{planned_seconds(sess) * 1e3:.3f}", split]
        options = ", ".join(f"{k}={v:g}" for k, v in npu.items()) or "defaults"
        rows.append(f"| {name} | {', '.join(order)} | npu: {options} | " + " | ".join(cells) + " |")
    return rows


def per_layer_table(name: str, by_size: dict[int, list[LayerReport]]) -> list[str]:
    """One model's layers: cycles and utilization at every MAC count, the rest at 128."""
    sizes = sorted(by_size)
    head = " | ".join(f"cycles {m}" for m in sizes) + " | " + " | ".join(f"util {m}" for m in sizes)
    lines = [
        "",
        f"### {name}, per layer (256 KiB SRAM; traffic and energy at 128 MACs)",
        "",
        f"| layer | op | MACs | {head} | % at 128 | stall at 128 | SRAM peak | SRAM r/w "
        "| DRAM r/w | flash r | energy nJ |",
        "|---|---|---|" + "---|" * (2 * len(sizes)) + "---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(by_size[128]):
        cycles = " | ".join(f"{by_size[m][k].cycles:,}" for m in sizes)
        util = " | ".join(f"{by_size[m][k].utilization:.0%}" for m in sizes)
        lines.append(
            f"| {r.layer} | {r.op} | {r.macs:,} | {cycles} | {util} | {r.percent:.1f} | "
            f"{r.stall_cycles:,} | {r.sram_peak:,} | {r.sram_read:,}/{r.sram_write:,} | "
            f"{r.dram_read:,}/{r.dram_write:,} | {r.flash_read:,} | {r.energy_nj:.1f} |"
        )
    return lines


def main() -> None:
    lines = [
        "## NPU backend: simulated cycles vs Vela's Ethos-U55 estimates (`bench_npu.py`)",
        "",
        f"Run on {date.today()}: {machine()}.",
        "The NPU is tinyabi-npu's simulator at 500 MHz with default options (256 KiB SRAM, "
        "4 B/cycle flash, 8 B/cycle DRAM); SOFTMAX runs on cmsis-nn and is not counted. "
        "The 12 KiB rows have less SRAM than the activations of kws and vww: activations live "
        "in DRAM and every tile stages its rows through SRAM (the DRAM column). "
        "Vela 5.x estimates Ethos-U55 at the same MAC count with its default system config "
        "(500 MHz). Both are estimates of different designs: Ethos-U55 has fixed-function "
        "blocks this NPU lacks and vice versa; the comparison shows the order of magnitude. "
        "Simulator speed: simulated cycles per host second (the whole session, including the "
        "cmsis-nn SOFTMAX, median of 20 runs).",
        "",
        "| model | MACs | SRAM | NPU ms | Vela U55 ms | cycles | MACs (M) | utilization "
        "| SRAM peak B | flash read B | DRAM r/w B | energy uJ | sim Mcycles/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    layer_tables: list[str] = []
    for name in NAMES:
        path = MODELS / f"{name}.tflite"
        by_size: dict[int, list[LayerReport]] = {}
        for macs, sram in [*((m, DEFAULT_SRAM) for m in SIZES), (128, SMALL_SRAM)]:
            rows, host, cycles = npu_rows(name, macs, sram)
            total_macs = sum(r.macs for r in rows)
            compute = sum(r.cycles - r.stall_cycles for r in rows) or 1
            lines.append(
                f"| {name} | {macs} | {sram // 1024} KiB | {cycles / CLOCK * 1e3:.3f} | "
                f"{vela_ms(path, macs) if sram == DEFAULT_SRAM else ''} | "
                f"{cycles:,} | {total_macs / 1e6:.2f} | {total_macs / (compute * macs):.0%} | "
                f"{max(r.sram_peak for r in rows):,} | {sum(r.flash_read for r in rows):,} | "
                f"{sum(r.dram_read for r in rows):,}/{sum(r.dram_write for r in rows):,} | "
                f"{sum(r.energy_nj for r in rows) / 1e3:.2f} | {cycles / host / 1e6:.1f} |"
            )
            if sram == DEFAULT_SRAM:
                by_size[macs] = rows
        layer_tables += per_layer_table(name, by_size)
    cost = [
        "",
        "### Cost mode against first-claim",
        "",
        "Estimated ms per inference of the whole plan: the partitions' `estimate()` plus the "
        "planner's hand-over cost per tensor crossing partitions. cmsis-nn estimates its "
        "Cortex-M55 at 400 MHz from the instruction counts measured under QEMU "
        "(`tinyabi_cmsis_nn/cost.py`). First row: with cmsis-nn listed first, first-claim "
        "never uses the NPU; cost mode hands it everything but SOFTMAX. Second row: a narrow "
        "NPU (64 MACs, 200 MHz) on slow flash (0.5 B/cycle) listed first; ad01 is nothing but "
        "fully connected layers, whose 270 KB of weights are each used once per inference, "
        "so the NPU waits on flash (about 2.7 ms) while the Cortex-M55 needs about 1 "
        "instruction per MAC (0.7 ms): cost mode moves every layer to cmsis-nn. Third row: on "
        "kws the same NPU keeps the convolutions, which reuse their weights across pixels, and "
        "cost mode moves the fully connected layer (and the nodes around it) to the CPU.",
        "",
        "| model | backends | NPU options | first-claim ms | first-claim split | cost ms "
        "| cost split |",
        "|---|---|---|---|---|---|---|",
        *cost_mode_rows(),
    ]
    write_section("npu", "\n".join(lines + cost + layer_tables))


if __name__ == "__main__":
    main()
