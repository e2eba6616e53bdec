"""``tinyabi run``: run a model, say what ran, show its outputs, profile it, dump its tensors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinyabi.feeds import random_inputs, read_inputs
from tinyabi.ir.graph import Graph

if TYPE_CHECKING:
    from tinyabi.session import Session

__all__ = ["cmd_run", "command_feeds"]


def command_feeds(graph: Graph, args: argparse.Namespace) -> tuple[dict[str, np.ndarray], str]:
    """The inputs of ``run``/``compare`` (files, or random with the seed) and where they came
    from; float files for integer inputs are quantized, with a note on stderr."""
    from tinyabi.feeds import prepare_input

    if not args.input:
        return random_inputs(graph, args.seed), f"random (seed {args.seed})"
    feeds = read_inputs(graph, args.input)
    for name in list(feeds):
        feeds[name], note = prepare_input(graph, name, feeds[name])
        if note:
            print(note, file=sys.stderr)
    return feeds, "from " + ", ".join(args.input)


def _say_what_ran(session: Session) -> None:
    """One line per partition on stderr (backend, node count), then every fallback: nodes a
    preferred backend declined, and partitions a backend failed to compile."""
    for part in session.plan.partitions:
        ops = sorted({n.op for n in session.plan.nodes if n.partition == part.index})
        print(
            f"partition {part.index}: {part.backend} ran {len(part.nodes)} node(s) "
            f"({', '.join(ops)})",
            file=sys.stderr,
        )
    for line in session.plan.declines():
        print(f"fallback: {line}", file=sys.stderr)
    for fallback in session.fallbacks:
        print(f"fallback: {fallback}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from tinyabi.display import describe_output
    from tinyabi.session import Session, as_graph

    graph = as_graph(args.model)
    session = Session(graph, backends=args.backends, fallback=args.fallback, strict=args.strict)
    feeds, origin = command_feeds(graph, args)
    print(f"inputs: {origin}", file=sys.stderr)
    _say_what_ran(session)
    outputs = session.run(feeds)
    for name, value in outputs.items():
        print(f"{name}: {describe_output(graph, name, value, full=args.full)}")
    if args.profile:
        print(session.profile(feeds, runs=args.profile_runs))
    if args.dump_tensors:
        _dump_tensors(graph, args, feeds)
    if args.output:
        np.savez(args.output, **outputs)  # type: ignore[arg-type]
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _dump_tensors(graph: Graph, args: argparse.Namespace, feeds: dict[str, np.ndarray]) -> None:
    """Every tensor a node produces, as ``DIR/NNN_<tensor>.npy`` in execution order."""
    from tinyabi.compare import with_every_tensor_as_output
    from tinyabi.session import Session

    every = with_every_tensor_as_output(graph)
    values = Session(every, backends=args.backends, fallback=args.fallback, strict=True).run(feeds)
    folder = Path(args.dump_tensors)
    folder.mkdir(parents=True, exist_ok=True)
    step = 0
    for node in every.nodes:
        for name in node.outputs:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
            np.save(folder / f"{step:03d}_{safe}.npy", values[name])
            step += 1
    print(f"wrote {step} tensors to {folder}", file=sys.stderr)
