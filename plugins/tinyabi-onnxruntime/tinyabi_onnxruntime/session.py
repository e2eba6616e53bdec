"""One onnxruntime ``InferenceSession`` per partition, run from any number of threads.

onnxruntime documents ``InferenceSession.run`` as safe to call from several threads at once on
one session (each call gets its own execution frame), so a partition takes no lock: concurrent
runs of one Session run concurrently. Each run returns new arrays that belong to the caller.
"""

from __future__ import annotations

import functools
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
    # Fatal only: errors come back as exceptions, which become BackendErrors; a log line on
    # stderr would say the same thing twice.
    options.log_severity_level = 4
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
        native = getattr(session, "_sess", None)
        if native is not None and hasattr(native, "run"):
            # The native session's run: the Python wrapper's checks of the feed's names cost as
            # much as a small model's inference, and this partition always feeds exactly the
            # model's inputs.
            self._run = functools.partial(native.run, self._fetch)
        else:  # pragma: no cover - an onnxruntime without the native attribute
            self._run = functools.partial(session.run, self._fetch)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {}
        for name, onnx_name in self._feeds:
            value = inputs[name]
            feed[onnx_name] = value if type(value) is np.ndarray else np.asarray(value)
        try:
            results = self._run(feed, None)  # no run options
        except Exception as exc:  # onnxruntime's errors share no base class but Exception
            raise BackendError(f"{self._where}: onnxruntime failed: {_first_line(exc)}") from None
        return dict(zip(self._names, results))
