"""How the reference backend runs a batch: a plan per batch size.

The samples are stacked along the leading axis (:func:`~tinyabi.kernels.batch.batched_graph`).
A node that computes the stack in one call exactly as one sample at a time, and whose outputs
are small enough that the per-call overhead dominates, runs once over the stack, its kernel
prepared for the batch size. Runs of the other nodes (large convolutions, nodes that mix
samples) go sample by sample through the single-sample kernels, each sample through the whole
run before the next, so its tensors stay in cache; only what later nodes read is stacked.
Every tensor between steps is held as ``(count, *shape)``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyabi.ir.graph import Graph, Node
from tinyabi.kernels import Eval, prepare
from tinyabi.kernels.batch import batched_graph

__all__ = ["BatchPlan"]


@dataclass(frozen=True)
class _Stacked:
    """One node over the stack: operands (name, stacked shape or ``None`` for a constant)."""

    node: Node
    evaluate: Eval
    operands: list[tuple[str | None, tuple[int, ...] | None]]
    outputs: list[tuple[int, ...]]


@dataclass(frozen=True)
class _PerSample:
    """Consecutive nodes run sample by sample: what they read from earlier steps, and what of
    theirs later steps (or the partition's outputs) read."""

    steps: list[tuple[Node, Eval]]
    reads: list[str]
    keeps: list[str]


class BatchPlan:
    """A partition's nodes prepared for batches of ``count`` samples.

    ``steps`` are the single-sample ``(node, kernel)`` pairs of ``graph`` in order. A node runs
    over the stack when :func:`~tinyabi.kernels.batch.batched_graph` says it can and each of
    its outputs holds at most ``limit(node)`` elements per sample.
    """

    def __init__(
        self,
        graph: Graph,
        steps: Sequence[tuple[Node, Eval]],
        count: int,
        limit: Mapping[str, int],
        default_limit: int,
    ) -> None:
        self.graph = graph
        self.count = count
        batched, flags = batched_graph(graph, count)
        self.constants = {n: t.data for n, t in batched.tensors.items() if t.data is not None}
        stacked: list[_Stacked | None] = []
        for (node, _), bnode, ok in zip(steps, batched.nodes, flags):
            most = limit.get(node.op, default_limit)
            if ok and all(t.size <= most for t in graph.node_outputs(node)):
                operands = [
                    (n, None if n is None or n in self.constants else batched.tensor(n).shape)
                    for n in bnode.inputs
                ]
                shapes = [(count, *graph.tensor(n).shape) for n in node.outputs]
                stacked.append(_Stacked(bnode, prepare(bnode, batched), operands, shapes))
            else:
                stacked.append(None)
        self.segments: list[_Stacked | _PerSample] = []
        run: list[tuple[Node, Eval]] = []
        for i, (step, one) in enumerate(zip(steps, stacked)):
            if one is None:
                run.append(step)
                continue
            if run:
                self.segments.append(self._per_sample(run, steps[i:]))
                run = []
            self.segments.append(one)
        if run:
            self.segments.append(self._per_sample(run, ()))

    def _per_sample(
        self, run: list[tuple[Node, Eval]], later: Sequence[tuple[Node, Eval]]
    ) -> _PerSample:
        constants: Collection[str] = self.constants
        produced: set[str] = set()
        reads: list[str] = []
        for node, _ in run:
            for n in node.inputs:
                if n is not None and n not in produced and n not in constants and n not in reads:
                    reads.append(n)
            produced.update(node.outputs)
        wanted = {n for node, _ in later for n in node.inputs} | set(self.graph.outputs)
        keeps = [n for node, _ in run for n in node.outputs if n in wanted]
        return _PerSample(list(run), reads, keeps)

    @property
    def stacked_nodes(self) -> list[str]:
        """The names of the nodes that run over the stack in one call."""
        return [s.node.name for s in self.segments if isinstance(s, _Stacked)]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the batch: inputs and outputs ``(count, *shape)`` by name."""
        values: dict[str, Any] = dict(self.constants)
        values.update(inputs)
        for segment in self.segments:
            if isinstance(segment, _Stacked):
                args = [
                    None if n is None else values[n] if shape is None else values[n].reshape(shape)
                    for n, shape in segment.operands
                ]
                results = segment.evaluate(args)
                for name, value, shape in zip(segment.node.outputs, results, segment.outputs):
                    values[name] = value.reshape(shape)
                continue
            kept: dict[str, list[np.ndarray]] = {n: [] for n in segment.keeps}
            for i in range(self.count):
                local = {n: values[n][i] for n in segment.reads}
                for node, evaluate in segment.steps:
                    args = [
                        None if n is None else local[n] if n in local else values[n]
                        for n in node.inputs
                    ]
                    local.update(zip(node.outputs, evaluate(args)))
                for n, into in kept.items():
                    into.append(local[n])
            for n, stack in kept.items():
                values[n] = np.stack(stack)
        return {name: values[name] for name in self.graph.outputs}
