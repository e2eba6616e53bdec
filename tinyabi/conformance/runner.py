"""Run a backend against the generated conformance cases and compare with the reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tinyabi.backends.base import Backend, CompiledPartition
from tinyabi.backends.registry import BackendRegistry, default_registry
from tinyabi.conformance.cases import Case, generate_cases
from tinyabi.conformance.report import ConformanceReport, Failure, SignatureResult, Stage
from tinyabi.errors import InputError
from tinyabi.ir.validate import check_node
from tinyabi.spec import SPEC_VERSION, Tolerance, load_spec

__all__ = [
    "MAX_FAILURES",
    "MAX_REASONS",
    "BackendLike",
    "check_case",
    "make_backend",
    "run_conformance",
]

#: How many failures a report keeps with their parameters.
MAX_FAILURES = 20
#: How many distinct "not claimed" reasons a signature's result keeps.
MAX_REASONS = 3

BackendLike = str | tuple[str, Mapping[str, Any]] | Backend


def make_backend(spec: BackendLike, registry: BackendRegistry | None = None) -> Backend:
    """A backend instance from a name, a ``(name, options)`` pair, or as given."""
    if isinstance(spec, Backend):
        return spec
    name, options = (spec, {}) if isinstance(spec, str) else spec
    return (registry or default_registry()).create(name, options)


def _tolerance_text(tol: Tolerance) -> str:
    return "exact" if tol.kind == "exact" else f"float atol={tol.atol:g} rtol={tol.rtol:g}"


def _error(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def check_case(backend: Backend, case: Case, tol: Tolerance) -> tuple[Stage, str] | None:
    """Run one claimed case on ``backend``: ``None`` when it conforms, else the stage that
    failed and why. Never raises for the backend's errors."""
    stage: Stage = "compile"
    try:
        compiled = backend.compile(case.graph)
        if not isinstance(compiled, CompiledPartition):
            return "compile", f"compile returned {compiled!r}, not a CompiledPartition"
        stage = "run"
        outputs = compiled.run({k: v.copy() for k, v in case.inputs.items()})
    except Exception as exc:
        return stage, _error(exc)
    problems = []
    for name, want in case.expected.items():
        if name not in outputs:
            problems.append(f"output {name!r} missing")
            continue
        violation = tol.violation(np.asarray(outputs[name]), want)
        if violation is not None:
            problems.append(f"{name}: {violation}")
    return ("compare", "; ".join(problems)) if problems else None


def run_conformance(
    backend_name_or_spec: BackendLike,
    ops: Sequence[str] | None = None,
    cases_per_signature: int = 5,
    seed: int = 0,
    registry: BackendRegistry | None = None,
) -> ConformanceReport:
    """Run every generated case of ``ops`` (default: every spec operator) on the backend.

    A case the backend's ``supports`` declines is recorded as not claimed, with the reason; a
    claimed case is compiled and run, and each output is compared with the reference backend's
    under the signature's tolerance. A backend exception fails the case with its message.
    """
    spec = load_spec()
    names = list(ops) if ops is not None else sorted(spec.operators)
    unknown = [n for n in names if n not in spec.operators]
    if unknown:
        raise InputError(
            f"unknown operator(s) {', '.join(unknown)}: "
            f"the spec has {', '.join(sorted(spec.operators))}"
        )
    if cases_per_signature < 1:
        raise InputError(f"cases per signature must be at least 1, got {cases_per_signature}")
    backend = make_backend(backend_name_or_spec, registry)
    results: list[SignatureResult] = []
    failures: list[Failure] = []
    for name in names:
        op = spec.operators[name]
        for sig in op.signatures:
            cases = generate_cases(op, sig, cases_per_signature, seed)
            result = SignatureResult(
                op=name, signature=sig.name, tolerance=_tolerance_text(sig.tolerance)
            )
            result.generated = len(cases)
            for case in cases:
                outcome = _claim(backend, case)
                if isinstance(outcome, str):
                    result.not_claimed += 1
                    if outcome not in result.reasons and len(result.reasons) < MAX_REASONS:
                        result.reasons.append(outcome)
                    continue
                if outcome is None:
                    outcome = check_case(backend, case, sig.tolerance)
                if outcome is None:
                    result.passed += 1
                    continue
                result.failed += 1
                if len(failures) < MAX_FAILURES:
                    stage, message = outcome
                    failures.append(
                        Failure(
                            op=name,
                            signature=sig.name,
                            case=case.index,
                            stage=stage,
                            message=message,
                            params=case.params(),
                        )
                    )
            results.append(result)
    return ConformanceReport(
        backend=backend.name,
        backend_version=str(getattr(backend, "version", "?")),
        spec_version=SPEC_VERSION,
        seed=seed,
        cases_per_signature=cases_per_signature,
        results=results,
        failures=failures,
    )


def _claim(backend: Backend, case: Case) -> str | tuple[Stage, str] | None:
    """``None`` when the backend claims the case, the reason (a string) when it declines, or
    a ``supports`` failure when it raises."""
    try:
        verdict = backend.supports(case.node, case.graph, check_node(case.node, case.graph))
    except Exception as exc:
        return "supports", _error(exc)
    if verdict:
        return None
    return " ".join(str(getattr(verdict, "reason", "") or "declined").split())
