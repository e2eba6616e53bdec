"""The per-layer performance report, with the fields of Vela's per-layer CSV plus energy.

One row per layer: cycles and their share of the total, MACs, MAC-array utilization, the SRAM
the layer occupies at its peak (tensors live in SRAM plus its staging buffers), bytes read and
written per memory (SRAM, DRAM, flash), stall cycles and energy.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tinyabi_npu.compiler import Compiled
from tinyabi_npu.config import NpuConfig
from tinyabi_npu.cycles import CommandCost, utilization
from tinyabi_npu.stream import Region


@dataclass
class LayerReport:
    """One layer's performance."""

    layer: str
    op: str
    commands: int
    cycles: int
    percent: float
    macs: int
    utilization: float
    stall_cycles: int
    sram_peak: int
    sram_read: int
    sram_write: int
    dram_read: int
    dram_write: int
    flash_read: int
    energy_nj: float


def layer_reports(
    compiled: Compiled, costs: Sequence[CommandCost], config: NpuConfig
) -> list[LayerReport]:
    """Aggregate the per-command costs of ``compiled`` into one row per layer."""
    program = compiled.program
    total = sum(c.cycles for c in costs) or 1
    per_layer: dict[int, list[CommandCost]] = {}
    staging: dict[int, int] = {}
    for cmd, cost in zip(program.commands, costs):
        per_layer.setdefault(cmd.layer, []).append(cost)
        need = cost.flash_read + cost.dram_read + cost.dram_write
        staging[cmd.layer] = max(staging.get(cmd.layer, 0), 2 * need)
    rows = []
    for index, layer in enumerate(program.layers):
        cs = per_layer.get(index, [])
        resident = [program.tensors[i] for i in (*layer.inputs, layer.output) if i < 0xFFFF]
        sram_tensors = sum(t.size for t in resident if t.region == Region.SRAM)
        cycles = sum(c.cycles for c in cs)
        compute = sum(c.compute_cycles for c in cs)
        macs = sum(c.macs for c in cs)
        rows.append(
            LayerReport(
                layer=compiled.layer_names[index],
                op=layer.op.name,
                commands=len(cs),
                cycles=cycles,
                percent=100.0 * cycles / total,
                macs=macs,
                utilization=utilization(macs, compute, config),
                stall_cycles=sum(c.stall_cycles for c in cs),
                sram_peak=sram_tensors + staging.get(index, 0),
                sram_read=sum(c.sram_read for c in cs),
                sram_write=sum(c.sram_write for c in cs),
                dram_read=sum(c.dram_read for c in cs),
                dram_write=sum(c.dram_write for c in cs),
                flash_read=sum(c.flash_read for c in cs),
                energy_nj=sum(c.energy_pj for c in cs) / 1000.0,
            )
        )
    return rows


def to_csv(rows: Sequence[LayerReport]) -> str:
    """The report as CSV (a header row, then one row per layer)."""
    out = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(out, fieldnames=list(asdict(rows[0])))
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Print the NPU's per-layer report of a model (CSV), run with ``npu`` then ``cmsis-nn``."""
    import argparse
    import sys

    import tinyabi
    from tinyabi.errors import TinyABIError
    from tinyabi_npu.backend import NpuPartition

    parser = argparse.ArgumentParser(prog="python -m tinyabi_npu.report", description=main.__doc__)
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument(
        "--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="an NPU option"
    )
    args = parser.parse_args(argv)
    try:
        options = dict(item.split("=", 1) for item in args.option)
        sess = tinyabi.Session(args.model, backends=[("npu", options), "cmsis-nn"])
    except (TinyABIError, ValueError, OSError) as exc:
        print(f"tinyabi-npu: error: {exc}", file=sys.stderr)
        return 2
    for part in sess.compiled:
        if isinstance(part, NpuPartition):
            print(to_csv(part.report()), end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
