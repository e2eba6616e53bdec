"""The result of a conformance run: every case's status, counts per operator signature, the
first failures with their parameters, the profiles it conforms to, and a summary. The JSON form
follows a versioned schema (:data:`SCHEMA_VERSION`, :func:`json_schema`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from tinyabi.conformance.outcome import CaseResult, Stage, Status

__all__ = [
    "SCHEMA_VERSION",
    "ConformanceReport",
    "Failure",
    "ProfileResult",
    "SignatureResult",
    "json_schema",
]

#: The version of the report's JSON schema; a change that removes or renames a field bumps it.
SCHEMA_VERSION = "1.0"


class Failure(BaseModel):
    """One failed case: where it failed, why, and the case's parameters."""

    model_config = ConfigDict(extra="forbid")

    op: str
    signature: str
    case: int
    stage: Stage
    message: str
    params: dict[str, Any]
    status: Status = Status.MISMATCH
    generator: str = "pseudo-random"

    def describe(self) -> str:
        """One line: the case, the stage and the message, then the parameters."""
        tensors = ", ".join(f"{k}: {v}" for k, v in self.params.get("tensors", {}).items())
        attrs = ", ".join(f"{k}={v}" for k, v in self.params.get("attrs", {}).items())
        return (
            f"{self.op}/{self.signature}/{self.generator}/{self.case} {self.status.value} "
            f"({self.stage}): {self.message}\n"
            f"    tensors {tensors}" + (f"\n    attrs {attrs}" if attrs else "")
        )


class SignatureResult(BaseModel):
    """The counts of one operator signature."""

    model_config = ConfigDict(extra="forbid")

    op: str
    signature: str
    tolerance: str
    generated: int = 0
    passed: int = 0
    failed: int = 0
    not_claimed: int = 0
    #: Distinct reasons the backend gave for the cases it did not claim (at most a few).
    reasons: list[str] = []
    #: Cases by status name (``PASS``, ``MISMATCH``...), expected failures included.
    statuses: dict[str, int] = {}
    #: Cases expected to fail (``xfail``) that did.
    xfailed: int = 0


class ProfileResult(BaseModel):
    """Whether the backend conforms to a profile: every case of every signature in it passed."""

    model_config = ConfigDict(extra="forbid")

    name: str
    conformant: bool
    #: Why not: the signatures with a case that did not pass, or that have no case in this run.
    missing: list[str] = []


class ConformanceReport(BaseModel):
    """A backend's conformance to the spec, case by case against the reference backend."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    backend: str
    backend_version: str
    spec_version: str
    seed: int
    cases_per_signature: int
    generators: list[str] = ["pseudo-random"]
    #: ``"i/n"`` when the run was one shard of several.
    shard: str = "1/1"
    jobs: int = 0
    seconds: float = 0.0
    results: list[SignatureResult]
    #: The first failures, with their parameters (at most ``max_failures`` of the run).
    failures: list[Failure] = []
    #: Every case's result (parameters only for failing ones).
    cases: list[CaseResult] = []
    profiles: list[ProfileResult] = []

    @property
    def passed(self) -> int:
        """Cases the backend claimed and got right."""
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        """Cases the backend claimed and got wrong (or raised on)."""
        return sum(r.failed for r in self.results)

    @property
    def not_claimed(self) -> int:
        """Cases the backend's ``supports`` declined."""
        return sum(r.not_claimed for r in self.results)

    @property
    def ok(self) -> bool:
        """Whether no claimed case failed."""
        return self.failed == 0

    def count(self, status: Status) -> int:
        """How many cases ended with ``status``."""
        return sum(r.statuses.get(status.value, 0) for r in self.results)

    def summary(self) -> str:
        """One line: the totals and the verdict."""
        claimed = self.passed + self.failed
        sigs = sum(1 for r in self.results if r.passed + r.failed)
        verdict = "CONFORMS" if self.ok else "DOES NOT CONFORM"
        return (
            f"{self.backend} {self.backend_version} against spec {self.spec_version} "
            f"(seed {self.seed}): {self.passed}/{claimed} claimed cases passed, "
            f"{self.failed} failed, {self.not_claimed} not claimed; "
            f"{sigs} of {len(self.results)} signatures claimed: {verdict}"
        )

    def status_line(self) -> str:
        """The count of every status, e.g. ``PASS 120, NOT CLAIMED 4, CRASH 1``."""
        return ", ".join(f"{s.value} {self.count(s)}" for s in Status if self.count(s))

    def to_json(self) -> str:
        """The report as indented JSON, with the totals."""
        data = self.model_dump(mode="json")
        data["totals"] = {
            "passed": self.passed,
            "failed": self.failed,
            "not_claimed": self.not_claimed,
            "ok": self.ok,
        }
        data["summary"] = self.summary()
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ConformanceReport:
        """A report read back from :meth:`to_json`."""
        data = json.loads(text)
        data.pop("totals", None)
        data.pop("summary", None)
        return cls.model_validate(data)

    def __str__(self) -> str:
        width = max([len(f"{r.op} {r.signature}") for r in self.results] + [20])
        lines = [f"{'operator signature':<{width}}  {'pass':>5} {'fail':>5} {'n/c':>5}  tolerance"]
        for r in self.results:
            label = f"{r.op} {r.signature}"
            mark = "  FAIL" if r.failed else ""
            note = "" if r.generated else "  (no case generated)"
            lines.append(
                f"{label:<{width}}  {r.passed:>5} {r.failed:>5} {r.not_claimed:>5}  "
                f"{r.tolerance}{mark}{note}"
            )
        if self.failures:
            lines.append("")
            lines.append(f"first {len(self.failures)} failure(s):")
            lines += [f"  {f.describe()}" for f in self.failures]
        if self.profiles:
            lines.append("")
            for p in self.profiles:
                why = f" (not passing: {', '.join(p.missing[:6])}" if p.missing else ""
                more = (
                    f", +{len(p.missing) - 6} more)" if len(p.missing) > 6 else ")" if why else ""
                )
                verdict = "conformant" if p.conformant else "not conformant"
                lines.append(f"profile {p.name}: {verdict}{why}{more}")
        lines.append("")
        lines.append(f"cases: {self.status_line()}")
        lines.append(self.summary())
        return "\n".join(lines)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the report's JSON form (without the derived ``totals``/``summary``)."""
    return ConformanceReport.model_json_schema()
