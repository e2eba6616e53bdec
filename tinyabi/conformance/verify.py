"""Comparing a backend's outputs with the expected ones under a signature's verify mode, with
the measured error."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tinyabi.spec import Tolerance


def mode_text(tol: Tolerance) -> str:
    """The verify mode in a few words (``exact``, ``float atol=... rtol=...``)."""
    return "exact" if tol.kind == "exact" else f"float atol={tol.atol:g} rtol={tol.rtol:g}"


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
    tol: Tolerance, outputs: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]
) -> tuple[str | None, float | None]:
    """What is wrong with ``outputs`` (``None`` when they conform) and the largest error over
    the outputs."""
    problems: list[str] = []
    worst: float | None = None
    for name, want in expected.items():
        if name not in outputs:
            problems.append(f"output {name!r} missing")
            continue
        got = np.asarray(outputs[name])
        error = max_error(got, want)
        if error is not None:
            worst = error if worst is None else max(worst, error)
        violation = tol.violation(got, want)
        if violation is not None:
            problems.append(f"{name}: {violation}")
    return ("; ".join(problems) if problems else None), worst
