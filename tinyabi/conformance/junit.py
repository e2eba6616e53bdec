"""A conformance report as JUnit XML, for CI systems: one ``testsuite`` per operator signature,
one ``testcase`` per case (``classname`` ``OP.signature``, ``name`` ``generator/index``).

MISMATCH is a ``failure``; CRASH, TIMEOUT and ERROR are ``error`` elements with the status as
their ``type``; NOT CLAIMED and expected failures are ``skipped`` with the reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tinyabi.conformance.outcome import Status
from tinyabi.conformance.report import ConformanceReport

__all__ = ["to_junit_xml"]


def to_junit_xml(report: ConformanceReport) -> str:
    """The report's cases as a JUnit XML document."""
    root = ET.Element("testsuites", name=f"tinyabi conformance {report.backend}")
    suites: dict[tuple[str, str], ET.Element] = {}
    for r in report.results:
        suites[(r.op, r.signature)] = ET.SubElement(
            root, "testsuite", name=f"{r.op}.{r.signature}", tests=str(r.generated)
        )
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for case in report.cases:
        suite = suites[(case.op, case.signature)]
        element = ET.SubElement(
            suite,
            "testcase",
            classname=f"{case.op}.{case.signature}",
            name=f"{case.generator}/{case.index}",
            time=f"{case.seconds:.6f}",
        )
        totals["tests"] += 1
        text = f"{case.stage or ''}: {case.message}".strip(": ")
        if case.status is Status.PASS:
            continue
        if case.status is Status.NOT_CLAIMED or case.xfail:
            why = f"expected failure, {case.status.value}: {text}" if case.xfail else text
            ET.SubElement(element, "skipped", message=why)
            totals["skipped"] += 1
        elif case.status is Status.MISMATCH:
            ET.SubElement(element, "failure", message=text, type=case.status.value).text = text
            totals["failures"] += 1
        else:
            ET.SubElement(element, "error", message=text, type=case.status.value).text = text
            totals["errors"] += 1
    for suite in suites.values():
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            suite.set(key, str(sum(1 for c in cases if c.find(tag) is not None)))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
