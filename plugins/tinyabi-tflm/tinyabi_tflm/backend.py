"""What the two backends share: options, the node verdicts from ``capabilities.yaml``, and
turning a partition into a model the runtime accepts before anything runs in-process.

Options (pass them as ``("tflm", {...})`` in a Session's backend list):

* ``ops``: a list of operator names (``"CONV_2D"``, ``"tflite.ABS"``); the backend then claims
  only nodes of those operators (to split a model across backends on purpose).
* ``nodes``: a list of node names; the backend then claims only those nodes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from tinyabi.backends.base import Backend, CompiledPartition, Verdict
from tinyabi.errors import BackendError, TinyABIError
from tinyabi.ir.graph import Graph, Node
from tinyabi.spec import SPEC_VERSION
from tinyabi_tflm import __version__, capabilities, runtimes
from tinyabi_tflm.export import Exported, export_partition, state_problem


class RuntimeBackend(Backend):
    """A backend that runs partitions on one TFLite-family runtime (subclasses say which)."""

    #: ``runtimes.TFLM`` or ``runtimes.LITERT``.
    runtime: ClassVar[str]
    #: The options a subclass accepts besides ``ops`` and ``nodes``.
    extra_options: ClassVar[tuple[str, ...]] = ()
    version = __version__
    spec_version = SPEC_VERSION

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - {"ops", "nodes", *self.extra_options})
        if unknown:
            known = ", ".join(["ops", "nodes", *self.extra_options])
            raise TypeError(f"unknown option(s) {unknown} (the {self.name} options are {known})")
        super().__init__(**options)
        self._ops = _names(options, "ops", "operator names")
        self._nodes = _names(options, "nodes", "node names")
        self.capabilities = capabilities.for_runtime(self.runtime)

    @property
    def title(self) -> str:
        """The runtime's name for messages."""
        return runtimes.runtime_title(self.runtime)

    def supports(self, node: Node, graph: Graph) -> Verdict:
        try:
            if self._ops is not None and node.op not in self._ops:
                return Verdict.no(
                    f"{node.op} is not among the operators this {self.name} backend is limited "
                    f"to (option ops={sorted(self._ops)})"
                )
            if self._nodes is not None and node.name not in self._nodes:
                return Verdict.no(
                    f"the {self.name} backend is limited to other nodes (option nodes)"
                )
            verdict = self.capabilities.verdict(node, graph)
            if verdict and node.is_extension:
                problem = state_problem(node, graph)
                if problem:
                    return Verdict.no(problem)
            return self.refine(node, graph) if verdict else verdict
        except Exception as exc:  # the contract: never raise
            return Verdict.no(f"{self.name} could not check the node: {type(exc).__name__}: {exc}")

    def refine(self, node: Node, graph: Graph) -> Verdict:
        """A last say on a node the capability lists accept (default: accept)."""
        return Verdict.yes()

    def claims(self) -> Mapping[str, Sequence[str]]:
        claims = self.capabilities.claims()
        if self._ops is not None:
            claims = {op: sigs for op, sigs in claims.items() if op in self._ops}
        return claims

    def compile(self, subgraph: Graph, options: Mapping[str, Any]) -> CompiledPartition:
        for node in subgraph.nodes:
            verdict = self.supports(node, subgraph)
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


def _names(options: Mapping[str, Any], key: str, what: str) -> frozenset[str] | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
        raise TypeError(f"option {key} must be a list of {what}, not {value!r}")
    return frozenset(str(v) for v in value)
