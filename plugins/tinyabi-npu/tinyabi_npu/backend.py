"""The ``npu`` backend: partitions compiled to the NPU's command stream and run in its simulator.

Options are the accelerator's configuration (:class:`~tinyabi_npu.config.NpuConfig`):
``Session(model, backends=[("npu", {"macs": 256, "sram_bytes": 65536}), "cmsis-nn"])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from tinyabi.backends import (
    Backend,
    BackendOptions,
    CompiledPartition,
    Estimate,
    LayerCost,
    MemoryNeeds,
    Verdict,
)
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, Node, NodeCheck, numpy_dtype
from tinyabi_npu import __version__, constraints
from tinyabi_npu.compiler import Compiled, compile_partition
from tinyabi_npu.config import NpuConfig
from tinyabi_npu.cycles import MAC_OPS, CommandCost, schedule
from tinyabi_npu.report import LayerReport, layer_reports
from tinyabi_npu.simulator import Simulator


class NpuPartition(CompiledPartition):
    """A compiled partition: its command stream loaded in the simulator.

    ``run`` is thread-safe without a lock: every run gets its own SRAM and DRAM.
    """

    def __init__(self, compiled: Compiled, config: NpuConfig, graph: Graph) -> None:
        self.compiled = compiled
        self.simulator = Simulator(compiled.data, config)
        self._outputs = [(n, graph.tensor(n)) for n in compiled.outputs]
        self._layer_cycles = [0] * len(compiled.layer_names)
        for cmd, cost in zip(compiled.program.commands, self.simulator.costs):
            self._layer_cycles[cmd.layer] += cost.cycles
        # The stream lives in the host's flash; SRAM and DRAM belong to the NPU, not the arena.
        self.memory = MemoryNeeds(persistent=len(compiled.data))

    @property
    def stream(self) -> bytes:
        """The binary command stream."""
        return self.compiled.data

    @property
    def costs(self) -> list[CommandCost]:
        """Per command: cycles, traffic, energy."""
        return self.simulator.costs

    def report(self) -> list[LayerReport]:
        """The per-layer performance report."""
        return layer_reports(self.compiled, self.simulator.costs, self.simulator.config)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._outputs_of(self.simulator.run([inputs[name] for name in self.compiled.inputs]))

    def profile(
        self, inputs: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[LayerCost]]:
        """Run once; per layer (one per node) the simulated cycles of the cycle model (those of
        :meth:`report`) and the host time the simulator took."""
        seconds = [0.0] * len(self.compiled.layer_names)
        values = self.simulator.run([inputs[name] for name in self.compiled.inputs], seconds)
        costs = [
            LayerCost(node=name, seconds=s, cycles=c)
            for name, s, c in zip(self.compiled.layer_names, seconds, self._layer_cycles)
        ]
        return self._outputs_of(values), costs

    def _outputs_of(self, values: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return {
            name: value.reshape(t.shape).astype(numpy_dtype(t.dtype), copy=False)
            for (name, t), value in zip(self._outputs, values)
        }


class NpuBackend(Backend):
    """A parameterized int8 NPU: compiler, binary command stream, cycle-counting simulator."""

    name = "npu"
    version = __version__
    spec_version = "0.1"
    profile = "int8"
    Options: ClassVar[type[BackendOptions]] = NpuConfig
    options: NpuConfig

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        return constraints.supports(node, graph, self.options, check)

    def accept(self, partition: Graph) -> Verdict:
        """Refuse partitions not worth the hand-over: only byte moves (RESHAPE, SQUEEZE), or
        fewer MACs than the ``min_macs`` option."""
        if all(node.op in constraints.COPY_OPS for node in partition.nodes):
            return Verdict.no(
                "the partition only moves bytes ("
                + ", ".join(n.op for n in partition.nodes)
                + "): not worth handing over to the NPU",
                "let the neighbouring backend run it",
            )
        if self.options.min_macs:
            macs = self.macs(partition)
            if macs < self.options.min_macs:
                return Verdict.no(
                    f"the partition has {macs} MACs, fewer than min_macs={self.options.min_macs}",
                    "lower min_macs, or let a CPU backend run it",
                )
        return Verdict.yes()

    def macs(self, partition: Graph) -> int:
        """MACs of one inference of ``partition`` on the MAC array."""
        compiled = compile_partition(partition, self.options)
        layers = compiled.program.layers
        return sum(
            c.macs
            for c, cmd in zip(schedule(compiled.program, self.options), compiled.program.commands)
            if layers[cmd.layer].op in MAC_OPS
        )

    def compile(self, subgraph: Graph) -> NpuPartition:
        refused = [n for n in subgraph.nodes if not constraints.supports(n, subgraph, self.options)]
        if refused:
            raise BackendError(f"the NPU cannot run {refused[0].describe()}")
        return NpuPartition(compile_partition(subgraph, self.options), self.options, subgraph)

    def estimate(self, subgraph: Graph) -> Estimate | None:
        """Seconds from the cycle model of the compiled partition (no run needed)."""
        try:
            compiled = compile_partition(subgraph, self.options)
        except Exception:
            return None
        cycles = sum(c.cycles for c in schedule(compiled.program, self.options))
        return Estimate(
            seconds=cycles / self.options.clock_hz,
            memory=MemoryNeeds(persistent=len(compiled.data)),
        )

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {op: ["int8"] for op in sorted(constraints.CHECKS)}
