"""What :meth:`Session.profile <tinyabi.session.Session.profile>` reports: per partition and,
where its backend can tell (:meth:`CompiledPartition.profile
<tinyabi.backends.base.CompiledPartition.profile>`), per layer, the median over the runs.

Seconds are host time; instructions and cycles are deterministic counts (a core under QEMU, an
accelerator's cycle model), of which the median is taken too. ``str(profile)`` is a table with
the layer rows indented under their partition; ``profile.model_dump_json()`` gives the data.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel

from tinyabi.backends.base import LayerCost

__all__ = ["LayerTiming", "PartitionTiming", "Profile", "known_sum", "layer_timings"]


class LayerTiming(BaseModel):
    """One layer (node) of a partition: medians over the profiled runs of what it cost; a
    measure the backend does not report is ``None``."""

    node: str
    op: str
    median_seconds: float | None = None
    instructions: int | None = None
    cycles: int | None = None


class PartitionTiming(BaseModel):
    """One partition: its median time over the profiled runs and, when its backend reports
    them, its layers; ``instructions`` and ``cycles`` are the sums over its layers when every
    layer reports them."""

    index: int
    backend: str
    nodes: int
    median_seconds: float
    instructions: int | None = None
    cycles: int | None = None
    layers: list[LayerTiming] = []


class Profile(BaseModel):
    """Per-partition (and per-layer) costs of :meth:`Session.profile
    <tinyabi.session.Session.profile>`; ``str()`` gives a table, and ``model_dump_json()`` the
    same data as JSON. ``instructions`` and ``cycles`` are the totals over the partitions that
    report them (``None`` when none does)."""

    runs: int
    partitions: list[PartitionTiming]
    median_total_seconds: float
    instructions: int | None = None
    cycles: int | None = None

    def __str__(self) -> str:
        total = self.median_total_seconds

        def row(
            first: str, name: str, op: str, nodes: str, seconds: float | None, counts: str
        ) -> str:
            time = "-" if seconds is None else f"{seconds * 1e3:.3f} ms"
            share = "-" if seconds is None or total <= 0 else f"{seconds / total:.1%}"
            return f"{first:>9}  {name:<28} {op:<18} {nodes:>5} {time:>12} {share:>6} {counts}"

        def counts(instructions: int | None, cycles: int | None) -> str:
            return f"{_count(instructions):>13} {_count(cycles):>12}"

        lines = [
            f"profile: median of {self.runs} run(s)",
            f"{'partition':>9}  {'backend / node':<28} {'op':<18} {'nodes':>5} {'median':>12} "
            f"{'share':>6} {'instructions':>13} {'cycles':>12}",
        ]
        for p in self.partitions:
            lines.append(
                row(
                    str(p.index),
                    p.backend,
                    "",
                    str(p.nodes),
                    p.median_seconds,
                    counts(p.instructions, p.cycles),
                )
            )
            for layer in p.layers:
                name = "  " + (layer.node if len(layer.node) <= 26 else layer.node[:25] + "…")
                lines.append(
                    row(
                        "",
                        name,
                        layer.op,
                        "",
                        layer.median_seconds,
                        counts(layer.instructions, layer.cycles),
                    )
                )
        lines.append(row("total", "", "", "", total, counts(self.instructions, self.cycles)))
        return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def layer_timings(runs: Sequence[Sequence[LayerCost]], ops: dict[str, str]) -> list[LayerTiming]:
    """The medians, per node, of the layer costs of several runs (``ops`` gives each node's
    operator); nodes in the order they first appear."""
    by_node: dict[str, list[LayerCost]] = {}
    for costs in runs:
        for cost in costs:
            by_node.setdefault(cost.node, []).append(cost)
    result = []
    for node, costs in by_node.items():
        seconds = [c.seconds for c in costs if c.seconds is not None]
        instructions = [c.instructions for c in costs if c.instructions is not None]
        cycles = [c.cycles for c in costs if c.cycles is not None]
        result.append(
            LayerTiming(
                node=node,
                op=ops[node],
                median_seconds=statistics.median(seconds) if seconds else None,
                instructions=statistics.median_low(instructions) if instructions else None,
                cycles=statistics.median_low(cycles) if cycles else None,
            )
        )
    return result


def known_sum(values: Sequence[int | None], every: bool) -> int | None:
    """The sum of the known values; ``None`` when none is known, or (``every``) any is not."""
    known = [v for v in values if v is not None]
    if not known or (every and len(known) != len(values)):
        return None
    return sum(known)
