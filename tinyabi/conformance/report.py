"""The result of a conformance run: counts per operator signature, the first failures, a summary."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ConformanceReport", "Failure", "SignatureResult", "Stage"]

Stage = Literal["supports", "compile", "run", "compare"]


class Failure(BaseModel):
    """One failed case: where it failed, why, and the case's parameters."""

    model_config = ConfigDict(extra="forbid")

    op: str
    signature: str
    case: int
    stage: Stage
    message: str
    params: dict[str, Any]

    def describe(self) -> str:
        """One line: the case, the stage and the message, then the parameters."""
        tensors = ", ".join(f"{k}: {v}" for k, v in self.params.get("tensors", {}).items())
        attrs = ", ".join(f"{k}={v}" for k, v in self.params.get("attrs", {}).items())
        return (
            f"{self.op}/{self.signature} case {self.case} ({self.stage}): {self.message}\n"
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


class ConformanceReport(BaseModel):
    """A backend's conformance to the spec, case by case against the reference backend."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    backend_version: str
    spec_version: str
    seed: int
    cases_per_signature: int
    results: list[SignatureResult]
    #: The first failures, with their parameters (at most ``max_failures`` of the run).
    failures: list[Failure] = []

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
        lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)
