"""The small commands: ``spec``, ``backends``, ``demo``, ``codegen`` and ``convert``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinyabi.errors import InputError
from tinyabi.feeds import random_inputs

if TYPE_CHECKING:
    pass

__all__ = ["cmd_backends", "cmd_codegen", "cmd_convert", "cmd_demo", "cmd_spec"]


def cmd_spec(args: argparse.Namespace) -> int:
    from tinyabi.spec import load_spec
    from tinyabi.spec.render import json_schema, render_markdown

    text = render_markdown(load_spec())
    if args.json_schema:
        Path(args.json_schema).write_text(json.dumps(json_schema(), indent=2) + "\n")
        print(f"wrote {args.json_schema}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    elif not args.json_schema:
        sys.stdout.write(text)
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from tinyabi.backends.options_table import options_table
    from tinyabi.backends.registry import default_registry, describe_backends

    if args.options:
        print(options_table(default_registry()), end="")
        return 0
    print(describe_backends(default_registry(), verbose=args.verbose))
    return 0


def _describe(value: np.ndarray) -> str:
    flat = value.reshape(-1)
    head = np.array2string(flat[:8], separator=", ", max_line_width=10_000)
    more = ", …" if flat.size > 8 else ""
    return f"{value.dtype}{list(value.shape)} {head[:-1]}{more}] argmax={int(flat.argmax())}"


def cmd_demo(args: argparse.Namespace) -> int:
    from tinyabi.backends.registry import default_registry
    from tinyabi.demo import build_demo_model
    from tinyabi.session import Session
    from tinyabi.tflite.exporter import export_tflite

    graph = build_demo_model()
    model = export_tflite(graph)
    print(
        f"built {graph.name!r} in code: {len(graph.nodes)} nodes "
        f"({', '.join(n.op for n in graph.nodes)}), exported to {len(model):,} bytes of .tflite"
    )
    if args.save:
        Path(args.save).write_bytes(model)
        print(f"wrote {args.save}")
    installed = default_registry().names()
    backends: list[str] = [b for b in ("cmsis-nn", "tflm") if b in installed] or ["reference"]
    session = Session(graph, backends=backends)
    print(f"\nplan with backends {backends}:")
    for part in session.plan.partitions:
        ops = ", ".join(n.op for n in session.plan.nodes if n.partition == part.index)
        print(f"  partition {part.index} on {part.backend}: {ops}")
    print(f"  one arena of {session.memory.arena_bytes:,} bytes\n")
    feeds = random_inputs(graph, args.seed)
    ours = session.run(feeds)
    if "tflm" not in installed:
        for name, value in ours.items():
            print(f"{name}: {_describe(value)}")
        print(
            "\nto compare with TensorFlow Lite Micro, install the tflm plugin: "
            "pip install -e plugins/tinyabi-tflm"
        )
        return 0
    # The whole model on TFLM alone: a fallback would compare tinyabi with itself.
    tflm = Session(graph, backends=["tflm"], fallback="error", strict=True).run(feeds)
    for name, value in ours.items():
        theirs = tflm[name]
        same = "byte-identical to" if np.array_equal(value, theirs) else "DIFFERENT from"
        print(f"{name}: {_describe(value)}")
        print(f"  {same} TensorFlow Lite Micro: {_describe(theirs)}")
    return 0


def cmd_codegen(args: argparse.Namespace) -> int:
    from tinyabi.backends.registry import default_registry
    from tinyabi.dispatch.partition import safe_supports
    from tinyabi.errors import UnsupportedOperatorError
    from tinyabi.session import as_graph

    if len(args.backend) != 1:
        raise InputError(f"--backend takes one backend, got {len(args.backend)}")
    entry = args.backend[0]
    name, options = (entry, {}) if isinstance(entry, str) else entry
    if args.cmsis_nn is not None:
        if name != "cmsis-nn":
            raise InputError(f"--cmsis-nn applies to the cmsis-nn backend, not {name!r}")
        options = {**options, "cmsis_nn_path": args.cmsis_nn}
    graph = as_graph(args.model)
    backend = default_registry().create(name, options)
    refused = [(n, v) for n in graph.nodes if not (v := safe_supports(backend, n, graph))]
    if refused:
        details = "; ".join(f"{n.describe()}: {v.reason}" for n, v in refused[:5])
        raise UnsupportedOperatorError(
            f"backend {name!r} cannot generate code for {len(refused)} node(s): {details}"
        )
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for path in backend.generate_code(graph, out):
        print(f"wrote {path}")
    # A backend may describe what it generated (cmsis-nn: the measured flash and RAM).
    summary = getattr(backend, "codegen_summary", None)
    text = summary(out) if callable(summary) else None
    if text:
        print(f"\n{text}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from tinyabi.session import as_graph
    from tinyabi.tflite import export_tflite

    graph = as_graph(args.model)
    extensions = sorted({n.op for n in graph.nodes if n.is_extension and "." in n.op})
    foreign = [op for op in extensions if not op.startswith("tflite.")]
    if foreign:
        raise InputError(
            f"{args.model}: {len(foreign)} operator(s) have no TFLite form: "
            f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}"
        )
    data = export_tflite(graph, description=f"tinyabi convert {Path(args.model).name}")
    out = Path(args.output)
    out.write_bytes(data)
    print(f"wrote {out} ({len(data):,} bytes, {len(graph.nodes)} operators)")
    return 0
