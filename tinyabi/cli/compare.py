"""``tinyabi compare``: backend lists side by side, or an integer model against its float
original."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tinyabi.errors import InputError
from tinyabi.ir.graph import Graph

if TYPE_CHECKING:
    pass
from tinyabi.cli.run import command_feeds

__all__ = ["cmd_compare"]


def cmd_compare(args: argparse.Namespace) -> int:
    from tinyabi.compare import compare_backends
    from tinyabi.session import as_graph

    graph = as_graph(args.model)
    if args.against:
        return _compare_with_float(graph, args)
    if args.inputs or args.labels:
        raise InputError("--inputs and --labels go with --against FLOAT_MODEL")
    if len(args.backends) < 2:
        raise InputError("compare needs two or more backend lists (or --against FLOAT_MODEL)")
    feeds, origin = command_feeds(graph, args)
    comparison = compare_backends(
        graph,
        args.backends,
        feeds,
        inputs=origin,
        runs=args.runs,
        per_layer=args.per_layer,
        fallback=args.fallback,
    )
    print(comparison)
    if args.json:
        Path(args.json).write_text(comparison.model_dump_json(indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    agree = all(r.agrees for r in comparison.results) and not comparison.divergences
    return 0 if agree else 1


def _compare_with_float(graph: Graph, args: argparse.Namespace) -> int:
    from tinyabi.accuracy import compare_with_float, read_labels, read_samples
    from tinyabi.session import as_graph

    if not args.inputs:
        raise InputError("--against needs --inputs DIR (a folder of .npy samples)")
    float_graph = as_graph(args.against)
    samples = read_samples(args.inputs, float_graph)
    labels = read_labels(args.labels) if args.labels else None
    backends = args.backends[0] if args.backends else ["reference"]
    report = compare_with_float(
        graph, float_graph, samples, labels, backends=backends, float_backends=args.float_backends
    )
    print(report)
    if args.json:
        Path(args.json).write_text(report.model_dump_json(indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
