"""Backends side by side: the same inputs through several backend lists (``tinyabi compare``).

Each backend list runs the model in its own :class:`~tinyabi.Session`; the first list is the
baseline the others are compared with, output by output (equal, or the largest difference in the
output's own units: LSB for integer tensors). Per layer, every tensor a node produces is made a
graph output, so the first node whose output differs from the baseline's is named, with the
difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from tinyabi.backends.registry import BackendRegistry
from tinyabi.display import short_name
from tinyabi.ir.graph import Graph

__all__ = [
    "BackendResult",
    "Comparison",
    "Divergence",
    "OutputDifference",
    "compare_backends",
    "max_difference",
    "with_every_tensor_as_output",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutputDifference(_Model):
    """One output of one backend list against the baseline's."""

    output: str
    equal: bool
    max_difference: float


class BackendResult(_Model):
    """What one backend list did: who ran the nodes, how fast, with how much memory."""

    backends: list[str]
    ran_on: list[str]
    fallbacks: list[str]
    median_seconds: float
    arena_bytes: int
    persistent_bytes: int
    outputs: list[OutputDifference]

    @property
    def agrees(self) -> bool:
        """Whether every output equals the baseline's."""
        return all(o.equal for o in self.outputs)


class Divergence(_Model):
    """The first layer whose output differs from the baseline's, for one backend list."""

    backends: list[str]
    step: int
    node: str
    op: str
    tensor: str
    max_difference: float


class Comparison(_Model):
    """The result of :func:`compare_backends`; ``str()`` gives the table the CLI prints."""

    model: str
    inputs: str
    runs: int
    results: list[BackendResult]
    per_layer: bool = False
    divergences: list[Divergence] = []

    def __str__(self) -> str:
        base = ",".join(self.results[0].backends)
        lines = [
            f"model {self.model!r}, inputs: {self.inputs}; latency is the median of "
            f"{self.runs} run(s); differences are against {base} (the first list)",
            "",
            f"{'backends':<28} {'ran on':<22} {'outputs':<22} {'latency':>12} "
            f"{'arena B':>10} {'persistent B':>13}",
        ]
        for k, r in enumerate(self.results):
            if k == 0:
                verdict = "baseline"
            elif r.agrees:
                verdict = "equal"
            else:
                worst = max(o.max_difference for o in r.outputs)
                verdict = f"differ (max {worst:g})"
            lines.append(
                f"{','.join(r.backends):<28} {','.join(r.ran_on):<22} {verdict:<22} "
                f"{r.median_seconds * 1e3:>9.3f} ms {r.arena_bytes:>10,} {r.persistent_bytes:>13,}"
            )
            lines += [f"  fallback: {f}" for f in r.fallbacks]
        if self.per_layer:
            lines.append("")
            if not self.divergences:
                lines.append("per layer: every layer's output is equal on every backend list")
            for d in self.divergences:
                lines.append(
                    f"per layer: {','.join(d.backends)} first differs at step {d.step}, node "
                    f"{short_name(d.node)!r} ({d.op}), tensor {short_name(d.tensor)!r}: "
                    f"max difference {d.max_difference:g}"
                )
        return "\n".join(lines)


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest absolute elementwise difference (in float64, so integers cannot wrap); 0.0
    for equal arrays, ``inf`` when shapes or types differ."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def with_every_tensor_as_output(graph: Graph) -> Graph:
    """The same graph with every tensor a node produces also a graph output (in node order,
    after the original outputs), so a run shows each layer's result."""
    outputs = list(graph.outputs)
    seen = set(outputs)
    for node in graph.nodes:
        for name in node.outputs:
            if name not in seen:
                seen.add(name)
                outputs.append(name)
    return Graph(graph.tensors, graph.nodes, graph.inputs, outputs, graph.name)


def compare_backends(
    graph: Graph,
    backend_lists: Sequence[Sequence[Any]],
    feeds: Mapping[str, np.ndarray],
    *,
    inputs: str,
    runs: int = 5,
    per_layer: bool = False,
    fallback: str = "reference",
    registry: BackendRegistry | None = None,
) -> Comparison:
    """Run ``graph`` on each backend list with the same ``feeds``, and compare each with the
    first list. ``inputs`` says where the feeds came from (for the report); ``runs`` is how many
    timed runs the latency median is taken over; with ``per_layer`` also find, per list, the
    first layer whose output differs from the first list's. ``registry`` defaults to the
    installed backends."""
    from tinyabi.session import Session

    sessions = [
        Session(graph, backends=list(b), fallback=fallback, registry=registry)
        for b in backend_lists
    ]
    outputs = [s.run(dict(feeds)) for s in sessions]
    results = []
    for given, session, out in zip(backend_lists, sessions, outputs):
        profile = session.profile(dict(feeds), runs=runs)
        differences = [
            OutputDifference(
                output=name,
                equal=bool(np.array_equal(value, out[name]) and value.dtype == out[name].dtype),
                max_difference=max_difference(value, out[name]),
            )
            for name, value in outputs[0].items()
        ]
        results.append(
            BackendResult(
                backends=[_label(b) for b in given],
                ran_on=sorted({n.backend for n in session.plan.nodes}),
                fallbacks=[str(f) for f in session.fallbacks],
                median_seconds=profile.median_total_seconds,
                arena_bytes=session.memory.arena_bytes,
                persistent_bytes=session.memory.persistent_bytes,
                outputs=differences,
            )
        )
    divergences = (
        _first_divergences(graph, backend_lists, feeds, fallback, registry) if per_layer else []
    )
    return Comparison(
        model=graph.name,
        inputs=inputs,
        runs=runs,
        results=results,
        per_layer=per_layer,
        divergences=divergences,
    )


def _name(backend: Any) -> str:
    return backend if isinstance(backend, str) else str(backend[0])


def _label(backend: Any) -> str:
    """A backend list entry as the command line writes it: ``name`` or ``name:key=value``."""
    if isinstance(backend, str):
        return backend
    name, options = backend
    return ":".join([str(name), *(f"{k}={v}" for k, v in dict(options).items())])


def _first_divergences(
    graph: Graph,
    backend_lists: Sequence[Sequence[Any]],
    feeds: Mapping[str, np.ndarray],
    fallback: str,
    registry: BackendRegistry | None,
) -> list[Divergence]:
    from tinyabi.session import Session

    every = with_every_tensor_as_output(graph)
    runs = [
        Session(every, backends=list(b), fallback=fallback, registry=registry).run(dict(feeds))
        for b in backend_lists
    ]
    found = []
    for backends, values in zip(backend_lists[1:], runs[1:]):
        for step, node in enumerate(every.nodes):
            differing = [
                (name, max_difference(runs[0][name], values[name]))
                for name in node.outputs
                if not np.array_equal(runs[0][name], values[name])
            ]
            if differing:
                name, diff = differing[0]
                found.append(
                    Divergence(
                        backends=[_name(b) for b in backends],
                        step=step,
                        node=node.name,
                        op=node.op,
                        tensor=name,
                        max_difference=diff,
                    )
                )
                break
    return found
