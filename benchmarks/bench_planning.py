"""Planning time on synthetic graphs of 100 to 10,000 nodes.

Run: ``python benchmarks/bench_planning.py [--runs N]``. Writes the ``planning`` section of
``benchmarks/RESULTS.md``. Each graph is a random DAG of RELU and ADD nodes on small float32
tensors: mostly a chain, where ADDs also read one of the few most recent tensors and now and
then one from far back (a long skip connection). Two toy backends split the nodes: ``toy-a``
takes RELU and ``toy-b`` ADD ("by op": the backends alternate along the chain), or each claims a
random 45% of the nodes, the rest falling back to the reference backend ("random"). Times are
medians: first-claim assignment, grouping into convex partitions, cutting the partition
subgraphs, the memory plan, their sum ("plan"), and a whole :class:`tinyabi.Session` creation
(which adds the memory-aware node order, pydantic plan models and compiling every partition).
Goal: 10,000 nodes plan well under a second.
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
from pydantic import Field
from results import machine, median_seconds, write_section

from tinyabi.backends.base import (
    Backend,
    BackendOptions,
    CompiledPartition,
    NameList,
    NodeCheck,
    Verdict,
)
from tinyabi.backends.reference import ReferencePartition
from tinyabi.backends.registry import BackendRegistry, build_registry, create_plugin_manager
from tinyabi.dispatch.memory import plan_memory
from tinyabi.dispatch.partition import assign, group_partitions, split_partitions
from tinyabi.hookspecs import hookimpl
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Node
from tinyabi.session import Session

SIZES = [100, 1_000, 10_000]


def synthetic_graph(n: int, seed: int = 0) -> Graph:
    """A random DAG of ``n`` RELU/ADD nodes on float32[1, 8] tensors."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"synthetic_{n}")
    names = [b.input("x", "float32", (1, 8))]
    for i in range(n):
        out = b.tensor(f"t{i}", "float32", (1, 8))
        if i > 1 and rng.random() < 0.4:
            far = rng.random() < 0.05
            back = int(rng.integers(2, 200 if far else 6))
            other = names[max(0, len(names) - back)]
            b.node("ADD", [names[-1], other], [out], name=f"n{i}", fused_activation="NONE")
        else:
            b.node("RELU", [names[-1]], [out], name=f"n{i}")
        names.append(out)
    return b.build(outputs=[names[-1]])


class _ToyOptions(BackendOptions):
    share: float | None = Field(None, description="claim this pseudo-random share of the nodes")
    ops: NameList = Field((), description="claim the nodes of these operators")


class _Toy(Backend):
    """Claims the operators in ``ops``, or (with ``share``) a pseudo-random share of the nodes."""

    name = "toy"
    Options = _ToyOptions
    options: _ToyOptions

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        share = self.options.share
        if share is not None:
            h = zlib.crc32(f"{self.name}/{node.name}".encode()) / 2**32
            return Verdict.yes() if h < share else Verdict.no("not my share")
        if node.op in self.options.ops:
            return Verdict.yes()
        return Verdict.no(f"{self.name} does not run {node.op}")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return ReferencePartition(subgraph)


class ToyA(_Toy):
    name = "toy-a"


class ToyB(_Toy):
    name = "toy-b"


class _Plugin:
    @hookimpl
    def tinyabi_register_backends(self, registry: BackendRegistry) -> None:
        registry.add(ToyA)
        registry.add(ToyB)


SPLITS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "by op": [("toy-a", {"ops": ["RELU"]}), ("toy-b", {"ops": ["ADD"]})],
    "random": [("toy-a", {"share": 0.45}), ("toy-b", {"share": 0.45 / 0.55})],
}


def bench(graph: Graph, specs: Sequence[tuple[str, dict[str, Any]]], runs: int) -> dict[str, Any]:
    registry = build_registry(*create_plugin_manager(autoload=False, plugins={"toy": _Plugin()}))
    backends = [registry.get(name).cls(**options) for name, options in specs]
    backends.append(registry.get("reference").cls())
    state: dict[str, Any] = {}

    def do_assign() -> None:
        state["a"] = assign(graph, backends)

    def do_group() -> None:
        state["parts"] = group_partitions(graph, [a.backend or "" for a in state["a"]])

    def do_split() -> None:
        split_partitions(graph, state["parts"])

    def do_memory() -> None:
        plan_memory(graph)

    times = {
        "assign": median_seconds(do_assign, runs, warmup=1),
        "group": median_seconds(do_group, runs, warmup=1),
        "split": median_seconds(do_split, runs, warmup=1),
        "memory": median_seconds(do_memory, runs, warmup=1),
    }
    times["plan"] = sum(times.values())
    start = time.perf_counter()
    session = Session(graph, backends=list(specs), registry=registry)
    times["session"] = time.perf_counter() - start
    times["partitions"] = len(session.plan.partitions)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for n in SIZES:
        graph = synthetic_graph(n)
        for split, specs in SPLITS.items():
            t = bench(graph, specs, args.runs)
            rows.append(
                f"| {n:,} | {split} | {t['partitions']:,} | {t['assign'] * 1e3:.1f} | "
                f"{t['group'] * 1e3:.1f} | {t['split'] * 1e3:.1f} | {t['memory'] * 1e3:.1f} | "
                f"**{t['plan'] * 1e3:.1f}** | {t['session'] * 1e3:.0f} |"
            )
            print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## Planning time (`bench_planning.py`)",
            "",
            f"Run on {date.today()}: {machine()}.",
            "Synthetic RELU/ADD DAGs split between two toy backends (see the script).",
            f"Milliseconds, median of {args.runs} runs; session creation is one run.",
            "Goal: 10,000 nodes plan in well under a second.",
            "",
            "| nodes | split | partitions | assign | group | split subgraphs | memory plan "
            "| plan | session |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    write_section("planning", body)


if __name__ == "__main__":
    main()
