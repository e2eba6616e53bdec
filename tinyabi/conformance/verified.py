"""Verified capabilities: what conformance runs proved about a backend, kept in the cache.

A run's verdicts are kept per backend name, backend version and spec version
(``<cache>/conformance/<name>-<version>-spec<spec>.json``): an operator signature is
*verified* when the backend claimed at least one of its cases and every claimed case passed,
*failed* when a claimed case failed. A later run overwrites the verdicts of the signatures it
ran and keeps the others. ``Session(..., verify=True)`` gives a backend only nodes of verified
signatures, and ``tinyabi backends`` shows verified beside claimed.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from tinyabi.cache import cache_dir

if TYPE_CHECKING:
    from tinyabi.conformance.report import ConformanceReport

__all__ = [
    "Verdict",
    "VerifiedRecord",
    "load_record",
    "record_path",
    "record_report",
    "verified_signatures",
]

Verdict = Literal["verified", "failed"]


class VerifiedRecord(BaseModel):
    """The cached verdicts of one backend version against one spec version."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    backend_version: str
    spec_version: str
    #: ``"OP/signature"`` -> verdict.
    signatures: dict[str, Verdict] = {}
    updated: str = ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def record_path(backend: str, version: str, spec_version: str) -> Path:
    """Where the verdicts of ``backend`` ``version`` against ``spec_version`` are kept."""
    name = f"{_safe(backend)}-{_safe(version)}-spec{_safe(spec_version)}.json"
    return cache_dir("conformance", name)


def load_record(backend: str, version: str, spec_version: str) -> VerifiedRecord | None:
    """The cached verdicts, or ``None`` when there are none (or they cannot be read)."""
    path = record_path(backend, version, spec_version)
    try:
        return VerifiedRecord.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def record_report(report: ConformanceReport) -> Path:
    """Merge a run's verdicts into the cache; returns the file written."""
    record = load_record(report.backend, report.backend_version, report.spec_version)
    record = record or VerifiedRecord(
        backend=report.backend,
        backend_version=report.backend_version,
        spec_version=report.spec_version,
    )
    verdicts = dict(record.signatures)
    for r in report.results:
        if r.failed or r.xfailed:
            verdicts[f"{r.op}/{r.signature}"] = "failed"
        elif r.passed:
            verdicts[f"{r.op}/{r.signature}"] = "verified"
    record = record.model_copy(
        update={
            "signatures": dict(sorted(verdicts.items())),
            "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
    )
    path = record_path(report.backend, report.backend_version, report.spec_version)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.model_dump(), indent=2) + "\n")
    tmp.replace(path)
    return path


def verified_signatures(backend: str, version: str, spec_version: str) -> set[tuple[str, str]]:
    """The ``(op, signature)`` pairs cached as verified (empty when nothing is cached)."""
    record = load_record(backend, version, spec_version)
    if record is None:
        return set()
    pairs = (key.split("/", 1) for key, v in record.signatures.items() if v == "verified")
    return {(op, sig) for op, sig in pairs}
