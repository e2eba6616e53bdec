"""Run a backend against the generated conformance cases and compare with the reference."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tinyabi.backends.base import Backend, CompiledPartition
from tinyabi.backends.registry import BackendRegistry, default_registry
from tinyabi.conformance.cases import Case
from tinyabi.conformance.generators import DEFAULT_GENERATORS, check_generators, generate
from tinyabi.conformance.isolation import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    Attempt,
    CaseRunner,
    error_text,
)
from tinyabi.conformance.outcome import CaseResult, Stage, Status
from tinyabi.conformance.profiles import PROFILES
from tinyabi.conformance.report import (
    ConformanceReport,
    Failure,
    ProfileResult,
    SignatureResult,
)
from tinyabi.conformance.selection import Selection
from tinyabi.conformance.verify import compare, mode_text
from tinyabi.errors import InputError
from tinyabi.ir.validate import check_node
from tinyabi.progress import progress_bar
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
        return stage, error_text(exc)
    problem, _ = compare(tol, outputs, case.expected, case)
    return ("compare", problem) if problem else None


def run_conformance(
    backend_name_or_spec: BackendLike,
    ops: Sequence[str] | None = None,
    cases_per_signature: int = 5,
    seed: int = 0,
    registry: BackendRegistry | None = None,
    *,
    generators: Sequence[str] = DEFAULT_GENERATORS,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    selection: Selection | None = None,
) -> ConformanceReport:
    """Run every generated case of ``ops`` (default: every spec operator) on the backend.

    ``generators`` names the case generators (:data:`~tinyabi.conformance.generators.GENERATORS`);
    ``selection`` filters the cases, marks expected failures and picks a shard. With ``jobs``
    >= 1 the cases run in that many worker processes, each case with a time limit of
    ``timeout`` seconds and each worker with ``memory_mb`` MiB of data memory: a case that
    crashes its worker, overruns or runs out of memory fails with that status and the rest run
    on. ``jobs=0`` runs them in this process.

    A case the backend's ``supports`` declines is recorded as not claimed, with the reason; a
    claimed case is compiled and run, and each output is compared with the reference backend's
    under the signature's tolerance. A negative case (a graph breaking the spec) passes when
    the backend declines or rejects it.
    """
    started = time.perf_counter()
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
    check_generators(generators)
    if jobs < 0:
        raise InputError(f"jobs must be 0 (in this process) or more, got {jobs}")
    selection = selection or Selection()
    backend = make_backend(backend_name_or_spec, registry)
    cases: list[Case] = []
    tolerances: dict[tuple[str, str], Tolerance] = {}
    for name in names:
        op = spec.operators[name]
        for sig in op.signatures:
            tolerances[(name, sig.name)] = sig.tolerance
            for gen in generators:
                made = generate(op, sig, gen, cases_per_signature, seed)
                cases += [c for c in made if selection.selects(c.id)]
    results: dict[str, CaseResult] = {}
    with (
        CaseRunner(backend, jobs, timeout, memory_mb) as runner,
        progress_bar(len(cases), f"conformance {backend.name}", unit="case") as bar,
    ):
        for case, outcome in runner.run(cases):
            result = judge(case, outcome, tolerances[(case.op, case.signature)])
            result.xfail = selection.expects_failure(case.id)
            results[case.id] = result
            bar.update()
            bar.set_postfix_str(_counts(results.values()), refresh=False)
    ordered = [results[c.id] for c in cases]
    signatures = [signature_result(op, sig, tol, ordered) for (op, sig), tol in tolerances.items()]
    failures = [failure_of(r) for r in ordered if r.counts_as_failure][:MAX_FAILURES]
    for r in ordered:
        if r.status is not Status.PASS and not r.counts_as_failure:
            r.params = {}
    i, n = selection.shard
    return ConformanceReport(
        backend=backend.name,
        backend_version=str(getattr(backend, "version", "?")),
        spec_version=SPEC_VERSION,
        seed=seed,
        cases_per_signature=cases_per_signature,
        generators=list(generators),
        shard=f"{i}/{n}",
        jobs=jobs,
        seconds=round(time.perf_counter() - started, 3),
        results=signatures,
        failures=failures,
        cases=ordered,
        profiles=profile_results(ordered),
    )


def _counts(results: Iterable[CaseResult]) -> str:
    statuses = Counter(r.status for r in results)
    failed = sum(n for s, n in statuses.items() if s.failed)
    return f"pass {statuses[Status.PASS]} fail {failed} n/c {statuses[Status.NOT_CLAIMED]}"


def judge(case: Case, outcome: Attempt, tol: Tolerance) -> CaseResult:
    """A case's result from what the backend did with it."""
    result = CaseResult(
        id=case.id,
        op=case.op,
        signature=case.signature,
        generator=case.generator,
        index=case.index,
        status=Status.PASS,
        stage=outcome.stage,
        verify="decline or reject" if case.negative else mode_text(tol),
        seconds=round(outcome.seconds, 6),
        params=case.params(),
    )
    kind = outcome.kind
    if kind in ("crash", "memory", "timeout"):
        status = Status.TIMEOUT if kind == "timeout" else Status.CRASH
        return result.model_copy(update={"status": status, "message": outcome.message})
    if kind == "declined":
        if case.negative:
            return result.model_copy(update={"message": f"declined: {outcome.message}"})
        return result.model_copy(
            update={"status": Status.NOT_CLAIMED, "message": outcome.message, "params": {}}
        )
    if kind == "raised":
        if case.negative:
            return result.model_copy(update={"message": f"rejected: {outcome.message}"})
        return result.model_copy(update={"status": Status.ERROR, "message": outcome.message})
    if case.negative:
        problem = check_node(case.node, case.graph).problem
        message = f"answered a graph that breaks the spec: {problem}"
        return result.model_copy(
            update={"status": Status.MISMATCH, "stage": "compare", "message": message}
        )
    problem, error = compare(tol, outcome.outputs, case.expected, case)
    if problem is None:
        return result.model_copy(update={"max_error": error, "params": {}})
    return result.model_copy(
        update={
            "status": Status.MISMATCH,
            "stage": "compare",
            "message": problem,
            "max_error": error,
        }
    )


def signature_result(
    op: str, sig: str, tol: Tolerance, results: Sequence[CaseResult]
) -> SignatureResult:
    """The counts of one operator signature over ``results``."""
    mine = [r for r in results if (r.op, r.signature) == (op, sig)]
    out = SignatureResult(op=op, signature=sig, tolerance=mode_text(tol), generated=len(mine))
    for r in mine:
        out.statuses[r.status.value] = out.statuses.get(r.status.value, 0) + 1
        if r.status is Status.PASS:
            out.passed += 1
        elif r.status is Status.NOT_CLAIMED:
            out.not_claimed += 1
            if r.message not in out.reasons and len(out.reasons) < MAX_REASONS:
                out.reasons.append(r.message)
        elif r.xfail:
            out.xfailed += 1
        else:
            out.failed += 1
    return out


def failure_of(r: CaseResult) -> Failure:
    """A failing case's entry in the report's first failures."""
    return Failure(
        op=r.op,
        signature=r.signature,
        case=r.index,
        stage=r.stage or "worker",
        message=r.message,
        params=r.params,
        status=r.status,
        generator=r.generator,
    )


def profile_results(results: Sequence[CaseResult]) -> list[ProfileResult]:
    """Each profile's verdict over the run's cases: conformant when every signature in it has
    cases and all of them passed."""
    by_sig: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        by_sig.setdefault((r.op, r.signature), []).append(r)
    out = []
    for name, members in PROFILES.items():
        missing = [
            f"{op}/{sig}"
            for op, sig in members
            if not by_sig.get((op, sig))
            or any(r.status is not Status.PASS for r in by_sig[(op, sig)])
        ]
        out.append(ProfileResult(name=name, conformant=not missing, missing=missing))
    return out
