"""tinyabi as an ONNX backend (``onnx.backend.base.Backend``): ONNX's own test runner
(``onnx.backend.test.BackendTest``) and any code written against ONNX's backend API run models
through :func:`load_onnx` and a :class:`tinyabi.Session`.

The adapter speaks ONNX's layout: rank-4 inputs arrive NCHW and are handed to the imported
graph NHWC, rank-4 outputs go back NCHW. :attr:`TinyABIBackend.backends` is the session's
backend list (default: the reference backend alone, so a test checks the importer's mapping to
spec operators and the reference kernels; ``onnx.*`` extension nodes then need a backend that
runs them, such as ``onnxruntime``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from tinyabi import Session
from tinyabi_onnx.api import Graph
from tinyabi_onnx.load import load_onnx

__all__ = ["TinyABIBackend", "TinyABIBackendRep", "to_nchw", "to_nhwc"]


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """A rank-4 NCHW array as NHWC (other ranks unchanged)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def to_nchw(x: np.ndarray) -> np.ndarray:
    """A rank-4 NHWC array as NCHW (other ranks unchanged)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


class TinyABIBackendRep(BackendRep):
    """A prepared model: its imported graph and the session that runs it."""

    def __init__(self, graph: Graph, session: Session) -> None:
        self.graph = graph
        self.session = session

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run once; ``inputs`` in the model's input order (a list, or one array), NCHW."""
        arrays: Sequence[Any] = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        feeds = []
        for name, value in zip(self.graph.inputs, arrays):
            t = self.graph.tensor(name)
            x = np.asarray(value)
            if len(t.shape) == 4 and x.ndim == 4:
                x = to_nhwc(x)
            feeds.append(x.astype(t.dtype, copy=False).reshape(t.shape))
        outputs = self.session.run(feeds)
        return tuple(to_nchw(outputs[name]) for name in self.graph.outputs)


class TinyABIBackend(Backend):
    """ONNX's backend API over tinyabi (CPU only)."""

    #: The session's backend list (names or ``(name, options)`` pairs), in preference order.
    backends: ClassVar[Sequence[Any]] = ("reference",)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> BackendRep:
        """Import ``model`` and compile a session; a model tinyabi cannot import or run raises
        a :class:`~tinyabi.errors.TinyABIError` naming the problem."""
        # The importer needs the shapes of what becomes an extension node; ONNX's test models
        # do not always declare them. Where inference fails, the importer names what is missing.
        with contextlib.suppress(onnx.shape_inference.InferenceError, ValueError):
            model = onnx.shape_inference.infer_shapes(model)
        graph = load_onnx(model)
        session = Session(graph, backends=list(cls.backends), fallback="error", strict=True)
        return TinyABIBackendRep(graph, session)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """Only the CPU."""
        return device == "CPU"
