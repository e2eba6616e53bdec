"""A graph as a C project on disk, for a library and a target core."""

from __future__ import annotations

import os
from pathlib import Path

from tinyabi.ir import Graph
from tinyabi_cmsis_nn.build import host
from tinyabi_cmsis_nn.build.library import find_library
from tinyabi_cmsis_nn.codegen.emit import generate, write_project


def write_model_project(
    graph: Graph,
    directory: Path,
    cmsis_nn_path: str | os.PathLike[str] | None = None,
    cc: str | None = None,
    target: str | None = None,
) -> list[Path]:
    """Generate ``graph`` for the library at ``cmsis_nn_path`` (default ``$CMSIS_NN_PATH``,
    else the portable copy) and write the project into ``directory``; returns the paths
    written. Buffer sizes are those of ``target`` (``"host"``, ``"cortex-m4"``,
    ``"cortex-m55"``), or the largest of every core's when ``target`` is ``None``."""
    library = find_library(cmsis_nn_path)
    generated = generate(graph, host.size_oracle(library, cc, target), library)
    return write_project(generated, Path(directory), library)
