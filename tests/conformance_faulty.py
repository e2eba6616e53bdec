"""A backend that misbehaves on one case, to prove the conformance suite survives it.

``FaultyBackend`` claims RELU and runs it with the reference kernels, except on inputs of the
shape its ``victim`` option names (``"13"`` is the shape ``[13]``), where it does what its
``fault`` option says: ``segfault`` (reads address 0, as a broken C kernel would), ``abort``
(the process dies with SIGABRT), ``hang`` (loops forever), ``memory`` (allocates until it runs
out) or ``raise``.
Module-level so worker processes can build it.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import Field

from tinyabi.backends.base import Backend, BackendOptions, CompiledPartition, NodeCheck, Verdict
from tinyabi.backends.reference import ReferencePartition
from tinyabi.ir.graph import Graph, Node


class FaultyOptions(BackendOptions):
    """What goes wrong, and on which input shape."""

    fault: Literal["segfault", "abort", "hang", "memory", "raise"] = Field(
        "abort", description="the fault"
    )
    victim: str = Field("13", description="input shape (extents joined by x) that triggers it")


class _FaultyPartition(CompiledPartition):
    def __init__(self, graph: Graph, options: FaultyOptions) -> None:
        self.inner = ReferencePartition(graph)
        self.options = options

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        shape = "x".join(str(d) for d in next(iter(inputs.values())).shape)
        if shape == self.options.victim:
            if self.options.fault == "segfault":
                faulthandler.disable()  # let the signal kill the process as it would in C
                ctypes.string_at(0)
            if self.options.fault == "abort":
                os.abort()
            if self.options.fault == "hang":
                while True:
                    pass
            if self.options.fault == "memory":
                hoard = []
                while True:
                    hoard.append(bytearray(64 * 2**20))
            raise RuntimeError("kernel failed on the victim shape")
        return self.inner.run(inputs)


class FaultyBackend(Backend):
    """Claims RELU; misbehaves on one input shape (see the module)."""

    name = "toy-faulty"
    Options = FaultyOptions

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        return Verdict.yes() if node.op == "RELU" else Verdict.no("only RELU")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        assert isinstance(self.options, FaultyOptions)
        return _FaultyPartition(subgraph, self.options)
