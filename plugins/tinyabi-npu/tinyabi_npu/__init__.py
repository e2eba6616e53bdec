"""tinyabi-npu: a parameterized int8 NPU as a tinyabi backend plugin.

The ``npu`` backend (:class:`~tinyabi_npu.backend.NpuBackend`) takes the int8 nodes the
accelerator runs (:mod:`tinyabi_npu.constraints`), compiles each partition into a versioned
binary command stream (:mod:`tinyabi_npu.compiler`, format in :mod:`tinyabi_npu.stream`) and
executes that stream in a simulator (:mod:`tinyabi_npu.simulator`) that is byte-identical with
TensorFlow Lite Micro and counts cycles from the accelerator's configuration
(:mod:`tinyabi_npu.config`, :mod:`tinyabi_npu.cycles`).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
