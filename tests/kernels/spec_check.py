"""Reading the spec from kernel tests: tolerances come from the spec files, never from tests."""

from __future__ import annotations

import numpy as np

from tinyabi.spec import OperatorSpec, Tolerance, load_spec


def op_spec(op: str) -> OperatorSpec:
    """The spec of operator ``op``."""
    return load_spec().operators[op]


def tolerance(op: str, signature: str) -> Tolerance:
    """The tolerance ``op``'s spec declares for ``signature``."""
    return op_spec(op).signature(signature).tolerance


def assert_within(got: np.ndarray, want: np.ndarray, tol: Tolerance, what: str) -> None:
    """Fail with ``what`` and the violation when ``got`` does not conform to ``want``."""
    problem = tol.violation(got, want)
    assert problem is None, f"{what}: {problem}"
