"""The ``cmsis-nn`` backend: int8 and 16x8 partitions as generated C code calling CMSIS-NN.

Options (``Session(model, backends=[("cmsis-nn", {...})])``) are declared by
:class:`CmsisNNOptions`: ``target`` (the host, or a Cortex-M core whose firmware runs under
QEMU, :mod:`tinyabi_cmsis_nn.build.cortexm`), ``cc``, ``cmsis_nn_path`` and ``optimise`` (what
the arena planner trades: instructions or bytes, :mod:`tinyabi_cmsis_nn.codegen.banding`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from tinyabi.backends import Backend, BackendOptions, CompiledPartition, Estimate, Verdict
from tinyabi.errors import UnsupportedOperatorError
from tinyabi.ir import Graph, Node, NodeCheck
from tinyabi_cmsis_nn import __version__, constraints, cost
from tinyabi_cmsis_nn.build import footprint, host
from tinyabi_cmsis_nn.build.library import ENV_CMSIS_NN_PATH
from tinyabi_cmsis_nn.build.project import write_model_project
from tinyabi_cmsis_nn.codegen.banding import Optimise


class CmsisNNOptions(BackendOptions):
    """The ``cmsis-nn`` backend's options."""

    target: Literal["host", "cortex-m4", "cortex-m55"] = Field(
        "host",
        description="where partitions run: host (a shared library run in-process) or a "
        "Cortex-M core (firmware run under QEMU)",
    )
    cc: str | None = Field(
        None, description="the host C compiler (default: $TINYABI_HOST_CC, else gcc)"
    )
    cmsis_nn_path: str | None = Field(
        None,
        description="a CMSIS-NN source tree to build with instead of the portable copy "
        "(default: $CMSIS_NN_PATH, else the portable copy)",
    )
    optimise: Optimise = Field(
        "performance",
        description="what the arena planner optimises: performance (convolutions in coarse "
        "row bands only, a few percent more instructions at most) or size (also finer bands, "
        "more calls, where they make the arena smaller, whatever the instructions)",
    )


class CmsisNNBackend(Backend):
    """CMSIS-NN's int8 and s16 kernels through generated C code, run on the host as a shared
    library or under QEMU."""

    name = "cmsis-nn"
    version = __version__
    spec_version = "0.1"
    profile = "int8"
    Options: ClassVar[type[BackendOptions]] = CmsisNNOptions
    options: CmsisNNOptions

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        return constraints.supports(node, graph, check)

    def compile(self, subgraph: Graph) -> CompiledPartition:
        target, path = self.options.target, self.options.cmsis_nn_path
        if target != "host":
            from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition

            return CortexMPartition(
                subgraph,
                target,
                partial(self.generate_code, target=target, measure=False),
                cmsis_nn_path=path,
            )
        return host.compile_host(subgraph, path, self.options.cc, self.options.optimise)

    def generate_code(
        self, graph: Graph, directory: Path, target: str | None = None, measure: bool = True
    ) -> Sequence[Path]:
        """Write the C project of ``graph`` (model files, a Makefile compiling the library
        sources the model needs, README and, unless a real CMSIS-NN tree was configured,
        those sources of the portable library in ``cmsis_nn/``). Buffer sizes are those of
        ``target`` (default: the ``target`` option when it was given, else the largest of every
        core's). The arena is planned for the ``optimise`` option. With ``measure``, the
        project's flash and RAM are measured with the Arm toolchain
        (:mod:`~tinyabi_cmsis_nn.build.footprint`; said not measured without it) and written
        into ``footprint.json`` and the README."""
        refused = [(n, v) for n in graph.nodes if not (v := constraints.supports(n, graph))]
        if refused:
            details = "; ".join(f"{n.describe()}: {v.reason}" for n, v in refused[:5])
            raise UnsupportedOperatorError(
                f"backend 'cmsis-nn' cannot generate code for {len(refused)} node(s): {details}"
            )
        if target is None and "target" in self.options.model_fields_set:
            target = self.options.target
        written, _ = write_model_project(
            graph,
            Path(directory),
            self.options.cmsis_nn_path,
            self.options.cc,
            target,
            measure=measure,
            optimise=self.options.optimise,
        )
        return written

    def codegen_summary(self, directory: Path) -> str | None:
        """What ``tinyabi codegen`` prints after :meth:`generate_code`: the footprint table
        of the project in ``directory``."""
        measured = footprint.load(directory)
        return None if measured is None else "Footprint\n\n" + footprint.table(measured)

    def estimate(self, subgraph: Graph) -> Estimate | None:
        """Seconds on the target core from each layer's estimated instructions, fitted per
        core and library to per-layer counts measured under QEMU
        (:mod:`tinyabi_cmsis_nn.cost`)."""
        tree = self.options.cmsis_nn_path or os.environ.get(ENV_CMSIS_NN_PATH)
        library = "arm" if tree else "portable"  # another tree is estimated as Arm's
        return Estimate(seconds=cost.estimate_seconds(subgraph, self.options.target, library))

    def claims(self) -> Mapping[str, Sequence[str]]:
        return {op: list(constraints.SIGNATURES[op]) for op in sorted(constraints.CHECKS)}
