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
from tinyabi.hookspecs import hookimpl
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import NodeCheck
from tinyabi.kernels import Eval, has_kernel, prepare
from tinyabi.kernels.batch import batched_graph
from tinyabi.spec import SPEC_VERSION, load_spec

__all__ = ["ReferenceBackend", "ReferencePartition", "tinyabi_register_backends"]


class ReferencePartition(CompiledPartition):
    """A partition prepared for the reference kernels.

    :meth:`run_batch` stacks the samples along the leading axis
    (:func:`~tinyabi.kernels.batch.batched_graph`) and prepares, once for each batch size it
    meets (a few are kept), the nodes that compute a stack in one call and whose outputs are
    small (there the per-call overhead dominates; large tensors compute as fast one sample at a
    time, in cache); the other nodes run sample by sample on their block of each tensor.
    """

    #: How many batch sizes keep their prepared kernels.
    BATCH_SIZES_KEPT = 4
    #: Nodes whose outputs hold at most this many elements per sample run a batch in one call.
    BATCH_ELEMENTS = 2048

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._constants = {n: t.data for n, t in graph.tensors.items() if t.data is not None}
        self._steps = [(node, prepare(node, graph)) for node in graph.nodes]
        self._stateful = any(t.variable or t.scratch for t in graph.tensors.values())
        self._batch_plans: dict[int, tuple[dict[str, Any], list[_BatchStep]]] = {}
        self._batch_lock = threading.Lock()

    def run_batch(self, inputs: Mapping[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Run ``count`` samples, the small nodes over all of them in one call."""
        if self._stateful or count < 2:
            return super().run_batch(inputs, count)
        constants, steps = self._batch_plan(count)
        values: dict[str, Any] = dict(constants)
        values.update(inputs)
        for node, evaluate, operands, outputs in steps:
            if outputs is not None:  # one call over the stacked samples
                args = [
                    None if n is None else values[n] if shape is None else values[n].reshape(shape)
                    for n, shape in operands
                ]
                for name, value, shape in zip(node.outputs, evaluate(args), outputs):
                    values[name] = value.reshape(shape)
            else:
                per_sample = [
                    evaluate(
                        [
                            None if n is None else values[n] if c else values[n][i]
                            for n, c in operands
                        ]
                    )
                    for i in range(count)
                ]
                for k, name in enumerate(node.outputs):
                    values[name] = np.stack([r[k] for r in per_sample])
        return {name: values[name] for name in self.graph.outputs}

    def _batch_plan(self, count: int) -> tuple[dict[str, Any], list[_BatchStep]]:
        """The steps of a batch of ``count`` samples, prepared once per batch size."""
        with self._batch_lock:
            known = self._batch_plans.get(count)
            if known is not None:
                return known
            graph = self.graph
            batched, flags = batched_graph(graph, count)
            constants = {n: t.data for n, t in batched.tensors.items() if t.data is not None}
            plan: list[_BatchStep] = []
            for (node, single), bnode, ok in zip(self._steps, batched.nodes, flags):
                small = all(t.size <= self.BATCH_ELEMENTS for t in graph.node_outputs(node))
                if ok and small:
                    operands = [
                        (n, None if n is None or n in constants else batched.tensor(n).shape)
                        for n in bnode.inputs
                    ]
                    shapes = [(count, *graph.tensor(n).shape) for n in node.outputs]
                    plan.append((bnode, prepare(bnode, batched), operands, shapes))
                else:
                    constant = [(n, n is None or n in self._constants) for n in node.inputs]
                    plan.append((node, single, constant, None))
            if len(self._batch_plans) >= self.BATCH_SIZES_KEPT:
                self._batch_plans.pop(next(iter(self._batch_plans)))
            self._batch_plans[count] = (constants, plan)
            return constants, plan

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values: dict[str, Any] = dict(self._constants)
        values.update(inputs)
        for node, evaluate in self._steps:
            results = evaluate([None if n is None else values[n] for n in node.inputs])
            values.update(zip(node.outputs, results))
        return {name: values[name] for name in self.graph.outputs}

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


#: One node of a batched run: the node, its kernel, its operands, and the (count, *shape) of
#: its outputs when it runs the stack in one call (``None``: sample by sample). The operands
#: are (name, stacked shape or ``None`` for a constant) in one call, (name, is constant) else.
_BatchStep = tuple[Node, Eval, list[tuple[Any, Any]], list[tuple[int, ...]] | None]


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
