"""The vendor conformance suite: seeded random single-operator cases generated from the spec,
run on any backend and compared with the reference backend under each signature's tolerance.

Example::

    from tinyabi.conformance import run_conformance

    report = run_conformance("cmsis-nn", ops=["CONV_2D"], cases_per_signature=10)
    print(report)
"""

from tinyabi.conformance.cases import Case, generate_cases, spec_cases
from tinyabi.conformance.report import ConformanceReport, Failure, SignatureResult
from tinyabi.conformance.runner import check_case, make_backend, run_conformance

__all__ = [
    "Case",
    "ConformanceReport",
    "Failure",
    "SignatureResult",
    "check_case",
    "generate_cases",
    "make_backend",
    "run_conformance",
    "spec_cases",
]
