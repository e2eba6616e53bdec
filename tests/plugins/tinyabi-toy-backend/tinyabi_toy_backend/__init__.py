"""A toy third-party tinyabi plugin: the ``toy`` backend runs RELU and AVERAGE_POOL_2D.

It is found through the ``tinyabi`` entry point in ``pyproject.toml``; tinyabi calls
:func:`tinyabi_register_backends` when it builds its backend registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tinyabi import hookspecs
from tinyabi.backends import Backend, CompiledPartition, NodeCheck, Verdict
from tinyabi.backends.reference import ReferencePartition
from tinyabi.ir.graph import Graph, Node

OPS = {"RELU": ["int8", "float32"], "AVERAGE_POOL_2D": ["int8", "float32"]}


class ToyBackend(Backend):
    """Claims RELU and AVERAGE_POOL_2D and runs them with tinyabi's reference kernels."""

    name = "toy"
    version = "0.3.0"
    spec_version = "0.1"
    profile = "int8"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.op in OPS:
            return Verdict.yes()
        return Verdict.no(f"the toy backend only runs {', '.join(OPS)}")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return ReferencePartition(subgraph)

    def claims(self) -> Mapping[str, Sequence[str]]:
        return OPS


@hookspecs.hookimpl
def tinyabi_register_backends(registry: Any) -> None:
    """Register the toy backend."""
    registry.add(ToyBackend)
