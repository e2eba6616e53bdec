"""The argument parser of the ``tinyabi`` command: every subcommand, its options, and the
``NAME:KEY=VALUE`` backend lists they share."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    pass
from tinyabi.cli.compare import cmd_compare
from tinyabi.cli.conformance import cmd_conformance
from tinyabi.cli.inspection import cmd_inspect
from tinyabi.cli.plan import cmd_plan
from tinyabi.cli.run import cmd_run
from tinyabi.cli.tools import cmd_backends, cmd_codegen, cmd_convert, cmd_demo, cmd_spec

__all__ = ["backend_list", "build_parser"]


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
