"""The ``tinyabi`` command line: run, plan, inspect, spec, backends, conformance.

Every command reports a bad input as one line on stderr and exits with status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from tinyabi.errors import InputError, TinyABIError
from tinyabi.ir.graph import Graph, numpy_dtype


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
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read input file {path}: {exc}") from None
    return feeds


def _describe(value: np.ndarray) -> str:
    flat = value.reshape(-1)
    head = np.array2string(flat[:8], separator=", ", max_line_width=10_000)
    more = ", …" if flat.size > 8 else ""
    return f"{value.dtype}{list(value.shape)} {head[:-1]}{more}] argmax={int(flat.argmax())}"


def cmd_run(args: argparse.Namespace) -> int:
    from tinyabi.session import Session, as_graph

    graph = as_graph(args.model)
    session = Session(graph, backends=args.backends)
    feeds = read_inputs(graph, args.input) if args.input else random_inputs(graph, args.seed)
    outputs = session.run(feeds)
    for name, value in outputs.items():
        print(f"{name}: {_describe(value)}")
    if args.output:
        np.savez(args.output, **outputs)  # type: ignore[arg-type]
        print(f"wrote {args.output}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from tinyabi.dispatch.html import render_plan_html
    from tinyabi.session import Session

    session = Session(args.model, backends=args.backends, fallback=args.fallback, mode=args.mode)
    print(session.plan)
    if args.json:
        Path(args.json).write_text(session.plan.to_json() + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        Path(args.html).write_text(render_plan_html(session.plan, session.graph), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


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
    activations = [t for t in graph.tensors.values() if not t.is_constant]
    print(f"activation bytes (all tensors, no reuse): {sum(t.nbytes for t in activations):,}")
    print(f"planned arena bytes (reference backend): {planned_arena(graph)}")
    print()
    print(f"{'#':>3}  {'node':<28} {'op':<20} outputs")
    for i, node in enumerate(graph.nodes):
        outs = ", ".join(_tensor_line(graph, n) for n in node.outputs)
        print(f"{i:>3}  {node.name:<28} {node.op:<20} {outs}")
    return 0


def _short(name: str, width: int = 40) -> str:
    """A tensor name cut to ``width`` characters (converters produce very long ones)."""
    return name if len(name) <= width else name[: width // 2 - 1] + "…" + name[-(width // 2) :]


def _tensor_line(graph: Graph, name: str) -> str:
    t = graph.tensor(name)
    text = f"{_short(name)} {t.dtype}{list(t.shape)}"
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
        "tensors": {
            name: {
                "dtype": t.dtype,
                "shape": list(t.shape),
                "constant": t.is_constant,
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
    from tinyabi.backends.registry import default_registry, describe_backends

    print(describe_backends(default_registry(), verbose=args.verbose))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tflite_micro.python.tflite_micro import runtime

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
    from tinyabi.backends.registry import default_registry

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
    tflm = runtime.Interpreter.from_bytes(model, arena_size=64 * 1024)
    for i, value in enumerate(feeds.values()):
        tflm.set_input(value, i)
    tflm.invoke()
    for i, (name, value) in enumerate(ours.items()):
        theirs = np.asarray(tflm.get_output(i))
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
    return 0


def cmd_conformance(args: argparse.Namespace) -> int:
    from tinyabi.conformance import run_conformance

    if len(args.backend) != 1:
        raise InputError(f"--backend takes one backend, got {len(args.backend)}")
    ops = [o.strip().upper() for o in args.ops.split(",") if o.strip()] if args.ops else None
    report = run_conformance(
        args.backend[0], ops=ops, cases_per_signature=args.cases, seed=args.seed
    )
    print(report)
    if args.json:
        Path(args.json).write_text(report.to_json() + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if report.ok else 1


def _option_value(text: str) -> object:
    """A backend option's value from the command line: an int, a bool, or the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def backend_list(text: str) -> list[str | tuple[str, dict[str, object]]]:
    """``a,b:key=value:key2=value2,c`` as the backend list a Session takes: names, or
    ``(name, options)`` pairs for entries that carry options."""
    backends: list[str | tuple[str, dict[str, object]]] = []
    for item in (b.strip() for b in text.split(",")):
        if not item:
            continue
        name, *pairs = item.split(":")
        options = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise argparse.ArgumentTypeError(f"backend option {pair!r} is not KEY=VALUE")
            options[key] = _option_value(value)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tinyabi`` command."""
    from tinyabi import __version__

    parser = _Parser(
        prog="tinyabi", description="One operator set and tensor ABI across TinyML runtimes."
    )
    parser.add_argument("--version", action="version", version=f"tinyabi {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
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
    run.set_defaults(func=cmd_run)

    plan = sub.add_parser(
        "plan", help="show which backend runs each node, the partitions and the memory plan"
    )
    plan.add_argument("model", help="a .tflite file")
    _add_backends_argument(plan)
    plan.add_argument(
        "--fallback",
        default="reference",
        metavar="NAME|error",
        help="backend for nodes no listed backend takes, or 'error' (default: reference)",
    )
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

    spec = sub.add_parser("spec", help="render the spec as Markdown and export its JSON Schema")
    spec.add_argument("--output", "-o", metavar="FILE.md", help="write the Markdown here")
    spec.add_argument("--json-schema", metavar="FILE.json", help="write the JSON Schema here")
    spec.set_defaults(func=cmd_spec)

    backends = sub.add_parser("backends", help="list the available backends")
    backends.add_argument("--verbose", "-v", action="store_true", help="list operators too")
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
        "--backend",
        required=True,
        type=backend_list,
        metavar="NAME[:KEY=VALUE...]",
        help="the backend under test, with options as NAME:KEY=VALUE",
    )
    conformance.add_argument(
        "--ops", metavar="A,B", help="only these operators, comma-separated (default: all)"
    )
    conformance.add_argument(
        "--cases", type=int, default=5, help="cases per operator signature (default 5)"
    )
    conformance.add_argument(
        "--seed", type=int, default=0, help="seed of the generated cases (default 0)"
    )
    conformance.add_argument("--json", metavar="FILE.json", help="also write the report as JSON")
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
    try:
        return int(args.func(args))
    except (TinyABIError, OSError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split())
        print(f"tinyabi: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
