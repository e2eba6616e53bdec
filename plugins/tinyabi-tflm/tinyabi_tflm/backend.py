"""What the two backends share: options, the node verdicts from ``capabilities.yaml``, and
turning a partition into a model the runtime accepts before anything runs in-process.

Options (pass them as ``("tflm", {...})`` in a Session's backend list) are declared by
:class:`RuntimeOptions`: ``ops`` limits the backend to nodes of those operators, ``nodes`` to
the nodes with those names.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import Field

from tinyabi.backends import Backend, BackendOptions, CompiledPartition, NameList, Verdict
from tinyabi.errors import BackendError, TinyABIError
from tinyabi.ir import Graph, Node, NodeCheck, check_node
from tinyabi.spec import SPEC_VERSION
from tinyabi_tflm import __version__, capabilities, runtimes
from tinyabi_tflm.export import Exported, export_partition, state_problem


class RuntimeOptions(BackendOptions):
    """The options both runtime backends take."""

    ops: NameList | None = Field(
        None,
        description="claim only nodes of these operators (e.g. CONV_2D, tflite.ABS), to split a "
        "model across backends on purpose; on the command line join them with +",
    )
    nodes: NameList | None = Field(
        None, description="claim only the nodes with these names; on the command line join with +"
    )


class RuntimeBackend(Backend):
    """A backend that runs partitions on one TFLite-family runtime (subclasses say which)."""

    #: ``runtimes.TFLM`` or ``runtimes.LITERT``.
    runtime: ClassVar[str]
    Options: ClassVar[type[BackendOptions]] = RuntimeOptions
    options: RuntimeOptions
    version = __version__
    spec_version = SPEC_VERSION

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self.capabilities = capabilities.for_runtime(self.runtime)

    @property
    def title(self) -> str:
        """The runtime's name for messages."""
        return runtimes.runtime_title(self.runtime)

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        ops, nodes = self.options.ops, self.options.nodes
        if ops is not None and node.op not in ops:
            return Verdict.no(
                f"{node.op} is not among the operators this {self.name} backend is limited "
                f"to (option ops={sorted(ops)})"
            )
        if nodes is not None and node.name not in nodes:
            return Verdict.no(f"the {self.name} backend is limited to other nodes (option nodes)")
        verdict = self.capabilities.verdict(node, graph, check)
        if verdict and node.is_extension:
            problem = state_problem(node, graph)
            if problem:
                return Verdict.no(problem)
        if not verdict:
            return verdict
        refined = self.refine(node, graph)
        # The last say may refuse; a "yes" keeps the capability lists' word (outside the spec).
        return refined if not refined else verdict

    def refine(self, node: Node, graph: Graph) -> Verdict:
        """A last say on a node the capability lists accept (default: accept)."""
        return Verdict.yes()

    def claims(self) -> Mapping[str, Sequence[str]]:
        claims = self.capabilities.claims()
        if self.options.ops is not None:
            claims = {op: sigs for op, sigs in claims.items() if op in self.options.ops}
        return claims

    def compile(self, subgraph: Graph) -> CompiledPartition:
        for node in subgraph.nodes:
            verdict = self.supports(node, subgraph, check_node(node, subgraph))
            if not verdict:
                raise self.error(subgraph, f"cannot take {node.describe()}: {verdict.reason}")
        try:
            exported = export_partition(subgraph)
        except TinyABIError as exc:
            raise self.error(subgraph, f"cannot be exported to TFLite: {exc}") from None
        try:
            return self.prepare(subgraph, exported)
        except runtimes.RuntimeMissing as exc:
            raise self.error(subgraph, str(exc)) from None

    @abstractmethod
    def prepare(self, subgraph: Graph, exported: Exported) -> CompiledPartition:
        """Check ``exported`` in the worker process, then create the in-process runner."""

    def error(self, subgraph: Graph, message: str) -> BackendError:
        """A :class:`BackendError` naming this backend and the partition."""
        return BackendError(f"{self.name} backend, partition {subgraph.name!r}: {message}")
