"""The full conformance suite on every installed backend, and the suite's mutation score.

Run: ``python benchmarks/bench_conformance.py [--jobs N]`` from the repository root. Writes the
``conformance`` section of ``benchmarks/RESULTS.md``: for each backend the default run (every
operator, every generator, 5 cases per signature and generator) in ``--jobs`` worker processes,
with its wall time and case counts by status; then each mutant backend of
``tests/conformance_mutants.py`` (one realistic bug each) run the default way on its operators:
caught or not, and which generators caught it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from results import machine, write_section

from tinyabi.backends.registry import default_registry
from tinyabi.conformance import Status, run_conformance

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    rows = []
    for name in sorted(default_registry().names()):
        start = time.perf_counter()
        report = run_conformance(name, jobs=args.jobs)
        seconds = time.perf_counter() - start
        counts = " / ".join(str(report.count(s)) for s in Status)
        profiles = ", ".join(p.name for p in report.profiles if p.conformant) or "none"
        rows.append(
            f"| {name} | {len(report.cases):,} | {counts} | {seconds:.1f} | "
            f"{'yes' if report.ok else '**no**'} | {profiles} |"
        )
        print(rows[-1], flush=True)
    sys.path.insert(0, str(ROOT))
    from tests.conformance_mutants import MUTANTS

    mutant_rows = []
    caught = 0
    for mutant in MUTANTS:
        report = run_conformance(mutant(), ops=list(mutant.ops), jobs=0)
        by_generator = Counter(c.generator for c in report.cases if c.counts_as_failure)
        caught += not report.ok
        which = ", ".join(f"{g} {n}" for g, n in sorted(by_generator.items())) or "-"
        mutant_rows.append(
            f"| {mutant.bug} | {', '.join(mutant.ops)} | {'yes' if not report.ok else '**no**'} "
            f"| {report.failed} of {report.passed + report.failed} | {which} |"
        )
        print(mutant_rows[-1], flush=True)
    body = "\n".join(
        [
            "## Conformance suite (`bench_conformance.py`)",
            "",
            f"Run on {date.today()}: {machine()}.",
            f"The default run of every installed backend with `--jobs {args.jobs}` (every "
            "operator and generator, 5 cases per signature and generator, more where a "
            "generator walks through variants). Statuses: "
            + " / ".join(s.value for s in Status)
            + ". Goal: every claimed case passes.",
            "",
            "| backend | cases | statuses | seconds | conforms | profiles conformant |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Mutation score: **{caught} of {len(MUTANTS)}** mutants caught by the default run "
            "(`tests/conformance_mutants.py`; claimed cases failed, and the generators whose "
            "cases caught it).",
            "",
            "| bug | operators | caught | failed cases | caught by |",
            "|---|---|---|---|---|",
            *mutant_rows,
        ]
    )
    write_section("conformance", body)


if __name__ == "__main__":
    main()
