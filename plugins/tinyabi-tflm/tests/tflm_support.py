"""Helpers of the plugin's tests: the shared models, inputs, and the runtimes called directly.

(Not a conftest: the repository's own ``tests/conftest.py`` shares one pytest run with these.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tinyabi
from tests.conftest import shared_model
from tinyabi.ir.graph import Graph, numpy_dtype

#: ``plugins/tinyabi-tflm/tests`` -> the repository -> beside it, ``shared/models``.
REPO = Path(__file__).resolve().parents[3]
PLUGIN = Path(__file__).resolve().parents[1]

INT8_MODELS = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
FLOAT_MODELS = ["vww_96_float", "ad01_fp32"]
HYBRID_MODEL = "kws_ref_model_float32"


_GRAPHS: dict[str, Graph] = {}


def load(name: str) -> Graph:
    """A shared model's graph (imported once per test run)."""
    if name not in _GRAPHS:
        _GRAPHS[name] = tinyabi.load(str(shared_model(name)))
    return _GRAPHS[name]


def random_inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    """Random inputs in the model's input order: full-range integers, floats in [-1, 1]."""
    rng = np.random.default_rng(seed)
    values = []
    for name in graph.inputs:
        t = graph.tensor(name)
        dtype = numpy_dtype(t.dtype)
        if dtype.kind == "f":
            values.append(rng.uniform(-1, 1, t.shape).astype(dtype))
        else:
            info = np.iinfo(dtype.name)
            values.append(rng.integers(int(info.min), int(info.max) + 1, t.shape).astype(dtype))
    return values


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest absolute difference (in LSB for integers)."""
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))
