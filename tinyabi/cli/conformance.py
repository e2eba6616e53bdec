"""``tinyabi conformance``: run, export and grade the conformance suite for a backend."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tinyabi.errors import InputError

if TYPE_CHECKING:
    from tinyabi.conformance import ConformanceReport

__all__ = ["cmd_conformance"]


def _names(text: str | None, upper: bool = False) -> list[str]:
    """A comma-separated list (repeated options joined) as names."""
    items = [i.strip() for i in (text or "").split(",") if i.strip()]
    return [i.upper() for i in items] if upper else items


def cmd_conformance(args: argparse.Namespace) -> int:
    from tinyabi.conformance import DEFAULT_GENERATORS, Selection, run_conformance
    from tinyabi.conformance.selection import parse_shard
    from tinyabi.conformance.vectors import export_vectors, grade_vectors

    wanted = {"run": 0, "export": 1, "grade": 2}[args.action]
    if len(args.paths) != wanted:
        usage = {"run": "no folders", "export": "DIR", "grade": "DIR RESULTS"}[args.action]
        raise InputError(f"conformance {args.action} takes {usage}, got {args.paths or 'none'}")
    selection = Selection(
        include=tuple(_names(",".join(args.include))),
        exclude=tuple(_names(",".join(args.exclude))),
        xfail=tuple(_names(",".join(args.xfail))),
        shard=parse_shard(args.shard),
    )
    ops = _names(args.ops, upper=True) or None
    generators = _names(args.generators) or DEFAULT_GENERATORS
    if args.action == "export":
        manifest = export_vectors(args.paths[0], ops, args.cases, args.seed, generators, selection)
        print(
            f"wrote {len(manifest.cases)} case(s) to {args.paths[0]} "
            f"({len(manifest.skipped)} not exportable as .tflite)"
        )
        return 0
    if args.action == "grade":
        name = args.backend[0] if args.backend else "device"
        report = grade_vectors(args.paths[0], args.paths[1], str(name))
        return _conformance_results(report, args)
    if not args.backend:
        raise InputError("conformance needs --backend NAME (the backend under test)")
    if len(args.backend) != 1:
        raise InputError(f"--backend takes one backend, got {len(args.backend)}")
    report = run_conformance(
        args.backend[0],
        ops=ops,
        cases_per_signature=args.cases,
        seed=args.seed,
        generators=generators,
        jobs=args.jobs,
        timeout=args.timeout,
        memory_mb=args.memory_limit,
        selection=selection,
    )
    if selection == Selection():
        from tinyabi.conformance.verified import record_report

        print(f"cached the verdicts in {record_report(report)}", file=sys.stderr)
    return _conformance_results(report, args)


def _conformance_results(report: ConformanceReport, args: argparse.Namespace) -> int:
    """Print a conformance report, write the files asked for; the exit status."""
    from tinyabi.conformance.junit import to_junit_xml

    print(report)
    if args.json:
        Path(args.json).write_text(report.to_json() + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.junit:
        Path(args.junit).write_text(to_junit_xml(report))
        print(f"wrote {args.junit}", file=sys.stderr)
    if args.html:
        from tinyabi.conformance.html import render_matrix_html

        Path(args.html).write_text(render_matrix_html(report), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0 if report.ok else 1
