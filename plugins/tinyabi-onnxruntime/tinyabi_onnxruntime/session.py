"""One onnxruntime ``InferenceSession`` per partition, run from any number of threads.

onnxruntime documents ``InferenceSession.run`` as safe to call from several threads at once on
one session (each call gets its own execution frame), so a partition takes no lock: concurrent
runs of one Session run concurrently. Each run returns new arrays that belong to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tinyabi.backends import CompiledPartition, MemoryNeeds
from tinyabi.errors import BackendError
from tinyabi.ir import Graph
from tinyabi_onnxruntime.export import Exported

__all__ = ["OnnxRuntimePartition", "create_session", "runtime_version"]


def _runtime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(
            f"onnxruntime is not installed ({exc}); pip install onnxruntime"
        ) from None
    return onnxruntime


def runtime_version() -> str:
    """The installed onnxruntime's version."""
    return str(_runtime().__version__)


def create_session(model: bytes, threads: int | None = None) -> Any:
    """An ``InferenceSession`` of ``model`` on the CPU execution provider;
    :class:`BackendError` quoting onnxruntime when it refuses the model."""
    ort = _runtime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings would go to stderr
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors share no base class but Exception
        raise BackendError(f"onnxruntime refused the model: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class OnnxRuntimePartition(CompiledPartition):
    """A partition with its own ``InferenceSession``."""

    def __init__(self, session: Any, graph: Graph, exported: Exported) -> None:
        held = sum(t.nbytes for t in graph.tensors.values() if not t.is_constant)
        #: onnxruntime reports no arena size: this counts the partition's non-constant tensors.
        self.memory = MemoryNeeds(persistent=held)
        self.exported = exported
        self.session = session
        self._where = f"onnxruntime backend, partition {graph.name!r}"
        self._feeds = list(zip(graph.inputs, exported.inputs))
        self._fetch = list(exported.outputs)
        self._names = list(graph.outputs)
        self._run = session.run

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {onnx_name: np.asarray(inputs[name]) for name, onnx_name in self._feeds}
        try:
            results = self._run(self._fetch, feed)
        except Exception as exc:  # onnxruntime's errors share no base class but Exception
            raise BackendError(f"{self._where}: onnxruntime failed: {_first_line(exc)}") from None
        return dict(zip(self._names, results))
