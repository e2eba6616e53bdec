"""Comparing a backend's outputs with the expected ones under a signature's verify mode, with
the measured error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from tinyabi.backends.reference import ReferenceBackend
from tinyabi.conformance.cases import Case
from tinyabi.ir.graph import Graph
from tinyabi.spec import Tolerance

__all__ = ["compare", "dot_magnitudes", "max_error", "mode_text"]


def mode_text(tol: Tolerance) -> str:
    """The verify mode in a few words (``exact``, ``float atol=... rtol=...``, ``LSB(1)``...)."""
    if tol.kind == "float":
        return f"float atol={tol.atol:g} rtol={tol.rtol:g}"
    return tol.describe()


def _with_values(
    graph: Graph, inputs: Mapping[str, np.ndarray], change: Callable[[np.ndarray], np.ndarray]
) -> tuple[Graph, dict[str, np.ndarray]]:
    """The graph and inputs with ``change`` applied to every float input and float constant,
    and fused activations removed."""
    tensors = dict(graph.tensors)
    for name, t in graph.tensors.items():
        if t.data is not None and t.dtype == "float32":
            tensors[name] = replace(t, data=change(t.data).astype(np.float32))
    changed = {
        k: change(v).astype(np.float32) if v.dtype == np.float32 else v for k, v in inputs.items()
    }
    # The sums before any fused activation clamps them.
    nodes = [
        replace(n, attrs={**n.attrs, "fused_activation": "NONE"})
        if "fused_activation" in n.attrs
        else n
        for n in graph.nodes
    ]
    return replace(graph, tensors=tensors, nodes=nodes), changed


def dot_magnitudes(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per output element, ``n * sum(|a_i * b_i|)`` of a float reduction: the operator run on
    the absolute values gives the sums of magnitudes, run on ones it gives ``n``."""
    reference = ReferenceBackend()
    abs_graph, abs_inputs = _with_values(graph, inputs, np.abs)
    ones_graph, ones_inputs = _with_values(graph, inputs, np.ones_like)
    sums = reference.compile(abs_graph).run(abs_inputs)
    counts = reference.compile(ones_graph).run(ones_inputs)
    return {
        name: np.abs(counts[name].astype(np.float64)) * sums[name].astype(np.float64)
        for name in sums
    }


def max_error(got: np.ndarray, want: np.ndarray) -> float | None:
    """The largest ``|got - want|`` (in LSBs for integers), or ``None`` when the shapes differ
    or the values are not numbers."""
    if got.shape != want.shape or want.dtype == np.bool_ or got.dtype == np.bool_:
        return None if got.shape != want.shape else float(np.sum(got != want) > 0)
    if got.size == 0:
        return 0.0
    try:
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    except (TypeError, ValueError):
        return None
    return float(np.nanmax(diff)) if not np.all(np.isnan(diff)) else 0.0


def compare(
    tol: Tolerance,
    outputs: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    case: Case | None = None,
    magnitudes: Mapping[str, np.ndarray] | None = None,
) -> tuple[str | None, float | None]:
    """What is wrong with ``outputs`` (``None`` when they conform) and the largest error over
    the outputs. A ``dot_product`` tolerance needs the magnitudes of the sums: given, or
    computed from the ``case``."""
    problems: list[str] = []
    worst: float | None = None
    if magnitudes is None:
        magnitudes = (
            dot_magnitudes(case.graph, case.inputs) if tol.kind == "dot_product" and case else {}
        )
    for name, want in expected.items():
        if name not in outputs:
            problems.append(f"output {name!r} missing")
            continue
        got = np.asarray(outputs[name])
        error = max_error(got, want)
        if error is not None:
            worst = error if worst is None else max(worst, error)
        violation = tol.violation(got, want, magnitudes.get(name))
        if violation is not None:
            problems.append(f"{name}: {violation}")
    return ("; ".join(problems) if problems else None), worst
