"""Dispatch: assigning nodes to backends, partitions, the memory plan and its views."""

from tinyabi.dispatch.memory import align, plan_memory
from tinyabi.dispatch.plan import Fallback, MemoryPlan, Plan
from tinyabi.dispatch.planner import make_plan, partition_graphs

__all__ = [
    "Fallback",
    "MemoryPlan",
    "Plan",
    "align",
    "make_plan",
    "partition_graphs",
    "plan_memory",
]
