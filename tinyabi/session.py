"""The unified run API: a :class:`Session` runs a model on a preference-ordered list of backends.

Creating a session plans and compiles: every node is assigned to a backend (first claim, or
lowest estimated cost), nodes are grouped into convex partitions, one arena is planned for all
activation tensors, and each partition is compiled once. :meth:`Session.run` then runs the
partitions in order and hands tensors across their boundaries.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from tinyabi.backends.base import Backend, CompiledPartition
from tinyabi.backends.registry import BackendRegistry, default_registry
from tinyabi.dispatch.memory import memory_aware_order, peak_for_order, plan_memory
from tinyabi.dispatch.partition import assign, group_partitions, split_partitions
from tinyabi.dispatch.plan import Decline, MemoryPlan, NodePlan, PartitionPlan, Plan
from tinyabi.errors import BackendError, InputError, TinyABIError, UnsupportedOperatorError
from tinyabi.ir.graph import Graph, numpy_dtype

ModelLike = Graph | str | os.PathLike[str] | bytes
Feeds = Mapping[str, np.ndarray] | Sequence[np.ndarray]
BackendSpec = str | tuple[str, Mapping[str, Any]]


def as_graph(model: ModelLike) -> Graph:
    """A graph from a graph, a model path or model bytes (plugins may import other formats)."""
    if isinstance(model, Graph):
        return model
    serialize = getattr(model, "SerializeToString", None)  # a protobuf message: onnx.ModelProto
    model = serialize() if callable(serialize) else model
    from tinyabi.backends.registry import default_plugin_manager
    from tinyabi.tflite.importer import load_tflite, read_model_bytes

    data = read_model_bytes(model)
    suffix = (
        "" if isinstance(model, (bytes, bytearray, memoryview)) else os.path.splitext(str(model))[1]
    )
    graph = default_plugin_manager().hook.tinyabi_load_model(data=data, suffix=suffix)
    return graph if graph is not None else load_tflite(data)


class PartitionTiming(BaseModel):
    """Median time of one partition over the profiled runs."""

    index: int
    backend: str
    nodes: int
    median_seconds: float


class Profile(BaseModel):
    """Per-partition times of :meth:`Session.profile`."""

    runs: int
    partitions: list[PartitionTiming]
    median_total_seconds: float


class Session:
    """Runs one model on backends given in order of preference.

    ``backends`` lists backend names, or ``(name, options)`` pairs; the first backend that
    supports a node takes it. Nodes no listed backend supports go to ``fallback`` (a backend
    name, ``"reference"`` by default); ``fallback="error"`` makes them an error instead.
    ``mode="cost"`` lets backends that give estimates compete on estimated time. With
    ``strict=True`` a backend that fails to compile is an error; otherwise its nodes fall back
    to the next backend with a warning.
    """

    def __init__(
        self,
        model: ModelLike,
        backends: Sequence[BackendSpec] = ("reference",),
        fallback: str = "reference",
        mode: Literal["first-claim", "cost"] = "first-claim",
        strict: bool = False,
        registry: BackendRegistry | None = None,
    ) -> None:
        graph = as_graph(model)
        self.registry = registry or default_registry()
        self.backends = self._create_backends(backends, fallback)
        self.fallback = fallback
        self.mode = mode
        self.strict = strict
        order = memory_aware_order(graph)
        if peak_for_order(graph, order) < peak_for_order(graph, range(len(graph.nodes))):
            graph = Graph(
                graph.tensors,
                [graph.nodes[i] for i in order],
                graph.inputs,
                graph.outputs,
                graph.name,
            )
        self.graph = graph
        self.plan, self._compiled = self._plan_and_compile()
        # What run() checks, worked out once: (name, dtype, shape) of every graph input, and
        # per partition its compiled form, inputs and expected outputs.
        self._feed_types = [
            (n, numpy_dtype(graph.tensor(n).dtype), graph.tensor(n).shape) for n in graph.inputs
        ]
        self._steps = [
            (
                part,
                compiled,
                tuple(part.inputs),
                tuple(
                    (n, numpy_dtype(graph.tensor(n).dtype), graph.tensor(n).shape)
                    for n in part.outputs
                ),
            )
            for part, compiled in zip(self.plan.partitions, self._compiled)
        ]
        # One partition that takes exactly the graph's inputs and gives its outputs (a model
        # run whole by one backend) is called without the bookkeeping of hand-overs.
        whole = (
            len(self._steps) == 1
            and set(self._steps[0][2]) == set(graph.inputs)
            and [n for n, _, _ in self._steps[0][3]] == list(graph.outputs)
        )
        self._whole = self._steps[0] if whole else None

    # --- set-up ------------------------------------------------------------------------------

    def _create_backends(self, specs: Sequence[BackendSpec], fallback: str) -> list[Backend]:
        entries: list[tuple[str, Mapping[str, Any]]] = [
            (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1])) for spec in specs
        ]
        names = [name for name, _ in entries]
        if len(set(names)) != len(names):
            raise TinyABIError(f"a backend is listed twice in {names}")
        if fallback != "error" and fallback not in names:
            entries.append((fallback, {}))
        return [self.registry.create(name, options) for name, options in entries]

    def _plan_and_compile(self) -> tuple[Plan, list[CompiledPartition]]:
        excluded: dict[str, dict[str, str]] = {}
        while True:
            plan, subgraphs = self._make_plan(excluded)
            compiled: list[CompiledPartition] = []
            failed = False
            for part, subgraph in zip(plan.partitions, subgraphs):
                backend = self._backend(part.backend)
                try:
                    result = backend.compile(subgraph, backend.options)
                    if not isinstance(result, CompiledPartition):
                        raise TypeError(f"compile returned {result!r}, not a CompiledPartition")
                    compiled.append(result)
                except Exception as exc:
                    message = (
                        f"backend {part.backend!r} failed to compile partition {part.index} "
                        f"(nodes {part.nodes}): {type(exc).__name__}: {exc}"
                    )
                    if self.strict or part.backend == self.backends[-1].name == self.fallback:
                        # Keep the error's kind (a GraphError stays a GraphError) with context.
                        kind = type(exc) if isinstance(exc, TinyABIError) else BackendError
                        raise kind(message) from None
                    warnings.warn(
                        message + "; its nodes fall back to the next backend", stacklevel=3
                    )
                    for name in part.nodes:
                        excluded.setdefault(name, {})[part.backend] = f"{type(exc).__name__}: {exc}"
                    failed = True
                    break
            if not failed:
                scratch = max((c.memory.scratch for c in compiled), default=0)
                persistent = sum(c.memory.persistent for c in compiled)
                for part, c in zip(plan.partitions, compiled):
                    part.scratch_bytes, part.persistent_bytes = (
                        c.memory.scratch,
                        c.memory.persistent,
                    )
                plan.memory = plan_memory(
                    self.graph, scratch_bytes=scratch, persistent_bytes=persistent
                )
                return plan, compiled

    def _backend(self, name: str) -> Backend:
        return next(b for b in self.backends if b.name == name)

    def _make_plan(self, excluded: dict[str, dict[str, str]]) -> tuple[Plan, list[Graph]]:
        """The plan, and the subgraph of each of its partitions."""
        graph = self.graph
        assignments = assign(graph, self.backends, self.mode, excluded)
        unassigned = [(graph.nodes[i], a) for i, a in enumerate(assignments) if a.backend is None]
        if unassigned:
            details = "; ".join(
                f"{node.describe()}: "
                + (", ".join(f"{b} declined ({v.reason})" for b, v in a.declined) or "no backend")
                for node, a in unassigned
            )
            what = (
                "fallback is 'error' and no listed backend supports"
                if self.fallback == "error"
                else "no backend can run"
            )
            ops = ", ".join(sorted({n.op for n, _ in unassigned}))
            raise UnsupportedOperatorError(f"{what} {len(unassigned)} node(s) ({ops}): {details}")
        backend_of = [a.backend or "" for a in assignments]
        chains: dict[int, list[int]] = {}
        for i, a in enumerate(assignments):
            if a.chain is not None:
                chains.setdefault(a.chain, []).append(i)
        part_of = group_partitions(graph, backend_of, list(chains.values()))
        count = max(part_of, default=-1) + 1
        members: list[list[int]] = [[] for _ in range(count)]
        for i, p in enumerate(part_of):
            members[p].append(i)
        # Execution order: partitions in order, nodes in their stored (topological) order.
        order = [i for p in members for i in p]
        self.graph = graph = Graph(
            graph.tensors, [graph.nodes[i] for i in order], graph.inputs, graph.outputs, graph.name
        )
        assignments = [assignments[i] for i in order]
        part_of = [part_of[i] for i in order]
        subgraphs = split_partitions(graph, part_of, lambda p: f"{graph.name}:partition{p}")
        partitions = []
        for p, sub in enumerate(subgraphs):
            backend = self._backend(backend_of[members[p][0]])
            estimate = _safe_estimate(backend, sub)
            partitions.append(
                PartitionPlan(
                    index=p,
                    backend=backend.name,
                    nodes=[node.name for node in sub.nodes],
                    inputs=sub.inputs,
                    outputs=sub.outputs,
                    estimated_seconds=estimate,
                )
            )
        nodes = [
            NodePlan(
                node=node.name,
                op=node.op,
                backend=a.backend or "",
                partition=part_of[i],
                pattern=a.pattern,
                declined=[Decline(backend=b, reason=v.reason, hint=v.hint) for b, v in a.declined],
                first_claim=a.first_claim,
            )
            for i, (node, a) in enumerate(zip(graph.nodes, assignments))
        ]
        notes = []
        changed = [n.node for n in nodes if n.first_claim]
        if changed:
            notes.append(
                f"cost mode moved {len(changed)} node(s) away from their first-claim backend: "
                + ", ".join(
                    f"{n.node} ({n.first_claim} -> {n.backend})" for n in nodes if n.first_claim
                )
            )
        plan = Plan(
            model=graph.name,
            backends=[b.name for b in self.backends],
            fallback=self.fallback,
            mode=self.mode,
            partitions=partitions,
            nodes=nodes,
            notes=notes,
        )
        return plan, subgraphs

    # --- running -----------------------------------------------------------------------------

    @property
    def memory(self) -> MemoryPlan:
        """The memory plan: arena size, lower bound and per-tensor offsets."""
        assert self.plan.memory is not None  # set once every partition has compiled
        return self.plan.memory

    def check_feeds(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """The feeds by input name, after checking names, dtypes and shapes (nothing is cast)."""
        graph = self.graph
        if isinstance(feeds, Mapping):
            missing = [n for n in graph.inputs if n not in feeds]
            extra = [n for n in feeds if n not in graph.inputs]
            if missing or extra:
                raise InputError(
                    f"inputs do not match the model: missing {missing}, unexpected {extra}; "
                    f"the model's inputs are {graph.inputs}"
                )
            named = dict(feeds)
        else:
            if len(feeds) != len(graph.inputs):
                raise InputError(
                    f"the model takes {len(graph.inputs)} inputs {graph.inputs}, got {len(feeds)}"
                )
            named = dict(zip(graph.inputs, feeds))
        checked = {}
        for name in graph.inputs:
            value = named[name]
            t = graph.tensor(name)
            if not isinstance(value, np.ndarray):
                raise InputError(
                    f"input {name!r}: expected a numpy array, got {type(value).__name__}"
                )
            if value.dtype != numpy_dtype(t.dtype):
                raise InputError(f"input {name!r}: expected dtype {t.dtype}, got {value.dtype}")
            if tuple(value.shape) != t.shape:
                raise InputError(
                    f"input {name!r}: expected shape {list(t.shape)}, got {list(value.shape)}"
                )
            checked[name] = value
        return checked

    @property
    def compiled(self) -> list[CompiledPartition]:
        """The compiled partitions, in the order of ``plan.partitions``."""
        return list(self._compiled)

    def run(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run the model; returns the outputs by name."""
        if not self._feeds_ok(feeds):
            feeds = self.check_feeds(feeds)  # raises with a message saying what is wrong
        return self._run(feeds, None)  # type: ignore[arg-type]

    def _feeds_ok(self, feeds: Feeds) -> bool:
        """The fast path of :meth:`check_feeds`: a dict of exactly the right arrays."""
        if type(feeds) is not dict or len(feeds) != len(self._feed_types):
            return False
        for name, dtype, shape in self._feed_types:
            value = feeds.get(name)
            if type(value) is not np.ndarray or value.dtype != dtype or value.shape != shape:
                return False
        return True

    def profile(self, feeds: Feeds, runs: int = 10) -> Profile:
        """Run ``runs`` times and report each partition's median time."""
        checked = self.check_feeds(feeds)
        times: list[list[float]] = [[] for _ in self.plan.partitions]
        totals = []
        for _ in range(runs):
            start = time.perf_counter()
            self._run(checked, times)
            totals.append(time.perf_counter() - start)
        return Profile(
            runs=runs,
            partitions=[
                PartitionTiming(
                    index=p.index,
                    backend=p.backend,
                    nodes=len(p.nodes),
                    median_seconds=statistics.median(t),
                )
                for p, t in zip(self.plan.partitions, times)
            ],
            median_total_seconds=statistics.median(totals),
        )

    def _run(
        self, feeds: dict[str, np.ndarray], times: list[list[float]] | None
    ) -> dict[str, np.ndarray]:
        if self._whole is not None and times is None:
            part, compiled, _, expected = self._whole
            return self._collect(part, self._call(part, compiled, feeds), expected, {})
        values: dict[str, np.ndarray] = dict(feeds)
        for part, compiled, input_names, expected in self._steps:
            inputs = {name: values[name] for name in input_names}
            start = time.perf_counter() if times is not None else 0.0
            outputs = self._call(part, compiled, inputs)
            if times is not None:
                times[part.index].append(time.perf_counter() - start)
            self._collect(part, outputs, expected, values)
        result = {}
        for name in self.graph.outputs:
            if name not in values:
                data = self.graph.tensor(name).data
                values[name] = np.array(data)
            result[name] = values[name]
        return result

    @staticmethod
    def _call(part: PartitionPlan, compiled: CompiledPartition, inputs: Any) -> Any:
        try:
            return compiled.run(inputs)
        except Exception as exc:
            raise BackendError(
                f"backend {part.backend!r} failed running partition {part.index} "
                f"(nodes {part.nodes}): {type(exc).__name__}: {exc}"
            ) from None

    def _collect(
        self,
        part: PartitionPlan,
        outputs: Any,
        expected: tuple[tuple[str, np.dtype[Any], tuple[int, ...]], ...],
        into: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Put the partition's expected outputs into ``into`` after checking each one."""
        for name, dtype, shape in expected:
            value = outputs.get(name) if type(outputs) is dict else None
            if type(value) is np.ndarray and value.dtype == dtype and value.shape == shape:
                into[name] = value
            else:
                into[name] = self._checked_output(part, outputs, name)
        return into

    def _checked_output(self, part: PartitionPlan, outputs: Any, name: str) -> np.ndarray:
        where = f"backend {part.backend!r} partition {part.index}"
        if not isinstance(outputs, Mapping) or name not in outputs:
            raise BackendError(f"{where} did not return output {name!r}")
        value = outputs[name]
        t = self.graph.tensor(name)
        if (
            not isinstance(value, np.ndarray)
            or value.dtype != numpy_dtype(t.dtype)
            or value.shape != t.shape
        ):
            shape = list(getattr(value, "shape", []))
            got = f"{getattr(value, 'dtype', type(value).__name__)}{shape}"
            raise BackendError(
                f"{where} returned {got} for {name!r}, expected {t.dtype}{list(t.shape)}"
            )
        return value


def _safe_estimate(backend: Backend, subgraph: Graph) -> float | None:
    try:
        estimate = backend.estimate(subgraph)
    except Exception:
        return None
    return None if estimate is None else float(estimate.seconds)
