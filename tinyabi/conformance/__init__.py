"""The vendor conformance suite: single-operator cases generated from the spec by intent
(pseudo-random, full-range, special integers, shapes, negative), run on any backend in worker
processes that may crash or hang, and compared with the reference backend under each
signature's verify mode.

Example::

    from tinyabi.conformance import run_conformance

    report = run_conformance("cmsis-nn", ops=["CONV_2D"], cases_per_signature=10, jobs=2)
    print(report)
"""

from tinyabi.conformance.cases import Case, generate_cases, spec_cases
from tinyabi.conformance.generators import DEFAULT_GENERATORS, GENERATORS, generate
from tinyabi.conformance.outcome import CaseResult, Status
from tinyabi.conformance.report import (
    ConformanceReport,
    Failure,
    ProfileResult,
    SignatureResult,
)
from tinyabi.conformance.runner import check_case, make_backend, run_conformance
from tinyabi.conformance.selection import Selection

__all__ = [
    "DEFAULT_GENERATORS",
    "GENERATORS",
    "Case",
    "CaseResult",
    "ConformanceReport",
    "Failure",
    "ProfileResult",
    "Selection",
    "SignatureResult",
    "Status",
    "check_case",
    "generate",
    "generate_cases",
    "make_backend",
    "run_conformance",
    "spec_cases",
]
