"""The ``cmsis-nn`` backend: int8 partitions as generated C code calling CMSIS-NN.

Options (``Session(model, backends=[("cmsis-nn", {...})])``):

* ``cmsis_nn_path``: a real CMSIS-NN source tree to build with instead of the portable copy
  (default: the ``CMSIS_NN_PATH`` environment variable, else the portable copy);
* ``cc``: the host C compiler (default ``$TINYABI_HOST_CC`` or ``gcc``);
* ``target``: ``"host"`` (default: a shared library run in-process) or a Cortex-M core
  (``"cortex-m4"``, ``"cortex-m55"``): the partition then runs as firmware under QEMU
  (:mod:`tinyabi_cmsis_nn.build.cortexm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tinyabi.backends.base import Backend, CompiledPartition, Verdict
from tinyabi.errors import UnsupportedOperatorError
from tinyabi.ir.graph import Graph, Node
from tinyabi_cmsis_nn import __version__, constraints
from tinyabi_cmsis_nn.build import host
from tinyabi_cmsis_nn.build.project import write_model_project


class CmsisNNBackend(Backend):
    """CMSIS-NN's int8 kernels through generated C code, run on the host as a shared library."""

    name = "cmsis-nn"
    version = __version__
    spec_version = "0.1"
    profile = "int8"

    def supports(self, node: Node, graph: Graph) -> Verdict:
        return constraints.supports(node, graph)

    def compile(self, subgraph: Graph, options: Mapping[str, Any]) -> CompiledPartition:
        merged = {**self.options, **options}
        target = merged.get("target", "host")
        if target != "host":
            from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition

            return CortexMPartition(
                subgraph,
                str(target),
                partial(self.generate_code, target=str(target)),
                cmsis_nn_path=merged.get("cmsis_nn_path"),
            )
        return host.compile_host(subgraph, merged.get("cmsis_nn_path"), merged.get("cc"))

    def generate_code(
        self, graph: Graph, directory: Path, target: str | None = None
    ) -> Sequence[Path]:
        """Write the C project of ``graph`` (model files, a Makefile compiling the library
        sources the model needs, README and, unless a real CMSIS-NN tree was configured,
        those sources of the portable library in ``cmsis_nn/``). Buffer sizes are those of
        ``target`` (default: the ``target`` option, else the largest of every core's)."""
        refused = [(n, v) for n in graph.nodes if not (v := self.supports(n, graph))]
        if refused:
            details = "; ".join(f"{n.describe()}: {v.reason}" for n, v in refused[:5])
            raise UnsupportedOperatorError(
                f"backend 'cmsis-nn' cannot generate code for {len(refused)} node(s): {details}"
            )
        return write_model_project(
            graph,
            Path(directory),
            self.options.get("cmsis_nn_path"),
            self.options.get("cc"),
            target or self.options.get("target"),
        )

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {op: ["int8"] for op in sorted(constraints.CHECKS)}
