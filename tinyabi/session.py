"""The unified run API: a :class:`Session` runs a model on a preference-ordered list of backends."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tinyabi.errors import InputError, UnsupportedOperatorError
from tinyabi.ir.graph import Graph, numpy_dtype
from tinyabi.ir.validate import validate_graph
from tinyabi.kernels import prepare

ModelLike = Graph | str | os.PathLike[str] | bytes
Feeds = Mapping[str, np.ndarray] | Sequence[np.ndarray]


def as_graph(model: ModelLike) -> Graph:
    """A graph from a graph, a model path or model bytes."""
    if isinstance(model, Graph):
        return model
    from tinyabi.tflite.importer import load_tflite

    return load_tflite(model)


class Session:
    """Runs one model.

    ``backends`` is the backend preference order; for now only ``"reference"`` exists.
    """

    def __init__(self, model: ModelLike, backends: Sequence[str] = ("reference",)) -> None:
        self.graph = as_graph(model)
        unknown = [b for b in backends if b != "reference"]
        if unknown:
            raise UnsupportedOperatorError(
                f"unknown backends {unknown}: available are ['reference']"
            )
        validate_graph(self.graph)
        for node in self.graph.nodes:
            if node.is_extension:
                raise UnsupportedOperatorError(
                    f"{node.describe()}: operator {node.op} is outside the TinyABI spec and no "
                    "selected backend runs it"
                )
        self._steps = [(node, prepare(node, self.graph)) for node in self.graph.nodes]

    def check_feeds(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """The feeds by input name, after checking names, dtypes and shapes (nothing is cast)."""
        graph = self.graph
        if isinstance(feeds, Mapping):
            missing = [n for n in graph.inputs if n not in feeds]
            extra = [n for n in feeds if n not in graph.inputs]
            if missing or extra:
                raise InputError(
                    f"inputs do not match the model: missing {missing}, unexpected {extra}; "
                    f"the model's inputs are {graph.inputs}"
                )
            named = dict(feeds)
        else:
            if len(feeds) != len(graph.inputs):
                raise InputError(
                    f"the model takes {len(graph.inputs)} inputs {graph.inputs}, got {len(feeds)}"
                )
            named = dict(zip(graph.inputs, feeds))
        checked = {}
        for name in graph.inputs:
            value = named[name]
            t = graph.tensor(name)
            if not isinstance(value, np.ndarray):
                raise InputError(
                    f"input {name!r}: expected a numpy array, got {type(value).__name__}"
                )
            if value.dtype != numpy_dtype(t.dtype):
                raise InputError(f"input {name!r}: expected dtype {t.dtype}, got {value.dtype}")
            if tuple(value.shape) != t.shape:
                raise InputError(
                    f"input {name!r}: expected shape {list(t.shape)}, got {list(value.shape)}"
                )
            checked[name] = value
        return checked

    def run(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run the model; returns the outputs by name."""
        values: dict[str, Any] = {n: t.data for n, t in self.graph.tensors.items() if t.is_constant}
        values.update(self.check_feeds(feeds))
        for node, evaluate in self._steps:
            results = evaluate([None if n is None else values[n] for n in node.inputs])
            values.update(zip(node.outputs, results))
        return {name: values[name] for name in self.graph.outputs}
