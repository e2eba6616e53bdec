"""The outcome of one conformance case: its status in the suite's taxonomy and what was
measured."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["FAILING", "CaseResult", "Stage", "Status"]

Stage = Literal["supports", "compile", "run", "compare", "worker"]


class Status(str, Enum):
    """Where a case ended.

    ``PASS``: claimed and within the signature's tolerance (for a negative case: declined or
    rejected). ``NOT_CLAIMED``: the backend's ``supports`` declined it, with a reason.
    ``MISMATCH``: outputs outside the tolerance, missing, of the wrong type, or an answer to a
    graph that breaks the spec. ``CRASH``: the worker process died (a signal, an abort) or ran
    out of its memory limit. ``TIMEOUT``: the case ran past its time limit. ``ERROR``: the
    backend raised.
    """

    PASS = "PASS"
    NOT_CLAIMED = "NOT CLAIMED"
    MISMATCH = "MISMATCH"
    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"
    ERROR = "ERROR"

    @property
    def failed(self) -> bool:
        """Whether this status fails a claimed case."""
        return self in FAILING


#: The statuses that fail a case.
FAILING = frozenset({Status.MISMATCH, Status.CRASH, Status.TIMEOUT, Status.ERROR})


class CaseResult(BaseModel):
    """One case's result: its id, status, the failing stage and message, the measured error of
    its outputs against the expected ones, and how long the backend took."""

    model_config = ConfigDict(extra="forbid")

    id: str
    op: str
    signature: str
    generator: str
    index: int
    status: Status
    stage: Stage | None = None
    message: str = ""
    #: Largest |got - expected| over the outputs (LSBs for integers), when outputs came back.
    max_error: float | None = None
    #: The verify mode the outputs were compared under.
    verify: str = ""
    seconds: float = 0.0
    #: Whether the run's selection expects this case to fail (it then does not fail the run).
    xfail: bool = False
    params: dict[str, Any] = {}

    @property
    def counts_as_failure(self) -> bool:
        """Whether this result fails the run: a failing status on a case not expected to fail."""
        return self.status.failed and not self.xfail
