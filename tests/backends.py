"""Toy backends for dispatcher and plugin tests, and a registry made of them without entry points.

* :class:`OpSubsetBackend` (``toy-a``, ``toy-b``): claims a set of operators (the class default,
  or ``ops=[...]``/``nodes=[...]`` options) and runs them with the reference kernels.
* :class:`FusingBackend` (``toy-fused``): also takes ``PAD`` -> ``CONV_2D`` and
  ``CONV_2D`` -> ``DEPTHWISE_CONV_2D`` chains as patterns.
* :class:`EstimatingBackend` (``toy-fast``, ``toy-slow``): gives cost estimates for cost mode.
* :class:`ExtensionBackend` (``toy-ext``): runs the extension operator ``toy.DOUBLE``.
* fault injection (``fault-*``): raising in the constructor, ``supports``, ``compile`` or
  ``run``, compiling to ``None``, returning a wrong shape or dtype or no outputs or outputs one
  LSB high, profiling a node it does not hold, and claiming ``DEPTHWISE_CONV_2D`` but
  refusing it when compiling.

:func:`toy_registry` registers them all through a plugin object with ``@hookimpl``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
from pydantic import Field

from tinyabi.backends.base import (
    Backend,
    BackendOptions,
    CompiledPartition,
    Estimate,
    LayerCost,
    MemoryNeeds,
    NameList,
    Pattern,
    Verdict,
)
from tinyabi.backends.reference import ReferencePartition
from tinyabi.backends.registry import BackendRegistry, build_registry, create_plugin_manager
from tinyabi.hookspecs import hookimpl
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import NodeCheck

#: Operators of the shared convolutional models (kws, vww).
CONV_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})


class SubsetOptions(BackendOptions):
    """Options of the operator-subset backends."""

    ops: NameList | None = Field(None, description="the operators claimed (default: the class's)")
    nodes: NameList | None = Field(None, description="claim only the nodes with these names")
    max_nodes: int | None = Field(
        None, ge=1, description="refuse (in accept) partitions of more nodes than this"
    )


class OpSubsetBackend(Backend):
    """Claims the operators in ``ops`` (option or class default), optionally only the nodes
    named in the ``nodes`` option, and runs them with the reference kernels. With the
    ``max_nodes`` option it refuses partitions of more nodes.

    Every instance records the subgraphs it compiled.
    """

    name = "toy-op-subset"
    version = "1.2.3"
    profile = "int8"
    ops: ClassVar[frozenset[str]] = frozenset()
    Options: ClassVar[type[BackendOptions]] = SubsetOptions
    options: SubsetOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        given = self.options.ops
        self.claimed_ops = frozenset(self.ops if given is None else given)
        nodes = self.options.nodes
        self.claimed_nodes = None if nodes is None else frozenset(nodes)
        self.compiled: list[Graph] = []

    def accept(self, partition: Graph) -> Verdict:
        limit = self.options.max_nodes
        if limit is not None and len(partition.nodes) > limit:
            return Verdict.no(f"{len(partition.nodes)} nodes are more than {limit}")
        return Verdict.yes()

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.op not in self.claimed_ops:
            return Verdict.no(f"{self.name} does not implement {node.op}")
        if self.claimed_nodes is not None and node.name not in self.claimed_nodes:
            return Verdict.no(f"{self.name} was told to leave {node.name!r} alone")
        return Verdict.yes()

    def compile(self, subgraph: Graph) -> CompiledPartition:
        self.compiled.append(subgraph)
        return ReferencePartition(subgraph)

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {op: ["int8"] for op in sorted(self.claimed_ops)}


class ToyA(OpSubsetBackend):
    """An operator-subset backend called ``toy-a``."""

    name = "toy-a"


class ToyB(OpSubsetBackend):
    """An operator-subset backend called ``toy-b``."""

    name = "toy-b"


PAD_CONV = Pattern("pad-conv", ("PAD", "CONV_2D"))
CONV_DW = Pattern("conv-dw", ("CONV_2D", "DEPTHWISE_CONV_2D"))


class FusingOptions(SubsetOptions):
    """Options of :class:`FusingBackend`."""

    patterns: list[tuple[str, ...]] | None = Field(
        None, description="chains of operators wanted as units (default: PAD-CONV, CONV-DW)"
    )


class FusingBackend(OpSubsetBackend):
    """Claims ``PAD``, ``CONV_2D`` and ``DEPTHWISE_CONV_2D`` (or ``ops``) and wants the chains
    ``PAD`` -> ``CONV_2D`` and ``CONV_2D`` -> ``DEPTHWISE_CONV_2D`` as units (or the chains of
    operators in the ``patterns`` option, named by their lower-case operators joined by ``-``).
    """

    name = "toy-fused"
    ops = frozenset({"PAD", "CONV_2D", "DEPTHWISE_CONV_2D"})
    Options = FusingOptions
    options: FusingOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        given = self.options.patterns
        self._patterns = (
            [PAD_CONV, CONV_DW]
            if given is None
            else [Pattern("-".join(op.lower() for op in ops), tuple(ops)) for ops in given]
        )

    def patterns(self) -> Sequence[Pattern]:
        return self._patterns


class EstimatingOptions(SubsetOptions):
    """Options of :class:`EstimatingBackend`."""

    seconds_per_node: float | None = Field(None, description="estimate per node")
    costs: dict[str, float] = Field({}, description="estimate per node of these operators")


class EstimatingBackend(OpSubsetBackend):
    """Claims every operator (or ``ops``) and estimates ``seconds_per_node`` (option, default the
    class's) per node, or ``costs[op]`` for operators listed in the ``costs`` option."""

    seconds_per_node: ClassVar[float] = 1e-3
    Options = EstimatingOptions
    options: EstimatingOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        if self.options.ops is None:
            self.claimed_ops = frozenset(_all_ops())
        given = self.options.seconds_per_node
        self.per_node = float(self.seconds_per_node if given is None else given)
        self.costs: Mapping[str, float] = self.options.costs

    def estimate(self, subgraph: Graph) -> Estimate | None:
        return Estimate(sum(self.costs.get(n.op, self.per_node) for n in subgraph.nodes))


class FastBackend(EstimatingBackend):
    """An estimating backend that says it is fast."""

    name = "toy-fast"
    seconds_per_node = 1e-4


class SlowBackend(EstimatingBackend):
    """An estimating backend that says it is slow."""

    name = "toy-slow"
    seconds_per_node = 1e-2


class _DoublePartition(CompiledPartition):
    memory = MemoryNeeds(persistent=64, scratch=32)

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = dict(inputs)
        for node in self.graph.nodes:
            values[node.outputs[0]] = values[node.inputs[0] or ""] * np.float32(2)
        return {name: values[name] for name in self.graph.outputs}


class ExtensionBackend(Backend):
    """Runs the extension operator ``toy.DOUBLE`` (float32 x 2) and nothing else."""

    name = "toy-ext"
    version = "0.1"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.op == "toy.DOUBLE":
            return Verdict.yes()
        return Verdict.no(f"toy-ext only runs toy.DOUBLE, not {node.op}")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return _DoublePartition(subgraph)

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {"toy.DOUBLE": ["float32"]}


# --- fault injection ---------------------------------------------------------------------------


class FaultError(RuntimeError):
    """The exception fault-injection backends raise."""


class _FaultyBackend(OpSubsetBackend):
    """Claims the operators of the shared convolutional models (or ``ops``) and misbehaves."""

    ops = CONV_OPS


class SupportsRaises(_FaultyBackend):
    """``supports`` raises."""

    name = "fault-supports"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        raise FaultError(f"supports exploded on {node.name}")


class CompileRaises(_FaultyBackend):
    """``compile`` raises."""

    name = "fault-compile"

    def compile(self, subgraph: Graph) -> CompiledPartition:
        raise FaultError("compile exploded")


class RefusesDepthwise(_FaultyBackend):
    """Claims ``DEPTHWISE_CONV_2D`` in ``supports`` but refuses partitions holding it."""

    name = "fault-refuse"

    def compile(self, subgraph: Graph) -> CompiledPartition:
        if any(n.op == "DEPTHWISE_CONV_2D" for n in subgraph.nodes):
            raise FaultError("DEPTHWISE_CONV_2D is not implemented after all")
        return super().compile(subgraph)


class ConstructorRaises(_FaultyBackend):
    """The constructor raises."""

    name = "fault-create"

    def __init__(self, options: BackendOptions | None = None) -> None:
        raise FaultError("constructor exploded")


class CompileReturnsNone(_FaultyBackend):
    """``compile`` returns ``None`` instead of a compiled partition."""

    name = "fault-none"

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return None  # type: ignore[return-value]


class _BadPartition(CompiledPartition):
    def __init__(self, graph: Graph, fault: str) -> None:
        self.inner = ReferencePartition(graph)
        self.fault = fault

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.fault == "run":
            raise FaultError("run exploded")
        outputs = self.inner.run(inputs)
        if self.fault == "missing":
            return {}
        if self.fault == "shape":
            return {k: v.reshape(-1) for k, v in outputs.items()}
        if self.fault == "dtype":
            return {k: v.astype(np.float32) for k, v in outputs.items()}
        if self.fault == "lsb":
            return {k: _one_lsb_up(v) for k, v in outputs.items()}
        if self.fault == "profile":
            return outputs
        raise AssertionError(self.fault)

    def profile(
        self, inputs: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[LayerCost]] | None:
        if self.fault != "profile":
            return None
        return self.run(inputs), [LayerCost(node="not-a-node-of-it", seconds=1.0)]


def _one_lsb_up(values: np.ndarray) -> np.ndarray:
    """Integer values one step higher where that stays in range (a typical rounding bug)."""
    top = np.iinfo(values.dtype).max
    return np.where(values < top, values + 1, values).astype(values.dtype)


class RunRaises(_FaultyBackend):
    """The compiled partition raises when run."""

    name = "fault-run"
    fault: ClassVar[str] = "run"

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return _BadPartition(subgraph, self.fault)


class WrongShape(RunRaises):
    """The compiled partition returns its outputs flattened."""

    name = "fault-shape"
    fault = "shape"


class WrongDtype(RunRaises):
    """The compiled partition returns float32 outputs."""

    name = "fault-dtype"
    fault = "dtype"


class MissingOutputs(RunRaises):
    """The compiled partition returns nothing."""

    name = "fault-missing"
    fault = "missing"


class OneLsbUp(RunRaises):
    """The compiled partition's integer outputs are one LSB too high (wrong, but well formed)."""

    name = "fault-lsb"
    fault = "lsb"


class ProfilesStrangers(RunRaises):
    """The compiled partition runs right but profiles a node it does not hold."""

    name = "fault-profile"
    fault = "profile"


TOY_BACKENDS: list[type[Backend]] = [
    ToyA,
    ToyB,
    FusingBackend,
    FastBackend,
    SlowBackend,
    ExtensionBackend,
    SupportsRaises,
    CompileRaises,
    ConstructorRaises,
    CompileReturnsNone,
    RefusesDepthwise,
    RunRaises,
    WrongShape,
    WrongDtype,
    MissingOutputs,
    OneLsbUp,
    ProfilesStrangers,
]


class ToyPlugin:
    """A plugin object registering the given backend classes."""

    def __init__(self, classes: Sequence[type[Backend]]) -> None:
        self.classes = list(classes)

    @hookimpl
    def tinyabi_register_backends(self, registry: BackendRegistry) -> None:
        """Register the toy backends."""
        for cls in self.classes:
            registry.add(cls)


def toy_registry(classes: Sequence[type[Backend]] = TOY_BACKENDS) -> BackendRegistry:
    """A registry with the reference backend and ``classes``, ignoring installed plugins."""
    pm, distributions, problems = create_plugin_manager(
        autoload=False, blocked=(), plugins={"toy-plugin": ToyPlugin(classes)}
    )
    return build_registry(pm, distributions, problems)


def _all_ops() -> list[str]:
    from tinyabi.kernels import kernel_ops

    return list(kernel_ops())


# --- plugins for the plugin-system tests (loaded through fake entry points) ---------------------

#: Registers toy-a and toy-b.
PLUGIN_AB = ToyPlugin([ToyA, ToyB])


class _RaisingPlugin:
    @hookimpl
    def tinyabi_register_backends(self, registry: BackendRegistry) -> None:
        """Register toy-a, then fail."""
        registry.add(ToyA)
        raise RuntimeError("registration exploded")


#: Registers toy-a, then raises.
RAISING_PLUGIN = _RaisingPlugin()


class _UnknownHookPlugin:
    @hookimpl
    def tinyabi_register_backend(self, registry: BackendRegistry) -> None:  # sic: no "s"
        """A misspelt hook."""


#: Implements a hook that does not exist.
UNKNOWN_HOOK_PLUGIN = _UnknownHookPlugin()


class _SloppyPlugin:
    @hookimpl
    def tinyabi_register_backends(self, registry: BackendRegistry) -> None:
        """Register things that are not backends, and a name that is taken."""
        registry.add(int)
        registry.add(ToyA)
        registry.add(ToyA)


#: Registers a non-backend and a duplicate.
SLOPPY_PLUGIN = _SloppyPlugin()


class _NoArgumentPlugin:
    def __init__(self) -> None:
        self.called = False

    @hookimpl
    def tinyabi_register_backends(self) -> None:
        """Take no arguments (pluggy allows implementations to declare fewer)."""
        self.called = True


#: Implements the hook without arguments.
NO_ARGUMENT_PLUGIN = _NoArgumentPlugin()
