"""The ``tinyabi`` command line: run, plan, inspect, convert, spec, backends, conformance.

Every command reports a bad input as one line on stderr and exits with status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from tinyabi.display import load_array, short_name
from tinyabi.errors import InputError, TinyABIError
from tinyabi.ir.graph import Graph, numpy_dtype

if TYPE_CHECKING:
    from tinyabi.conformance import ConformanceReport
    from tinyabi.session import Session

__all__ = [
    "backend_list",
    "build_parser",
    "cmd_backends",
    "cmd_codegen",
    "cmd_compare",
    "cmd_conformance",
    "cmd_convert",
    "cmd_demo",
    "cmd_inspect",
    "cmd_plan",
    "cmd_run",
    "cmd_spec",
    "inspect_dict",
    "main",
    "planned_arena",
    "random_inputs",
    "read_inputs",
]


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random valid inputs for every graph input: the full range for integer types, a standard
    normal sample for floats, 0/1 for bools."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        dtype = numpy_dtype(t.dtype)
        if dtype == np.bool_:
            feeds[name] = rng.integers(0, 2, size=t.shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            feeds[name] = rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(
                dtype
            )
        else:
            feeds[name] = rng.standard_normal(t.shape).astype(dtype)
    return feeds


def read_inputs(graph: Graph, paths: Sequence[str]) -> dict[str, np.ndarray]:
    """Inputs from ``.npy`` files, given in input order or as ``NAME=FILE``."""
    feeds: dict[str, np.ndarray] = {}
    for position, item in enumerate(paths):
        name, sep, path = item.partition("=")
        if not sep:
            if position >= len(graph.inputs):
                raise InputError(
                    f"{len(paths)} input files given, the model has {len(graph.inputs)} inputs"
                )
            name, path = graph.inputs[position], item
        feeds[name] = load_array(path, "input file")
    return feeds


def _describe(value: np.ndarray) -> str:
    flat = value.reshape(-1)
    head = np.array2string(flat[:8], separator=", ", max_line_width=10_000)
    more = ", …" if flat.size > 8 else ""
    return f"{value.dtype}{list(value.shape)} {head[:-1]}{more}] argmax={int(flat.argmax())}"


def _feeds(graph: Graph, args: argparse.Namespace) -> tuple[dict[str, np.ndarray], str]:
    """The inputs of ``run``/``compare`` (files, or random with the seed) and where they came
    from; float files for integer inputs are quantized, with a note on stderr."""
    from tinyabi.display import prepare_input

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
    feeds, origin = _feeds(graph, args)
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
    feeds, origin = _feeds(graph, args)
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


def cmd_plan(args: argparse.Namespace) -> int:
    from tinyabi.dispatch.html import render_plan_html
    from tinyabi.errors import UnsupportedOperatorError
    from tinyabi.session import as_graph

    graph = as_graph(args.model)
    try:
        session = _plan_session(graph, args.backends, args.fallback, args.mode)
    except UnsupportedOperatorError as exc:
        # Show the plan as far as it goes (the nodes no backend takes marked), then fail.
        if exc.plan is not None:
            print(exc.plan)
            if args.json:
                Path(args.json).write_text(exc.plan.to_json() + "\n")
        raise
    print(session.plan)
    if args.json:
        Path(args.json).write_text(session.plan.to_json() + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        Path(args.html).write_text(render_plan_html(session.plan, session.graph), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _plan_session(graph: Graph, backends: list[Any], fallback: str, mode: Any) -> Session:
    """The session ``plan`` shows; when a node no backend runs is a custom operator tinyabi
    knows (Vela's ``ethos-u``), the error says what it is and what to do instead."""
    from tinyabi.errors import UnsupportedOperatorError
    from tinyabi.session import Session
    from tinyabi.tflite.custom import custom_op_hints

    try:
        return Session(graph, backends=backends, fallback=fallback, mode=mode)
    except UnsupportedOperatorError as exc:
        hints = [h for h in custom_op_hints(graph) if h.split(": ")[0] in str(exc)]
        if not hints:
            raise
        raise UnsupportedOperatorError(f"{exc}; hint: {'; '.join(hints)}", exc.plan) from None


def planned_arena(graph: Graph) -> str:
    """The arena a reference-only session plans for ``graph``, as text for ``inspect``."""
    from tinyabi.session import Session

    try:
        memory = Session(graph, backends=["reference"]).plan.memory
    except TinyABIError as exc:
        reason = " ".join(str(exc).split())
        return f"not planned ({reason[:120]}{'…' if len(reason) > 120 else ''})"
    if memory is None:
        return "not planned"
    return f"{memory.arena_bytes:,} (lower bound {memory.lower_bound_bytes:,})"


def cmd_inspect(args: argparse.Namespace) -> int:
    from tinyabi.session import as_graph

    graph = as_graph(args.model)
    if args.json:
        print(json.dumps(inspect_dict(graph), indent=2))
        return 0
    print(f"graph {graph.name!r}: {len(graph.nodes)} nodes, {len(graph.tensors)} tensors")
    print(f"inputs:  {', '.join(_tensor_line(graph, n) for n in graph.inputs)}")
    print(f"outputs: {', '.join(_tensor_line(graph, n) for n in graph.outputs)}")
    counts: dict[str, int] = {}
    for node in graph.nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
    print("operators: " + ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())))
    print(f"constant bytes: {graph.constant_bytes():,}")
    activations = [t for t in graph.tensors.values() if not t.is_state_or_constant]
    print(f"activation bytes (all tensors, no reuse): {sum(t.nbytes for t in activations):,}")
    persistent = [t for t in graph.tensors.values() if t.is_persistent]
    if persistent:
        names = ", ".join(short_name(t.name) for t in persistent)
        print(f"state and scratch bytes: {sum(t.nbytes for t in persistent):,} ({names})")
    print(f"planned arena bytes (reference backend): {planned_arena(graph)}")
    if graph.import_notes:
        print(f"import notes ({len(graph.import_notes)}):")
        for note in graph.import_notes:
            print(f"  {note}")
    print()
    print(f"{'#':>3}  {'node':<28} {'op':<20} outputs")
    for i, node in enumerate(graph.nodes):
        outs = ", ".join(_tensor_line(graph, n) for n in node.outputs)
        print(f"{i:>3}  {node.name:<28} {node.op:<20} {outs}")
    return 0


def _tensor_line(graph: Graph, name: str) -> str:
    t = graph.tensor(name)
    text = f"{short_name(name)} {t.dtype}{list(t.shape)}"
    if t.quant is not None and not t.quant.per_axis:
        text += f" q(scale={float(t.quant.scale[0]):.6g}, zp={int(t.quant.zero_point[0])})"
    elif t.quant is not None:
        text += f" q(per-axis {t.quant.axis}, {t.quant.scale.size} scales)"
    return text


def inspect_dict(graph: Graph) -> dict[str, object]:
    """The graph as plain data, for ``tinyabi inspect --json``."""
    return {
        "name": graph.name,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "constant_bytes": graph.constant_bytes(),
        "import_notes": graph.import_notes,
        "tensors": {
            name: {
                "dtype": t.dtype,
                "shape": list(t.shape),
                "constant": t.is_constant,
                "variable": t.variable,
                "scratch": t.scratch,
                "quantization": None if t.quant is None else t.quant.to_dict(),
            }
            for name, t in graph.tensors.items()
        },
        "nodes": [
            {
                "name": n.name,
                "op": n.op,
                "version": n.version,
                "inputs": n.inputs,
                "outputs": n.outputs,
                "attrs": {k: v for k, v in n.attrs.items() if not isinstance(v, bytes)},
            }
            for n in graph.nodes
        ],
    }


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


def backend_list(text: str) -> list[str | tuple[str, dict[str, object]]]:
    """``a,b:key=value:key2=value2,c`` as the backend list a Session takes: names, or
    ``(name, options)`` pairs for entries that carry options. Values stay text: the backend's
    declared options convert them (``"4"`` to 4, ``"true"`` to True, ``"A+B"`` to a list)."""
    backends: list[str | tuple[str, dict[str, object]]] = []
    for item in (b.strip() for b in text.split(",")):
        if not item:
            continue
        name, *pairs = item.split(":")
        options: dict[str, object] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise argparse.ArgumentTypeError(f"backend option {pair!r} is not KEY=VALUE")
            options[key] = value
        backends.append((name, options) if options else name)
    return backends


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other tinyabi error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tinyabi: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _add_backends_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backends",
        type=backend_list,
        default=["reference"],
        help="backend preference order, comma-separated; options as NAME:KEY=VALUE, e.g. "
        "cmsis-nn:target=cortex-m4 (default: reference)",
    )


def _add_fallback_arguments(parser: argparse.ArgumentParser, strict: bool = True) -> None:
    parser.add_argument(
        "--fallback",
        default="reference",
        metavar="NAME|error",
        help="backend for nodes no listed backend takes, or 'error' (default: reference)",
    )
    if strict:
        parser.add_argument(
            "--strict",
            action="store_true",
            help="a backend that fails to compile is an error, not a fallback",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tinyabi`` command."""
    from tinyabi import __version__

    parser = _Parser(
        prog="tinyabi", description="One operator set and tensor ABI across TinyML runtimes."
    )
    parser.add_argument("--version", action="version", version=f"tinyabi {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars (shown only on a terminal)"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    run = sub.add_parser("run", help="run a model and print its outputs")
    run.add_argument("model", help="a .tflite file")
    _add_backends_argument(run)
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="[NAME=]FILE.npy",
        help="an input as a .npy file, by position or by name; repeat for more inputs",
    )
    run.add_argument("--output", metavar="FILE.npz", help="write the outputs to an .npz file")
    run.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    _add_fallback_arguments(run)
    run.add_argument("--full", action="store_true", help="print whole outputs, not 8 values")
    run.add_argument(
        "--profile", action="store_true", help="time the run per partition and print the table"
    )
    run.add_argument(
        "--profile-runs", type=int, default=10, metavar="N", help="runs to profile (default 10)"
    )
    run.add_argument(
        "--dump-tensors", metavar="DIR", help="write every intermediate tensor as .npy to DIR"
    )
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser(
        "compare", help="run the same inputs through several backend lists, side by side"
    )
    compare.add_argument("model", help="a model file")
    compare.add_argument(
        "--backends",
        type=backend_list,
        nargs="+",
        default=[],
        metavar="LIST",
        help="two or more backend lists (each comma-separated, options as NAME:KEY=VALUE); "
        "the first is the baseline (with --against: one list, for the integer model)",
    )
    compare.add_argument(
        "--against", metavar="FLOAT_MODEL", help="the float model to measure accuracy against"
    )
    compare.add_argument(
        "--inputs", metavar="DIR", help="with --against: a folder of .npy float samples"
    )
    compare.add_argument(
        "--labels", metavar="FILE", help="with --against: class labels (text or .npy)"
    )
    compare.add_argument(
        "--float-backends",
        type=backend_list,
        default=["reference"],
        metavar="LIST",
        help="with --against: backends for the float model (default: reference)",
    )
    compare.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="[NAME=]FILE.npy",
        help="an input as a .npy file (float files are quantized for integer inputs)",
    )
    compare.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    compare.add_argument(
        "--fallback",
        default="reference",
        metavar="NAME|error",
        help="backend for nodes a list's backends do not take, or 'error' (default: reference)",
    )
    compare.add_argument(
        "--per-layer", action="store_true", help="also find the first layer that differs"
    )
    compare.add_argument(
        "--runs", type=int, default=5, help="timed runs per list for the latency (default 5)"
    )
    compare.add_argument("--json", metavar="FILE.json", help="also write the comparison as JSON")
    compare.set_defaults(func=cmd_compare)

    plan = sub.add_parser(
        "plan", help="show which backend runs each node, the partitions and the memory plan"
    )
    plan.add_argument("model", help="a .tflite file")
    _add_backends_argument(plan)
    _add_fallback_arguments(plan, strict=False)
    plan.add_argument(
        "--mode",
        choices=["first-claim", "cost"],
        default="first-claim",
        help="first backend that claims a node, or lowest estimated cost (default: first-claim)",
    )
    plan.add_argument("--json", metavar="FILE.json", help="also write the plan as JSON")
    plan.add_argument(
        "--html", metavar="FILE.html", help="also write a self-contained HTML view of the plan"
    )
    plan.set_defaults(func=cmd_plan)

    inspect = sub.add_parser("inspect", help="show a model's operators, tensors and memory")
    inspect.add_argument("model", help="a .tflite file")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    inspect.set_defaults(func=cmd_inspect)

    convert = sub.add_parser(
        "convert", help="convert a model of any format tinyabi reads (.onnx, ...) to .tflite"
    )
    convert.add_argument("model", help="a model file (.tflite, or a format a plugin reads)")
    convert.add_argument(
        "--output", "-o", required=True, metavar="FILE.tflite", help="the .tflite file to write"
    )
    convert.set_defaults(func=cmd_convert)

    spec = sub.add_parser("spec", help="render the spec as Markdown and export its JSON Schema")
    spec.add_argument("--output", "-o", metavar="FILE.md", help="write the Markdown here")
    spec.add_argument("--json-schema", metavar="FILE.json", help="write the JSON Schema here")
    spec.set_defaults(func=cmd_spec)

    backends = sub.add_parser("backends", help="list the available backends")
    backends.add_argument(
        "--verbose", "-v", action="store_true", help="one operator per line, not a wrapped list"
    )
    backends.add_argument(
        "--options",
        action="store_true",
        help="every backend's options as a Markdown table (the README's table)",
    )
    backends.set_defaults(func=cmd_backends)

    codegen = sub.add_parser(
        "codegen", help="generate a self-contained source project for a model with one backend"
    )
    codegen.add_argument("model", help="a .tflite file")
    codegen.add_argument(
        "--backend",
        required=True,
        type=backend_list,
        metavar="NAME[:KEY=VALUE...]",
        help="the backend that generates the code, with options as NAME:KEY=VALUE "
        "(e.g. cmsis-nn:target=cortex-m55 sizes the buffers for one core)",
    )
    codegen.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
    codegen.add_argument(
        "--cmsis-nn",
        metavar="PATH",
        help="cmsis-nn backend: build with the CMSIS-NN source tree at PATH (Arm's library) "
        "instead of tinyabi's portable copy; the Makefile compiles only the sources the model "
        "needs (default: $CMSIS_NN_PATH)",
    )
    codegen.set_defaults(func=cmd_codegen)

    conformance = sub.add_parser(
        "conformance",
        help="run a backend against the conformance cases generated from the spec",
    )
    conformance.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=["run", "export", "grade"],
        help="run (default) the cases on --backend; export DIR: write them as device vectors "
        "(.tflite, .npy/.bin, manifest.json); grade DIR RESULTS: grade a device's outputs",
    )
    conformance.add_argument("paths", nargs="*", metavar="DIR", help="folders of export/grade")
    conformance.add_argument(
        "--backend",
        type=backend_list,
        metavar="NAME[:KEY=VALUE...]",
        help="the backend under test, with options as NAME:KEY=VALUE",
    )
    conformance.add_argument(
        "--ops", metavar="A,B", help="only these operators, comma-separated (default: all)"
    )
    conformance.add_argument(
        "--cases",
        type=int,
        default=5,
        help="cases per operator signature and generator (default 5)",
    )
    conformance.add_argument(
        "--seed", type=int, default=0, help="seed of the generated cases (default 0)"
    )
    conformance.add_argument(
        "--generators",
        metavar="A,B",
        help="case generators, comma-separated: pseudo-random, full-range, special, shapes, "
        "negative (default: all)",
    )
    conformance.add_argument(
        "--jobs", "-j", type=int, default=1,
        help="worker processes running the cases (default 1; 0 runs them in this process)",
    )  # fmt: skip
    conformance.add_argument(
        "--shard", default="1/1", metavar="I/N", help="run only shard I of N (CI matrices)"
    )
    conformance.add_argument(
        "--timeout", type=float, default=60.0, metavar="S",
        help="time limit of one case in seconds (default 60)",
    )  # fmt: skip
    conformance.add_argument(
        "--memory-limit", type=int, default=4096, metavar="MB",
        help="data memory limit of a worker process in MiB (default 4096)",
    )  # fmt: skip
    for flag, what in (
        ("--include", "run only cases whose id matches"),
        ("--exclude", "skip cases whose id matches"),
        ("--xfail", "expect cases whose id matches to fail"),
    ):
        conformance.add_argument(
            flag, action="append", default=[], metavar="PATTERN",
            help=f"{what} PATTERN (OP/signature/generator/index, * wildcards; repeatable)",
        )  # fmt: skip
    conformance.add_argument("--json", metavar="FILE.json", help="also write the report as JSON")
    conformance.add_argument("--junit", metavar="FILE.xml", help="also write JUnit XML")
    conformance.add_argument(
        "--html", metavar="FILE.html", help="also write the operator x signature x generator matrix"
    )
    conformance.set_defaults(func=cmd_conformance)

    demo = sub.add_parser(
        "demo", help="build a small int8 model in code, run it, compare with TFLM"
    )
    demo.add_argument("--save", metavar="FILE.tflite", help="also write the model to a file")
    demo.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tinyabi`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from tinyabi.errors import FallbackWarning
    from tinyabi.progress import quiet

    try:
        with quiet(args.quiet), warnings.catch_warnings():
            # Commands print every fallback themselves, in one line.
            warnings.simplefilter("ignore", FallbackWarning)
            return int(args.func(args))
    except BrokenPipeError:  # the reader went away (`tinyabi backends | head`): not an error
        # Python flushes stdout again at exit; point it at /dev/null so that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (TinyABIError, OSError) as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.strerror:
            exc = OSError(f"{exc.filename or ''}: {exc.strerror.lower()}".lstrip(": "))
        message = " ".join(str(exc).split())
        print(f"tinyabi: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
