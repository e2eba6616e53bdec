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
from tinyabi.cli import random_inputs

NAMES = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
SIZES = [64, 128, 256]
CLOCK = 500e6


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


def npu_rows(name: str, macs: int) -> tuple[list[LayerReport], float, int]:
    """Per-layer rows of the NPU partitions, host seconds per run and simulated cycles."""
    graph = tinyabi.load(MODELS / f"{name}.tflite")
    options = {"macs": macs, "clock_hz": CLOCK}
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


def main() -> None:
    lines = [
        "## NPU backend: simulated cycles vs Vela's Ethos-U55 estimates (`bench_npu.py`)",
        "",
        f"Run on {date.today()}: {machine()}.",
        "The NPU is tinyabi-npu's simulator at 500 MHz with default options (256 KiB SRAM, "
        "4 B/cycle flash, 8 B/cycle DRAM); SOFTMAX runs on cmsis-nn and is not counted. "
        "Vela 5.x estimates Ethos-U55 at the same MAC count with its default system config "
        "(500 MHz). Both are estimates of different designs: Ethos-U55 has fixed-function "
        "blocks this NPU lacks and vice versa; the comparison shows the order of magnitude. "
        "Simulator speed: simulated cycles per host second (the whole session, including the "
        "cmsis-nn SOFTMAX, median of 20 runs).",
        "",
        "| model | MACs | NPU ms | Vela U55 ms | cycles | MACs (M) | utilization | SRAM peak B "
        "| flash read B | DRAM r/w B | energy uJ | sim Mcycles/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    layer_tables: list[str] = []
    for name in NAMES:
        path = MODELS / f"{name}.tflite"
        for macs in SIZES:
            rows, host, cycles = npu_rows(name, macs)
            total_macs = sum(r.macs for r in rows)
            compute = sum(r.cycles - r.stall_cycles for r in rows) or 1
            lines.append(
                f"| {name} | {macs} | {cycles / CLOCK * 1e3:.3f} | {vela_ms(path, macs)} | "
                f"{cycles:,} | {total_macs / 1e6:.2f} | {total_macs / (compute * macs):.0%} | "
                f"{max(r.sram_peak for r in rows):,} | {sum(r.flash_read for r in rows):,} | "
                f"{sum(r.dram_read for r in rows):,}/{sum(r.dram_write for r in rows):,} | "
                f"{sum(r.energy_nj for r in rows) / 1e3:.2f} | {cycles / host / 1e6:.1f} |"
            )
            if macs == 128:
                layer_tables += [
                    "",
                    f"### {name}, 128 MACs, per layer",
                    "",
                    "| layer | op | cycles | % | MACs | util | stall | SRAM peak | SRAM r/w "
                    "| DRAM r/w | flash r | energy nJ |",
                    "|---|---|---|---|---|---|---|---|---|---|---|---|",
                    *(
                        f"| {r.layer} | {r.op} | {r.cycles:,} | {r.percent:.1f} | {r.macs:,} | "
                        f"{r.utilization:.0%} | {r.stall_cycles:,} | {r.sram_peak:,} | "
                        f"{r.sram_read:,}/{r.sram_write:,} | {r.dram_read:,}/{r.dram_write:,} | "
                        f"{r.flash_read:,} | {r.energy_nj:.1f} |"
                        for r in rows
                    ),
                ]
    write_section("npu", "\n".join(lines + layer_tables))


if __name__ == "__main__":
    main()
