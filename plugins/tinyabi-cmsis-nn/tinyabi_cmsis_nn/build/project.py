"""A graph as a C project on disk, for a library and a target core."""

from __future__ import annotations

import os
from pathlib import Path

from tinyabi.ir import Graph
from tinyabi_cmsis_nn.build import cortexm, footprint, host
from tinyabi_cmsis_nn.build.footprint import Footprint
from tinyabi_cmsis_nn.build.library import find_library
from tinyabi_cmsis_nn.codegen.banding import Optimise
from tinyabi_cmsis_nn.codegen.emit import generate, write_project

#: The core a project generated for every core (no target) is measured on.
DEFAULT_FOOTPRINT_CORE = "cortex-m4"


def write_model_project(
    graph: Graph,
    directory: Path,
    cmsis_nn_path: str | os.PathLike[str] | None = None,
    cc: str | None = None,
    target: str | None = None,
    measure: bool = False,
    optimise: Optimise = "performance",
) -> tuple[list[Path], Footprint | None]:
    """Generate ``graph`` for the library at ``cmsis_nn_path`` (default ``$CMSIS_NN_PATH``,
    else the portable copy) and write the project into ``directory``; returns the paths
    written and, with ``measure``, its footprint (:mod:`.footprint`: measured for ``target``,
    or Cortex-M4 for a project generated for every core; also written into the project). A
    project generated for the host has the host's buffer sizes, too small for a core's
    DSP/MVE code paths, so it is not measured. Buffer sizes are those of ``target``
    (``"host"``, ``"cortex-m4"``, ``"cortex-m55"``), or the largest of every core's when
    ``target`` is ``None``. ``optimise`` is the arena planner's goal
    (:data:`~tinyabi_cmsis_nn.codegen.banding.Optimise`)."""
    library = find_library(cmsis_nn_path)
    generated = generate(graph, host.size_oracle(library, cc, target), library, optimise)
    directory = Path(directory)
    written = write_project(generated, directory, library)
    if not measure or target == "host":
        return written, None
    core = target if target in cortexm.TARGETS else DEFAULT_FOOTPRINT_CORE
    result = footprint.measure(
        directory, generated, core, None if library.portable else library.root
    )
    written += [p for p in footprint.write(result, directory) if p not in written]
    return written, result
