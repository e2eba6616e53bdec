"""tinyabi-cmsis-nn: int8 models as generated C code that calls CMSIS-NN.

The ``cmsis-nn`` backend (:class:`~tinyabi_cmsis_nn.backend.CmsisNNBackend`) takes the int8
nodes CMSIS-NN has kernels for (:mod:`tinyabi_cmsis_nn.constraints`), generates one C project
per partition (:mod:`tinyabi_cmsis_nn.codegen`) and runs it on the host as a shared library
(:mod:`tinyabi_cmsis_nn.build.host`), or on Cortex-M cores under QEMU
(:mod:`tinyabi_cmsis_nn.build.cortexm`). ``tinyabi codegen MODEL --backend cmsis-nn -o DIR``
writes the project for a firmware build.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
