"""Reading the spec from kernel tests: tolerances come from the spec files, never from tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyabi.conformance.verify import dot_magnitudes
from tinyabi.ir import Graph
from tinyabi.spec import OperatorSpec, Tolerance, load_spec


def op_spec(op: str) -> OperatorSpec:
    """The spec of operator ``op``."""
    return load_spec().operators[op]


def tolerance(op: str, signature: str) -> Tolerance:
    """The tolerance ``op``'s spec declares for ``signature``."""
    return op_spec(op).signature(signature).tolerance


def assert_within(
    got: np.ndarray,
    want: np.ndarray,
    tol: Tolerance,
    what: str,
    graph: Graph | None = None,
    feeds: Sequence[np.ndarray] | None = None,
) -> None:
    """Fail with ``what`` and the violation when ``got`` does not conform to ``want``. A
    dot-product tolerance needs the single-output ``graph`` and its ``feeds`` (the bound
    depends on the magnitudes of the sums)."""
    magnitude = None
    if tol.kind == "dot_product":
        assert graph is not None and feeds is not None, f"{what}: the dot-product bound needs them"
        sums = dot_magnitudes(graph, dict(zip(graph.inputs, feeds)))
        magnitude = sums[graph.outputs[0]]
    problem = tol.violation(got, want, magnitude)
    assert problem is None, f"{what}: {problem}"
