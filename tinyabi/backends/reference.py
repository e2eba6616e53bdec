"""The built-in ``reference`` backend: the numpy reference kernels, for every spec operator.

It is the fallback of last resort, and it registers through the same plugin hook as any
third-party backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tinyabi.backends.base import Backend, CompiledPartition, LayerCost, Verdict
from tinyabi.backends.reference_batch import BatchPlan
from tinyabi.hookspecs import hookimpl
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import NodeCheck
from tinyabi.kernels import has_kernel, prepare
from tinyabi.spec import SPEC_VERSION, load_spec

__all__ = ["ReferenceBackend", "ReferencePartition", "tinyabi_register_backends"]


class ReferencePartition(CompiledPartition):
    """A partition prepared for the reference kernels.

    :meth:`run_batch` runs by a :class:`~tinyabi.backends.reference_batch.BatchPlan` made once
    for each batch size it meets (a few are kept): small nodes over the stacked samples in one
    call, the rest sample by sample.
    """

    #: How many batch sizes keep their prepared kernels.
    BATCH_SIZES_KEPT = 4
    #: Nodes whose outputs hold at most this many elements per sample run a batch in one call.
    BATCH_ELEMENTS = 16384
    #: The same limit for convolutions, whose per-sample products stay in cache and gain
    #: nothing stacked (measured: up to 3x slower on the shared models' larger layers).
    BATCH_WINDOW_ELEMENTS = 512
    #: The convolutions (windowed products) that :attr:`BATCH_WINDOW_ELEMENTS` limits.
    WINDOW_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"})

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._constants = {n: t.data for n, t in graph.tensors.items() if t.data is not None}
        self._steps = [(node, prepare(node, graph)) for node in graph.nodes]
        # What run() does per node, worked out once: the kernel, its operand list with the
        # constants in place, where the other operands go, and the names of its outputs.
        self._program = [
            (
                evaluate,
                [None if n is None else self._constants.get(n) for n in node.inputs],
                tuple(
                    (i, n)
                    for i, n in enumerate(node.inputs)
                    if n is not None and n not in self._constants
                ),
                tuple(node.outputs),
            )
            for node, evaluate in self._steps
        ]
        # Constant outputs (nothing computes them) come back as they are.
        self._passed = {n: self._constants[n] for n in graph.outputs if n in self._constants}
        self._outputs = tuple(graph.outputs)
        self._stateful = any(t.variable or t.scratch for t in graph.tensors.values())
        self._batch_plans: dict[int, BatchPlan] = {}
        self._batch_lock = threading.Lock()

    def run_batch(self, inputs: Mapping[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Run ``count`` samples by the partition's :class:`BatchPlan` for ``count``."""
        if self._stateful or count < 2:
            return super().run_batch(inputs, count)
        return self.batch_plan(count).run(inputs)

    def batch_plan(self, count: int) -> BatchPlan:
        """The plan of batches of ``count`` samples, made once per batch size."""
        with self._batch_lock:
            plan = self._batch_plans.get(count)
            if plan is None:
                limits = dict.fromkeys(self.WINDOW_OPS, self.BATCH_WINDOW_ELEMENTS)
                plan = BatchPlan(self.graph, self._steps, count, limits, self.BATCH_ELEMENTS)
                if len(self._batch_plans) >= self.BATCH_SIZES_KEPT:
                    self._batch_plans.pop(next(iter(self._batch_plans)))
                self._batch_plans[count] = plan
            return plan

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values: dict[str, Any] = dict(inputs)
        if self._passed:
            values.update(self._passed)
        for evaluate, template, slots, outputs in self._program:
            args = template.copy()
            for i, name in slots:
                args[i] = values[name]
            results = evaluate(args)
            if len(outputs) == 1:
                values[outputs[0]] = results[0]
            else:
                values.update(zip(outputs, results))
        return {name: values[name] for name in self._outputs}

    def profile(
        self, inputs: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[LayerCost]]:
        """Run once and time every node on the host."""
        values: dict[str, Any] = dict(self._constants)
        values.update(inputs)
        costs = []
        clock = time.perf_counter
        for node, evaluate in self._steps:
            operands = [None if n is None else values[n] for n in node.inputs]
            start = clock()
            results = evaluate(operands)
            costs.append(LayerCost(node=node.name, seconds=clock() - start))
            values.update(zip(node.outputs, results))
        return {name: values[name] for name in self.graph.outputs}, costs


class ReferenceBackend(Backend):
    """numpy kernels, bit-exact with TensorFlow Lite Micro for int8."""

    name = "reference"
    version = "0.1.0"
    spec_version = SPEC_VERSION
    profile = "full"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.is_extension:
            return Verdict.no(
                f"{node.op} is outside the TinyABI spec",
                "use a backend that declares this operator, e.g. the TFLM plugin for tflite.* ops",
            )
        if not has_kernel(node.op):
            return Verdict.no(f"no reference kernel for {node.op}")
        if check.problem is not None:
            return Verdict.no(check.problem)
        return Verdict.yes()

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return ReferencePartition(subgraph)

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {
            name: [s.name for s in op.signatures]
            for name, op in load_spec().operators.items()
            if has_kernel(name)
        }


@hookimpl
def tinyabi_register_backends(registry: Any) -> None:
    """Register the reference backend."""
    registry.add(ReferenceBackend)
