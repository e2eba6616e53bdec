"""The two runtimes behind the backends: how to import them, name them and create interpreters.

TensorFlow Lite Micro comes from the ``tflite-micro`` package. LiteRT comes from
``ai-edge-litert``; the abandoned ``tflite-runtime`` wheel is a fallback import (it stopped at
2.14 and fails under NumPy 2). Nothing here guards against native crashes: callers create
interpreters in-process only for models a child process has already run (see
:mod:`tinyabi_tflm.isolation`).
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

TFLM = "tflm"
LITERT = "litert"

#: The values of the litert backend's ``kernels`` option and LiteRT's op resolver for each.
LITERT_KERNELS = {
    "default": "AUTO",  # builtin kernels plus the default XNNPACK delegate
    "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",  # optimized builtin kernels, no XNNPACK
    "reference": "BUILTIN_REF",  # TFLite's reference kernels
}


class RuntimeMissing(ImportError):
    """A runtime's Python package is not installed (the message says which to install)."""


@functools.cache
def tflm_module() -> Any:
    """TFLM's Python ``runtime`` module."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise RuntimeMissing(
            f"TensorFlow Lite Micro is not installed ({exc}); pip install tflite-micro"
        ) from None
    return runtime


@functools.cache
def litert_module() -> Any:
    """LiteRT's ``interpreter`` module (``ai_edge_litert``, else ``tflite_runtime``)."""
    try:
        from ai_edge_litert import interpreter
    except ImportError as first:
        try:
            from tflite_runtime import interpreter  # type: ignore[no-redef]
        except ImportError:
            raise RuntimeMissing(
                f"LiteRT is not installed ({first}); pip install ai-edge-litert"
            ) from None
    return interpreter


@functools.cache
def runtime_version(runtime: str) -> str:
    """The installed version of ``runtime``'s package (part of every cache key)."""
    packages = ["tflite-micro"] if runtime == TFLM else ["ai-edge-litert", "tflite-runtime"]
    for package in packages:
        try:
            return f"{package} {importlib.metadata.version(package)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def runtime_title(runtime: str) -> str:
    """The runtime's name for messages."""
    return "TensorFlow Lite Micro" if runtime == TFLM else "LiteRT"


def tflm_interpreter(model: bytes, arena_size: int) -> Any:
    """A TFLM interpreter for ``model`` with an arena of ``arena_size`` bytes."""
    return tflm_module().Interpreter.from_bytes(model, arena_size=arena_size)


def litert_interpreter(model: bytes, kernels: str = "default", threads: int | None = None) -> Any:
    """A LiteRT interpreter for ``model`` with its tensors allocated.

    ``kernels`` is a key of :data:`LITERT_KERNELS`; ``threads`` LiteRT's thread count
    (``None``: LiteRT's default).
    """
    module = litert_module()
    params: dict[str, Any] = {"model_content": model}
    resolver = getattr(module, "OpResolverType", None)
    if kernels != "default":
        if resolver is None:
            raise RuntimeMissing(f"this LiteRT has no op resolver choice (kernels={kernels!r})")
        params["experimental_op_resolver_type"] = getattr(resolver, LITERT_KERNELS[kernels])
    if threads is not None:
        params["num_threads"] = threads
    interpreter = module.Interpreter(**params)
    interpreter.allocate_tensors()
    return interpreter
