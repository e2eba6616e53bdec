"""The backend contract: what a plugin implements so the dispatcher can give it work.

A backend declares its options as a pydantic model (:class:`BackendOptions`), which the
registry validates before anything runs. It says, node by node, whether it can run a node
(:meth:`Backend.supports`, given the node's spec check computed once by the dispatcher),
optionally which multi-node patterns it wants as one unit and whether it accepts a whole
proposed partition (:meth:`Backend.accept`), compiles a partition into a
:class:`CompiledPartition` once, and runs it many times. It may also estimate a partition's cost
for cost-based planning and report the memory it needs beyond the tensors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict

from tinyabi.errors import BackendError
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import NodeCheck

__all__ = [
    "Backend",
    "BackendOptions",
    "CompiledPartition",
    "Estimate",
    "LayerCost",
    "MemoryNeeds",
    "NameList",
    "Pattern",
    "Verdict",
]


@dataclass(frozen=True)
class Verdict:
    """Whether a backend supports a node; when not, why, and what the user could do about it."""

    supported: bool
    reason: str = ""
    hint: str = ""
    #: A "yes" for a node that breaks the spec, which the backend runs by its runtime's own
    #: semantics (e.g. tflm runs whatever TFLM runs); the conformance suite does not count it
    #: as answering the spec operator. ``reason`` says what the backend does instead.
    outside_spec: bool = False

    @classmethod
    def yes(cls) -> Verdict:
        """The node is supported."""
        return _YES if cls is Verdict else cls(True)

    @classmethod
    def outside_the_spec(cls, reason: str) -> Verdict:
        """The node breaks the spec, and the backend runs it anyway by its own semantics,
        because ``reason``."""
        return cls(True, reason, outside_spec=True)

    @classmethod
    def no(cls, reason: str, hint: str = "") -> Verdict:
        """The node is not supported, because of ``reason``."""
        return cls(False, reason, hint)

    def __bool__(self) -> bool:
        return self.supported


_YES = Verdict(True)  # verdicts are immutable: one "yes" serves every node


@dataclass(frozen=True)
class MemoryNeeds:
    """Memory a compiled partition needs besides the tensors of the graph, in bytes.

    ``persistent`` lives as long as the session (for example an interpreter's own arena or
    lookup tables); ``scratch`` is needed only while the partition runs and may be shared with
    other partitions' scratch.
    """

    persistent: int = 0
    scratch: int = 0


@dataclass(frozen=True)
class Estimate:
    """A backend's cost estimate for a partition: seconds per inference and memory."""

    seconds: float
    memory: MemoryNeeds = field(default_factory=MemoryNeeds)


@dataclass(frozen=True)
class LayerCost:
    """What one layer (node) of a partition cost in one run, as far as the backend can tell.

    ``node`` is the name of a node of the partition graph. Each measure is ``None`` when the
    backend cannot tell it: ``seconds`` is host (wall-clock) time, ``instructions`` counted
    instructions (e.g. a Cortex-M core under QEMU with ``-icount``), ``cycles`` simulated
    hardware cycles (e.g. an NPU's cycle model).
    """

    node: str
    seconds: float | None = None
    instructions: int | None = None
    cycles: int | None = None


@dataclass(frozen=True)
class Pattern:
    """A chain of operators a backend wants to take as one unit (e.g. ``PAD`` then ``CONV_2D``).

    ``ops`` is the chain in execution order; each node's only consumer is the next one.
    ``check``, when given, must accept the matched nodes.
    """

    name: str
    ops: tuple[str, ...]
    check: Callable[[Sequence[Node], Graph], bool] | None = None


class CompiledPartition(ABC):
    """A partition compiled by a backend: run it as many times as needed."""

    #: Memory this compiled partition needs besides the graph's tensors.
    memory: MemoryNeeds = MemoryNeeds()

    @abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: ``inputs`` by the partition graph's input names; returns every output of
        the partition graph by name, with the dtype and shape its tensor declares.

        ``run`` may be called from several threads at once, and every call must give the
        correct result for its own inputs: a partition whose runtime is not re-entrant
        serializes its runs internally (a lock held for the whole run). A stateful partition
        keeps each run atomic: resetting or updating its state and running happen under the
        same lock. Returned arrays belong to the caller and must not be changed by later runs.
        """

    def run_batch(self, inputs: Mapping[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Run ``count`` samples: every input holds them along a new leading axis (shape
        ``(count, *shape)`` for a tensor of shape ``shape``); returns every output likewise.

        The result must equal ``count`` calls of :meth:`run`, byte for byte (a stateful
        partition carries its state from one sample to the next, as those calls would). The
        default makes exactly those calls; a backend that computes a batch in one call (the
        reference backend stacks the samples along the leading axis) overrides it.
        """
        names = list(inputs)
        results = [self.run({name: inputs[name][i] for name in names}) for i in range(count)]
        if not results:
            raise BackendError("run_batch needs at least one sample")
        return {name: np.stack([r[name] for r in results]) for name in results[0]}

    def profile(
        self, inputs: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[LayerCost]] | None:
        """Run once like :meth:`run` and say what each layer cost; ``None`` (the default) when
        the backend cannot tell per layer.

        Returns the outputs (exactly what :meth:`run` returns for ``inputs``) and one
        :class:`LayerCost` per node of the partition graph that ran, in execution order, each
        naming its node. :meth:`Session.profile <tinyabi.session.Session.profile>` calls it
        instead of :meth:`run` when profiling, takes the medians over its runs and times the
        whole call as the partition's time. The same thread-safety and state rules as
        :meth:`run` apply.
        """
        return None

    def reset(self) -> None:
        """Return the partition's state to where it started, as TFLM's ``reset()`` does.

        A partition whose graph has variable tensors (the state of an LSTM or SVDF) keeps
        their values from one :meth:`run` to the next; ``reset`` sets them back to their
        initial value (the zero point for int8, else zero). The default does nothing, which is
        right for a partition without state.
        """
        return None


class BackendOptions(BaseModel):
    """The options a backend takes, as a frozen pydantic model that forbids unknown keys.

    A backend with options subclasses it, declares each option as a field with a default and a
    ``description=`` (documentation is generated from them) and sets
    ``Options = ThatModel`` on the backend class. The registry validates what users pass (in
    pydantic's lax mode, so ``"4"`` from the command line becomes ``4``) before anything runs.
    This base model declares no options.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


def _split_names(value: Any) -> Any:
    return tuple(v for v in value.split("+") if v) if isinstance(value, str) else value


#: An option holding names (operators, nodes): a list, or on the command line one text with
#: the names joined by ``+`` (``tflm:ops=CONV_2D+ADD``).
NameList = Annotated[tuple[str, ...], BeforeValidator(_split_names)]


class Backend(ABC):
    """Base class of every backend. Subclasses set the identity class attributes and implement
    :meth:`supports` and :meth:`compile`; the rest is optional. The constructor takes an
    instance of :attr:`Options` (the registry builds it from what users pass) and keeps it as
    ``self.options``; a subclass that overrides ``__init__`` passes it on."""

    #: Unique name users put in the backend list, e.g. ``"cmsis-nn"``.
    name: ClassVar[str]
    #: The backend's own version.
    version: ClassVar[str] = "0.0.0"
    #: The TinyABI spec version it implements.
    spec_version: ClassVar[str] = "0.1"
    #: The part of the spec it implements, e.g. ``"int8"``, ``"float32"`` or ``"full"``.
    profile: ClassVar[str] = "full"

    #: The model of the options this backend takes (default: none).
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def __init__(self, options: BackendOptions | None = None) -> None:
        """``options`` is an instance of :attr:`Options` (default: every option's default);
        :meth:`BackendRegistry.create <tinyabi.backends.registry.BackendRegistry.create>`
        builds it from a mapping and reports bad options."""
        if options is None:
            options = self.Options()
        elif not isinstance(options, self.Options):
            raise TypeError(
                f"backend {self.name!r} takes {self.Options.__name__} options, "
                f"not {type(options).__name__}"
            )
        self.options = options

    @abstractmethod
    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        """Whether this backend can run ``node`` of ``graph``.

        ``check`` is the node's check against the spec, computed once by the dispatcher:
        ``check.signature`` is the matched signature name (``None`` for extension nodes and
        invalid nodes) and ``check.problem`` says which rule an invalid node breaks. Backends
        use it instead of validating the node again. Should not raise; if it does anyway, the
        dispatcher records the exception as the reason."""

    def patterns(self) -> Sequence[Pattern]:
        """Chains of operators this backend wants to take as one unit (default: none).

        In the backend's turn in preference order its patterns are matched before single
        nodes; a chain is claimed whole (and lands in one partition) only if no preferred
        backend took any of its nodes and :meth:`supports` accepts each of them."""
        return ()

    def accept(self, partition: Graph) -> Verdict:
        """Whether this backend takes a whole proposed partition (default: yes).

        Called while planning, after nodes are grouped and before anything compiles, once per
        proposed partition of this backend (``partition`` holds its nodes in execution order).
        A refusal of a partition of several nodes splits it before its middle node (a pattern's
        chain stays whole) and offers the parts; a refused single node (or chain) goes to the
        next backend in preference order, with "partition refused: <reason>" among its
        declines. Use it for limits that depend on the partition as a whole (memory, node
        count); should not raise (an exception counts as a refusal quoting it)."""
        return Verdict.yes()

    @abstractmethod
    def compile(self, subgraph: Graph) -> CompiledPartition:
        """Compile a partition (a subgraph of nodes this backend supports) once, with this
        backend's :attr:`options`."""

    def estimate(self, subgraph: Graph) -> Estimate | None:
        """A cost estimate for running ``subgraph``, or ``None`` (the default) when unknown."""
        return None

    def generate_code(self, graph: Graph, directory: Path) -> Sequence[Path]:
        """Write a self-contained source project that runs ``graph`` (every node of which this
        backend supports) into ``directory``; returns the files written.

        Backends that generate code (``tinyabi codegen``) override this; the default raises
        :class:`~tinyabi.errors.BackendError`.
        """
        raise BackendError(f"backend {self.name!r} does not generate code")

    def claims(self) -> Mapping[str, Sequence[str]]:
        """The operators and signature names this backend claims, for listings and docs.

        The default is empty; ``supports`` remains the authority.
        """
        return {}
