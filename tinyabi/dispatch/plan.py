"""The plan: which backend runs each node, in which partition, and why (pydantic models).

``print(plan)`` gives a compact table; :meth:`Plan.to_json` a stable JSON form.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Decline",
    "Fallback",
    "MemoryPlan",
    "NodePlan",
    "PartitionPlan",
    "Plan",
    "TensorPlacement",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Decline(_Model):
    """A backend that did not take a node, and why."""

    backend: str
    reason: str
    hint: str = ""


class NodePlan(_Model):
    """Where one node runs (``backend`` ``""`` and ``partition`` -1: no backend takes it)."""

    node: str
    op: str
    backend: str
    partition: int
    pattern: str | None = Field(None, description="the backend pattern that took this node")
    declined: list[Decline] = []
    first_claim: str | None = Field(
        None, description="in cost mode, the backend first-claim would have chosen, if different"
    )


class PartitionPlan(_Model):
    """A maximal, connected, convex group of nodes run by one backend."""

    index: int
    backend: str
    nodes: list[str]
    inputs: list[str]
    outputs: list[str]
    estimated_seconds: float | None = None
    persistent_bytes: int = 0
    scratch_bytes: int = 0


class Fallback(_Model):
    """A backend failed to compile a partition, and other backends took its nodes."""

    backend: str = Field(description="the backend that failed to compile the partition")
    partition: int = Field(description="the partition's index in the plan that failed")
    nodes: list[str] = Field(description="the partition's nodes")
    error: str = Field(description="the compile error, on one line")
    taken_by: list[str] = Field(description="the backends that run those nodes instead")

    def __str__(self) -> str:
        return (
            f"{self.backend} failed to compile partition {self.partition} "
            f"({len(self.nodes)} nodes): {self.error}; {', '.join(self.taken_by) or 'nothing'} "
            "runs them"
        )


class TensorPlacement(_Model):
    """Where one activation tensor lives in the arena, and when."""

    tensor: str
    offset: int
    size: int
    first: int = Field(description="index of the first step that uses it (-1: graph input)")
    last: int = Field(description="index of the last step that uses it")
    shares_with: str | None = Field(
        None,
        description="the tensor whose bytes this one reuses in place (RESHAPE, SQUEEZE)",
    )


class MemoryPlan(_Model):
    """One arena for the whole partitioned model."""

    arena_bytes: int = Field(description="tensor arena size, including alignment")
    lower_bound_bytes: int = Field(description="largest sum of simultaneously live tensors")
    scratch_bytes: int = Field(description="largest scratch need of any partition")
    persistent_bytes: int = Field(
        description="sum of the partitions' persistent needs and the persistent tensors' sizes"
    )
    alignment: int
    tensors: list[TensorPlacement]
    persistent_tensors: list[str] = Field(
        [],
        description="state (variable) and scratch tensors: they live for the whole session, "
        "outside the arena",
    )

    @property
    def total_bytes(self) -> int:
        """Arena plus scratch plus persistent memory."""
        return self.arena_bytes + self.scratch_bytes + self.persistent_bytes


class Plan(_Model):
    """The complete execution plan of a session."""

    model: str
    backends: list[str]
    fallback: str
    mode: str
    partitions: list[PartitionPlan]
    nodes: list[NodePlan]
    memory: MemoryPlan | None = None
    notes: list[str] = []
    #: Compile failures of earlier plans, whose nodes other backends took.
    fallbacks: list[Fallback] = []

    @property
    def unassigned(self) -> list[NodePlan]:
        """The nodes no backend takes (a session cannot run a plan that has any)."""
        return [n for n in self.nodes if not n.backend]

    def execution_order(self) -> list[str]:
        """The node names in the order they run: partition by partition."""
        return [name for part in self.partitions for name in part.nodes]

    def to_json(self) -> str:
        """A stable JSON form (keys in declaration order, two-space indent)."""
        return self.model_dump_json(indent=2)

    def declines(self) -> list[str]:
        """One line per backend that declined nodes another backend then ran: how many, which
        operators, who ran them, and the first reason (``tinyabi run`` prints these). Compile
        failures are left to :attr:`fallbacks`, which records them."""
        failed = {(f.backend, node) for f in self.fallbacks for node in f.nodes}
        grouped: dict[tuple[str, str], list[NodePlan]] = {}
        reasons: dict[tuple[str, str], list[str]] = {}
        for n in self.nodes:
            for d in n.declined:
                if (d.backend, n.node) in failed:
                    continue
                key = (d.backend, n.backend or "no backend")
                grouped.setdefault(key, []).append(n)
                if d.reason not in reasons.setdefault(key, []):
                    reasons[key].append(d.reason)
        lines = []
        for (declined_by, ran_on), nodes in grouped.items():
            ops = ", ".join(sorted({n.op for n in nodes}))
            first, more = reasons[(declined_by, ran_on)][0], len(reasons[(declined_by, ran_on)]) - 1
            lines.append(
                f"{declined_by} declined {len(nodes)} node(s) ({ops}), run by {ran_on}: {first}"
                + (f" (+{more} other reason(s), see `tinyabi plan`)" if more else "")
            )
        return lines

    def backend_of(self, node: str) -> str:
        """The backend that runs ``node``."""
        return next(n.backend for n in self.nodes if n.node == node)

    def __str__(self) -> str:
        lines = [
            f"plan for {self.model!r}: backends {self.backends}, fallback {self.fallback!r}, "
            f"mode {self.mode!r}; {len(self.partitions)} partitions, {len(self.nodes)} nodes"
        ]
        if self.memory is not None:
            m = self.memory
            lines.append(
                f"arena {m.arena_bytes:,} B (lower bound {m.lower_bound_bytes:,} B), "
                f"scratch {m.scratch_bytes:,} B, persistent {m.persistent_bytes:,} B"
            )
        width = max([len(n.node) for n in self.nodes] + [4])
        lines.append(f"{'part':>4}  {'backend':<12} {'node':<{width}}  {'op':<20} declined by")
        for n in self.nodes:
            declined = "; ".join(f"{d.backend}: {d.reason}" for d in n.declined)
            if len(declined) > 100:
                declined = declined[:99] + "…"
            part = str(n.partition) if n.backend else "-"
            backend = n.backend or "(none)"
            lines.append(f"{part:>4}  {backend:<12} {n.node:<{width}}  {n.op:<20} {declined}")
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"fallback: {fallback}" for fallback in self.fallbacks]
        return "\n".join(lines)
