"""A conformance report as one self-contained HTML page: the matrix of operator signatures by
generator, each cell coloured by its worst status, then the profiles and the failures.

No scripts, fonts or other files: inline CSS only, and every text from the report (a backend's
messages are untrusted) is escaped.
"""

from __future__ import annotations

import html
from collections import Counter

from tinyabi.conformance.outcome import CaseResult, Status
from tinyabi.conformance.report import ConformanceReport

__all__ = ["COLOURS", "render_matrix_html"]

#: Cell fill per verdict: every case passed, some failed, none claimed, passed and not
#: claimed mixed, no case.
COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "not-claimed": "#9e9e9e",
    "mixed": "#f9a825",
    "none": "#ffffff",
}


def _verdict(cases: list[CaseResult]) -> str:
    if not cases:
        return "none"
    if any(c.counts_as_failure for c in cases):
        return "fail"
    passed = sum(c.status is Status.PASS for c in cases)
    if passed == len(cases):
        return "pass"
    return "mixed" if passed else "not-claimed"


def _cell(cases: list[CaseResult]) -> str:
    verdict = _verdict(cases)
    if not cases:
        return '<td class="none">&ndash;</td>'
    counts = Counter(c.status.value for c in cases)
    title = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
    passed = counts.get(Status.PASS.value, 0)
    return f'<td class="{verdict}" title="{html.escape(title)}">{passed}/{len(cases)}</td>'


def render_matrix_html(report: ConformanceReport) -> str:
    """The report as an HTML page (see the module)."""
    generators = list(report.generators)
    by_cell: dict[tuple[str, str, str], list[CaseResult]] = {}
    for case in report.cases:
        by_cell.setdefault((case.op, case.signature, case.generator), []).append(case)
    esc = html.escape
    rows = []
    for r in report.results:
        cells = "".join(_cell(by_cell.get((r.op, r.signature, g), [])) for g in generators)
        rows.append(
            f"<tr><th>{esc(r.op)}</th><th>{esc(r.signature)}</th>{cells}"
            f'<td class="mode">{esc(r.tolerance)}</td></tr>'
        )
    profiles = "".join(
        f"<li><b>{esc(p.name)}</b>: {'conformant' if p.conformant else 'not conformant'}"
        + (f" (not passing: {esc(', '.join(p.missing))})" if p.missing else "")
        + "</li>"
        for p in report.profiles
    )
    failures = "".join(
        f"<li><code>{esc(c.id)}</code> <b>{esc(c.status.value)}</b> "
        f"({esc(c.stage or '')}): {esc(c.message)}</li>"
        for c in report.cases
        if c.counts_as_failure
    )
    legend = "".join(
        f'<span class="key {name}"></span>{esc(label)} '
        for name, label in (
            ("pass", "all passed"),
            ("mixed", "passed or not claimed"),
            ("not-claimed", "not claimed"),
            ("fail", "a case failed"),
        )
    )
    style = "".join(f"td.{k},span.{k}{{background:{v}}}" for k, v in COLOURS.items())
    head = "".join(f"<th>{esc(g)}</th>" for g in generators)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(f"conformance of {report.backend} {report.backend_version}")}</title>
<style>
body{{font-family:sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
td{{text-align:center;color:#fff;min-width:4em}}
td.none{{color:#999}} td.mode{{color:#222;background:#fafafa;text-align:left}}
span.key{{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}}
{style}
</style></head>
<body data-backend="{esc(report.backend)}">
<h1>{esc(report.backend)} {esc(report.backend_version)} against spec {esc(report.spec_version)}</h1>
<p>{esc(report.summary())}</p>
<p>cases: {esc(report.status_line())}; seed {report.seed}, shard {esc(report.shard)}</p>
<p>{legend}</p>
<table id="matrix">
<thead><tr><th>operator</th><th>signature</th>{head}<th>verify mode</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody></table>
<h2>Profiles</h2><ul>{profiles}</ul>
<h2>Failures</h2><ul id="failures">{failures or "<li>none</li>"}</ul>
</body></html>
"""
