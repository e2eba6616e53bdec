"""The unified run API: a :class:`Session` runs a model on a preference-ordered list of backends.

Creating a session validates the backends' options, plans
(:func:`~tinyabi.dispatch.planner.make_plan`: every node is assigned to a backend, by first
claim or lowest estimated cost, and nodes are grouped into convex partitions), compiles each
partition once and plans one arena for all activation tensors. :meth:`Session.run` then runs the
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

from tinyabi.backends.base import Backend, CompiledPartition, LayerCost
from tinyabi.backends.registry import BackendRegistry, default_registry
from tinyabi.dispatch.memory import plan_memory
from tinyabi.dispatch.plan import Fallback, MemoryPlan, PartitionPlan, Plan
from tinyabi.dispatch.planner import execution_graph, make_plan, partition_graphs
from tinyabi.errors import (
    BackendError,
    FallbackWarning,
    InputError,
    TinyABIError,
    UnsupportedOperatorError,
)
from tinyabi.ir.graph import Graph, numpy_dtype
from tinyabi.profiling import PartitionTiming, Profile, known_sum, layer_timings

__all__ = ["BackendSpec", "Feeds", "ModelLike", "PartitionTiming", "Profile", "Session", "as_graph"]

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


class Session:
    """Runs one model on backends given in order of preference.

    ``backends`` lists backend names, or ``(name, options)`` pairs; the first backend that
    supports a node takes it. Nodes no listed backend supports go to ``fallback`` (a backend
    name, ``"reference"`` by default); ``fallback="error"`` makes them an error instead.
    ``mode="cost"`` lets backends that give estimates compete on estimated time. With
    ``strict=True`` a backend that fails to compile is an error; otherwise the session plans
    again without that backend for the partition's nodes, records the event in
    ``plan.fallbacks`` and warns with a :class:`~tinyabi.errors.FallbackWarning`. Backend
    options are validated first: bad ones raise :class:`~tinyabi.errors.OptionsError`.
    With ``verify=True`` a backend (other than ``reference``) takes only nodes whose operator
    signature its cached conformance results prove (:mod:`tinyabi.conformance.verified`);
    the plan gives the others' reason as "not verified by conformance".
    """

    def __init__(
        self,
        model: ModelLike,
        backends: Sequence[BackendSpec] = ("reference",),
        fallback: str = "reference",
        mode: Literal["first-claim", "cost"] = "first-claim",
        strict: bool = False,
        registry: BackendRegistry | None = None,
        verify: bool = False,
    ) -> None:
        graph = as_graph(model)
        self.registry = registry or default_registry()
        self.backends = self._create_backends(backends, fallback)
        self.fallback = fallback
        self.mode = mode
        self.strict = strict
        #: The model's graph, as given (the plan says in which order its nodes run).
        self.graph = graph
        self.verify = verify
        self.plan, self._compiled = self._plan_and_compile()
        # What run() checks, worked out once: (name, dtype, shape) of every graph input, and
        # per partition its compiled form, inputs and expected outputs.
        self._feed_types = [
            (n, numpy_dtype(graph.tensor(n).dtype), graph.tensor(n).shape) for n in graph.inputs
        ]
        self._output_types = [
            (n, numpy_dtype(graph.tensor(n).dtype), graph.tensor(n).shape) for n in graph.outputs
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

    def _unverified(self) -> dict[str, dict[str, str]]:
        """Per node, the backends whose cached conformance results do not prove its operator
        signature, with the reason."""
        from tinyabi.conformance.verified import verified_signatures
        from tinyabi.ir.validate import check_node

        excluded: dict[str, dict[str, str]] = {}
        proven = {
            b.name: verified_signatures(b.name, b.version, b.spec_version)
            for b in self.backends
            if b.name != "reference"
        }
        for node in self.graph.nodes:
            signature = check_node(node, self.graph).signature
            for name, pairs in proven.items():
                if (node.op, signature) not in pairs:
                    excluded.setdefault(node.name, {})[name] = (
                        f"not verified by conformance: no passing cached result for "
                        f"{node.op} {signature} (run tinyabi conformance --backend {name})"
                    )
        return excluded

    def _plan_and_compile(self) -> tuple[Plan, list[CompiledPartition]]:
        """Plan, compile every partition, and plan again without a backend for the nodes of a
        partition it failed to compile (unless strict), until every partition compiles."""
        excluded = self._unverified() if self.verify else {}
        fallbacks: list[Fallback] = []
        while True:
            plan = make_plan(
                self.graph, self.backends, fallback=self.fallback, mode=self.mode, excluded=excluded
            )
            plan.fallbacks = list(fallbacks)
            if fallbacks:
                self._warn_fallback(fallbacks[-1], plan)
            if plan.unassigned:
                raise UnsupportedOperatorError(self._unassigned_message(plan), plan=plan)
            compiled: list[CompiledPartition] = []
            subgraphs = partition_graphs(self.graph, plan)
            for part, subgraph in zip(plan.partitions, subgraphs):
                backend = self._backend(part.backend)
                try:
                    result = backend.compile(subgraph)
                    if not isinstance(result, CompiledPartition):
                        raise TypeError(f"compile returned {result!r}, not a CompiledPartition")
                except Exception as exc:
                    error = " ".join(f"{type(exc).__name__}: {exc}".split())
                    if self.strict or part.backend == self.backends[-1].name == self.fallback:
                        # Keep the error's kind (a GraphError stays a GraphError) with context.
                        kind = type(exc) if isinstance(exc, TinyABIError) else BackendError
                        raise kind(
                            f"backend {part.backend!r} failed to compile partition "
                            f"{part.index} ({_node_list(part.nodes)}): {error}"
                        ) from None
                    for name in part.nodes:
                        excluded.setdefault(name, {})[part.backend] = (
                            f"failed to compile it: {error}"
                        )
                    fallbacks.append(
                        Fallback(
                            backend=part.backend,
                            partition=part.index,
                            nodes=part.nodes,
                            error=error,
                            taken_by=[],
                        )
                    )
                    break
                compiled.append(result)
            else:
                scratch = max((c.memory.scratch for c in compiled), default=0)
                persistent = sum(c.memory.persistent for c in compiled)
                for part, c in zip(plan.partitions, compiled):
                    part.scratch_bytes, part.persistent_bytes = (
                        c.memory.scratch,
                        c.memory.persistent,
                    )
                plan.memory = plan_memory(
                    execution_graph(self.graph, plan),
                    scratch_bytes=scratch,
                    persistent_bytes=persistent,
                )
                return plan, compiled

    @staticmethod
    def _warn_fallback(fallback: Fallback, plan: Plan) -> None:
        """Fill in who took the nodes of the failed partition, and warn (pointing at the code
        that created the session)."""
        taken = {n.node: n.backend for n in plan.nodes}
        fallback.taken_by = list(dict.fromkeys(taken[n] for n in fallback.nodes if taken[n]))
        # Session() -> _plan_and_compile -> _warn_fallback: the user's line is 4 frames up.
        warnings.warn(str(fallback), FallbackWarning, stacklevel=4)

    def _unassigned_message(self, plan: Plan) -> str:
        unassigned = plan.unassigned
        details = "; ".join(
            f"node {n.node!r} ({n.op}): "
            + (", ".join(f"{d.backend} declined ({d.reason})" for d in n.declined) or "no backend")
            for n in unassigned
        )
        what = (
            "fallback is 'error' and no listed backend supports"
            if self.fallback == "error"
            else "no backend can run"
        )
        ops = ", ".join(sorted({n.op for n in unassigned}))
        return f"{what} {len(unassigned)} node(s) ({ops}): {details}"

    def _backend(self, name: str) -> Backend:
        return next(b for b in self.backends if b.name == name)

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
    def fallbacks(self) -> list[Fallback]:
        """The partitions a backend failed to compile and who runs their nodes instead."""
        return list(self.plan.fallbacks)

    @property
    def compiled(self) -> list[CompiledPartition]:
        """The compiled partitions, in the order of ``plan.partitions``."""
        return list(self._compiled)

    def run(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run the model; returns the outputs by name.

        Safe to call from several threads at once: each call keeps its own tensors, and each
        compiled partition serializes what its runtime cannot run concurrently."""
        if not self._feeds_ok(feeds):
            feeds = self.check_feeds(feeds)  # raises with a message saying what is wrong
        return self._run(feeds, None)  # type: ignore[arg-type]

    def run_batch(self, feeds: Feeds, chunk: int = 256) -> dict[str, np.ndarray]:
        """Run N samples: every input holds them along a new leading axis (shape
        ``(N, *shape)``); returns every output likewise, byte-identical with N calls of
        :meth:`run`.

        Each partition gets up to ``chunk`` samples per call of its
        :meth:`~tinyabi.backends.base.CompiledPartition.run_batch`: the reference backend
        computes them together, other backends one by one unless they batch too."""
        if chunk < 1:
            raise InputError(f"chunk must be at least 1, got {chunk}")
        named = self._check_batch(feeds)
        count = len(next(iter(named.values()))) if named else 1
        results = {
            name: np.empty((count, *shape), dtype) for name, dtype, shape in self._output_types
        }
        for start in range(0, count, chunk):
            size = min(chunk, count - start)
            part = {name: value[start : start + size] for name, value in named.items()}
            for name, value in self._run_chunk(part, size).items():
                results[name][start : start + size] = value
        return results

    def _check_batch(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """The batched feeds by input name, after checking names, dtypes, shapes and that they
        hold the same number of samples."""
        named = (
            dict(feeds)
            if isinstance(feeds, Mapping)
            else dict(zip(self.graph.inputs, feeds))
            if len(feeds) == len(self.graph.inputs)
            else None
        )
        if named is None or set(named) != set(self.graph.inputs):
            given = list(feeds) if isinstance(feeds, Mapping) else f"{len(feeds)} arrays"
            raise InputError(
                f"inputs do not match the model: got {given}, the model's inputs are "
                f"{self.graph.inputs}"
            )
        counts = set()
        for name, dtype, shape in self._feed_types:
            value = named[name]
            if not isinstance(value, np.ndarray):
                raise InputError(
                    f"input {name!r}: expected a numpy array, got {type(value).__name__}"
                )
            if value.dtype != dtype or value.ndim != len(shape) + 1 or value.shape[1:] != shape:
                raise InputError(
                    f"input {name!r}: expected {dtype}[N, {', '.join(map(str, shape))}] "
                    f"(N samples), got {value.dtype}{list(value.shape)}"
                )
            counts.add(len(value))
        if len(counts) > 1:
            raise InputError(f"the inputs hold different numbers of samples: {sorted(counts)}")
        return {name: named[name] for name in self.graph.inputs}

    def _run_chunk(self, feeds: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        values: dict[str, np.ndarray] = dict(feeds)
        for part, compiled, input_names, expected in self._steps:
            inputs = {name: values[name] for name in input_names}
            try:
                outputs = compiled.run_batch(inputs, count)
            except Exception as exc:
                raise BackendError(
                    f"backend {part.backend!r} failed running partition {part.index} on a "
                    f"batch of {count} (nodes {part.nodes}): {type(exc).__name__}: {exc}"
                ) from None
            for name, dtype, shape in expected:
                value = outputs.get(name) if isinstance(outputs, Mapping) else None
                if (
                    not isinstance(value, np.ndarray)
                    or value.dtype != dtype
                    or value.shape != (count, *shape)
                ):
                    got = f"{getattr(value, 'dtype', type(value).__name__)}"
                    got += f"{list(getattr(value, 'shape', []))}"
                    raise BackendError(
                        f"backend {part.backend!r} partition {part.index} returned {got} for "
                        f"{name!r} on a batch of {count}, expected {dtype}"
                        f"{[count, *shape]}"
                    )
                values[name] = value
        result = {}
        for name in self.graph.outputs:
            if name not in values:  # a constant output
                data = np.asarray(self.graph.tensor(name).data)
                values[name] = np.broadcast_to(data, (count, *data.shape))
            result[name] = values[name]
        return result

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
        """Run ``runs`` times and report each partition's median time and, where its backend
        can tell (:meth:`CompiledPartition.profile
        <tinyabi.backends.base.CompiledPartition.profile>`), each layer's median seconds,
        instructions and cycles (see :mod:`tinyabi.profiling`)."""
        if runs < 1:
            raise InputError(f"runs must be at least 1, got {runs}")
        checked = self.check_feeds(feeds)
        parts = self.plan.partitions
        times: list[list[float]] = [[] for _ in parts]
        layers: list[list[list[LayerCost]]] = [[] for _ in parts]
        totals = []
        for _ in range(runs):
            start = time.perf_counter()
            self._run(checked, (times, layers))
            totals.append(time.perf_counter() - start)
        ops = {node.name: node.op for node in self.graph.nodes}
        timings = []
        for p, t, costs in zip(parts, times, layers):
            rows = layer_timings(costs, ops)
            timings.append(
                PartitionTiming(
                    index=p.index,
                    backend=p.backend,
                    nodes=len(p.nodes),
                    median_seconds=statistics.median(t),
                    instructions=known_sum([r.instructions for r in rows], every=True),
                    cycles=known_sum([r.cycles for r in rows], every=True),
                    layers=rows,
                )
            )
        return Profile(
            runs=runs,
            partitions=timings,
            median_total_seconds=statistics.median(totals),
            instructions=known_sum([t.instructions for t in timings], every=False),
            cycles=known_sum([t.cycles for t in timings], every=False),
        )

    def _run(
        self, feeds: dict[str, np.ndarray], profile: _Recorder | None
    ) -> dict[str, np.ndarray]:
        if self._whole is not None and profile is None:
            part, compiled, _, expected = self._whole
            return self._collect(part, self._call(part, compiled, feeds), expected, {})
        values: dict[str, np.ndarray] = dict(feeds)
        for part, compiled, input_names, expected in self._steps:
            inputs = {name: values[name] for name in input_names}
            if profile is None:
                outputs = self._call(part, compiled, inputs)
            else:
                outputs = self._profile_call(part, compiled, inputs, profile)
            self._collect(part, outputs, expected, values)
        result = {}
        for name in self.graph.outputs:
            if name not in values:
                data = self.graph.tensor(name).data
                values[name] = np.array(data)
            result[name] = values[name]
        return result

    def _profile_call(
        self, part: PartitionPlan, compiled: CompiledPartition, inputs: Any, record: _Recorder
    ) -> Any:
        """Run a partition through its ``profile`` (its ``run`` when it has none), record its
        time and its layers' costs, and return its outputs."""
        start = time.perf_counter()
        try:
            profiled = compiled.profile(inputs)
        except Exception as exc:
            raise BackendError(
                f"backend {part.backend!r} failed profiling partition {part.index} "
                f"(nodes {part.nodes}): {type(exc).__name__}: {exc}"
            ) from None
        if profiled is None:
            outputs = self._call(part, compiled, inputs)
            record[0][part.index].append(time.perf_counter() - start)
            return outputs
        record[0][part.index].append(time.perf_counter() - start)
        outputs, costs = profiled
        names = set(part.nodes)
        for cost in costs:
            if not isinstance(cost, LayerCost) or cost.node not in names:
                raise BackendError(
                    f"backend {part.backend!r} profiled partition {part.index} with {cost!r}, "
                    f"not a LayerCost of one of its nodes ({_node_list(part.nodes)})"
                )
        record[1][part.index].append(list(costs))
        return outputs

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

    def reset(self) -> None:
        """Reset the model's state (variable tensors) on every partition, as TFLM's
        ``reset()`` does; the next :meth:`run` starts from the initial state."""
        for compiled in self._compiled:
            compiled.reset()


#: Where :meth:`Session.profile` collects, per partition, its times and its layers' costs.
_Recorder = tuple[list[list[float]], list[list[list[LayerCost]]]]


def _node_list(nodes: Sequence[str], shown: int = 3) -> str:
    """``"10 nodes: a, b, c, …"`` for messages that must stay one readable line."""
    head = ", ".join(nodes[:shown]) + (", …" if len(nodes) > shown else "")
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}: {head}"
