"""An example tinyabi backend, written from scratch: ``example-add`` runs int8 ADD.

Everything a backend needs is here: its options, the node predicate, a whole-partition limit,
the compiled partition with its own ``run()``, the memory it declares, and the hook that
registers it. It imports only tinyabi's plugin API (``tinyabi.PLUGIN_API_MODULES``), and takes
every quantization parameter from :mod:`tinyabi.quantization`, so it rounds exactly as the spec
says (and as TensorFlow Lite Micro does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import Field

from tinyabi import hookimpl
from tinyabi.backends import (
    Backend,
    BackendOptions,
    BackendRegistry,
    CompiledPartition,
    MemoryNeeds,
    NodeCheck,
    Verdict,
)
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, Node
from tinyabi.quantization import elementwise
from tinyabi.quantization.fixed_point import multiply_by_quantized_multiplier


class ExampleOptions(BackendOptions):
    """What a user may set: ``("example-add", {"max_nodes": 4})`` or
    ``--backends example-add:max_nodes=4``."""

    max_nodes: int = Field(64, ge=1, description="the most nodes one partition may have")


class ExampleAddBackend(Backend):
    """int8 ADD of two tensors of the same shape, in numpy integer arithmetic."""

    name = "example-add"
    version = "1.0.0"
    spec_version = "0.1"
    profile = "int8"
    Options = ExampleOptions
    options: ExampleOptions

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        # The dispatcher checked the node against the spec once; reuse its answer.
        if check.problem is not None:
            return Verdict.no(check.problem)
        if node.op != "ADD" or check.signature != "int8":
            return Verdict.no(
                f"{node.op} ({check.signature}) is not int8 ADD", "use the reference backend"
            )
        a, b = (graph.tensor(name) for name in node.inputs if name is not None)
        if a.shape != b.shape:
            return Verdict.no("the inputs must have the same shape (no broadcasting)")
        return Verdict.yes()

    def accept(self, partition: Graph) -> Verdict:
        if len(partition.nodes) > self.options.max_nodes:
            return Verdict.no(f"more than max_nodes={self.options.max_nodes} nodes")
        return Verdict.yes()

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return ExampleAddPartition(subgraph)

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {"ADD": ["int8"]}


class ExampleAddPartition(CompiledPartition):
    """The partition's ADD nodes with their parameters, computed once when compiling."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        # Nodes come in execution order; a node's parameters never change between runs.
        self.steps = [(node, elementwise.add_sub_params(node, graph)) for node in graph.nodes]
        largest = max((graph.tensor(n.outputs[0]).size for n in graph.nodes), default=0)
        # One int64 accumulator per element of the largest output, while a run lasts.
        self.memory = MemoryNeeds(persistent=0, scratch=8 * largest)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Everything a run touches is local to the call, so concurrent runs are safe.
        values = dict(inputs)
        for node, p in self.steps:
            a, b = (values[name] for name in node.inputs if name is not None)
            x1 = (a.astype(np.int64) + p.input1_offset) << p.left_shift
            x2 = (b.astype(np.int64) + p.input2_offset) << p.left_shift
            x1 = multiply_by_quantized_multiplier(x1, p.input1_multiplier, p.input1_shift)
            x2 = multiply_by_quantized_multiplier(x2, p.input2_multiplier, p.input2_shift)
            total = multiply_by_quantized_multiplier(x1 + x2, p.output_multiplier, p.output_shift)
            out = np.clip(total + p.output_offset, p.act_min, p.act_max)
            values[node.outputs[0]] = out.astype(np.int8)
        try:
            # New arrays, never views of the inputs: the caller owns what run() returns.
            return {name: values[name] for name in self.graph.outputs}
        except KeyError as missing:
            raise BackendError(f"example-add: output {missing} was not computed") from None


@hookimpl
def tinyabi_register_backends(registry: BackendRegistry) -> None:
    """Register the example backend (called once, when tinyabi builds its registry)."""
    registry.add(ExampleAddBackend)
