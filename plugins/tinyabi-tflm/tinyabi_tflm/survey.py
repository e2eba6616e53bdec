"""Ask the runtimes what they run, and compare (or rewrite) ``capabilities.yaml``.

For every spec operator and signature, and for every operator of the file's ``forms`` under
every candidate type key, build a one-node model (:mod:`tinyabi_tflm.singleop`,
:mod:`tinyabi_tflm.forms`, :mod:`tinyabi_tflm.signal_forms`), export it with tinyabi's exporter
and run it once in the worker process. Accepted means the runtime loaded, prepared and invoked
it. The forms cover builtins outside the spec, the signal library's custom operators
(``custom.SignalWindow``...: TFLM's Python interpreter registers them) and spec operators under
types beyond the spec's signatures (a form model that matches a spec signature is left to the
spec lists). ``registered`` asks which operators a runtime has kernels for at all;
:func:`builtin_names` and :func:`library_signal_ops` give the names to ask about, so the tests
can check that every operator TFLM registers is surveyed. A whole survey of both runtimes takes
under half a minute on a busy 2-core machine (a few thousand probes of a few milliseconds each;
a probe that crashes the runtime costs a worker restart).

    python -m tinyabi_tflm.survey            # list the differences; exit status 1 if any
    python -m tinyabi_tflm.survey --write    # rewrite the lists in capabilities.yaml
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tinyabi.errors import GraphError
from tinyabi.ir import Graph, GraphBuilder, validate_node
from tinyabi.spec import load_spec
from tinyabi.tflite import export_tflite
from tinyabi.tflite.schema import BUILTIN_NAMES
from tinyabi_tflm import capabilities, runtimes
from tinyabi_tflm.export import export_partition
from tinyabi_tflm.forms import extension_model
from tinyabi_tflm.isolation import Worker
from tinyabi_tflm.jobs import RunResult, probe_inputs, run_isolated
from tinyabi_tflm.signal_forms import SIGNAL_FORMS, signal_candidate_keys
from tinyabi_tflm.singleop import CANDIDATE_TYPES, spec_model

#: Seconds a single probe may take (a probe model is tiny).
PROBE_TIMEOUT = 30.0


def candidate_keys(form: str) -> list[str]:
    """The type keys the survey tries for an operator of ``form``."""
    types = CANDIDATE_TYPES
    if form in SIGNAL_FORMS:
        return signal_candidate_keys(form, types)
    if form == "cast":
        return [f"{a}->{b}" for a in types for b in types if a != b]
    if form == "compare":
        return [f"{t}->bool" for t in types]
    if form in ("arg", "shape"):
        return [f"{t}->{o}" for t in types for o in ("int32", "int64")]
    return list(types)


def probe(graph: Graph, runtime: str, worker: Worker) -> RunResult:
    """Run the one-node ``graph`` once on ``runtime`` in the worker."""
    model = export_partition(graph).model
    return run_isolated(runtime, model, probe_inputs(graph), len(graph.outputs), worker)


@dataclass
class Answers:
    """What one runtime accepted."""

    spec: dict[str, list[str]] = field(default_factory=dict)
    extension: dict[str, list[str]] = field(default_factory=dict)
    #: ``(operator, signature or key) -> why it was refused``, for reports.
    refusals: dict[tuple[str, str], str] = field(default_factory=dict)


def ask_spec(runtime: str, worker: Worker, answers: Answers) -> None:
    """Try every spec operator under every spec signature."""
    for op, spec in load_spec().operators.items():
        for signature in spec.signatures:
            result = probe(spec_model(op, signature.name), runtime, worker)
            if result.ok:
                answers.spec.setdefault(op, []).append(signature.name)
            else:
                answers.refusals[op, signature.name] = result.describe()


def ask_extension(runtime: str, forms: Mapping[str, str], worker: Worker, answers: Answers) -> None:
    """Try every extension operator of ``forms`` under every candidate type key."""
    spec_ops = load_spec().operators
    for op, form in forms.items():
        for key in candidate_keys(form):
            graph = extension_model(op, form, key)
            if graph is None or (op in spec_ops and _within_spec(graph)):
                continue
            result = probe(graph, runtime, worker)
            if result.ok:
                answers.extension.setdefault(op, []).append(key)
            else:
                answers.refusals[op, key] = result.describe()


def _within_spec(graph: Graph) -> bool:
    """Whether the one node of ``graph`` matches a spec signature (the spec lists cover it)."""
    try:
        validate_node(graph.nodes[0], graph)
    except GraphError:
        return False
    return True


def ask(runtime: str, forms: Mapping[str, str], worker: Worker | None = None) -> Answers:
    """Everything ``runtime`` accepts among the spec signatures and ``forms``."""
    worker = worker or Worker(timeout=PROBE_TIMEOUT)
    answers = Answers()
    try:
        ask_spec(runtime, worker, answers)
        ask_extension(runtime, forms, worker, answers)
    finally:
        worker.close()
    return answers


#: What TFLM and LiteRT say when a model names an operator they have no kernel for.
_UNREGISTERED = (
    "Didn't find op for builtin opcode",
    "Didn't find op for custom opcode",
    "Failed to get registration from op code",
    "Encountered unresolved custom op",
)


def registered(runtime: str, names: Iterable[str], worker: Worker | None = None) -> dict[str, bool]:
    """For each TFLite operator name (a builtin, or ``custom.<code>``), whether ``runtime`` has
    a kernel for it at all.

    The probe is a float32 node without options: the runtime looks its kernel up before it
    checks anything else, and says so (:data:`_UNREGISTERED`) when there is none.
    """
    own = worker is None
    worker = worker or Worker(timeout=PROBE_TIMEOUT)
    found = {}
    try:
        for name in names:
            b = GraphBuilder(name.lower().replace(".", "_"))
            x = b.input("x", "float32", (1, 4))
            y = b.tensor("y", "float32", (1, 4))
            b.node(f"tflite.{name}", [x], [y])
            result = run_isolated(runtime, export_tflite(b.build([y])), [], 1, worker)
            text = result.error + result.log
            found[name] = not any(marker in text for marker in _UNREGISTERED)
    finally:
        if own:
            worker.close()
    return found


def builtin_names() -> list[str]:
    """Every builtin operator TFLite's schema names (``CUSTOM`` and placeholders aside)."""
    return sorted(
        name
        for name in BUILTIN_NAMES.values()
        if name != "CUSTOM" and not name.startswith("PLACEHOLDER")
    )


def library_signal_ops() -> list[str]:
    """The signal library's operator names in TFLM's native library (``custom.SignalWindow``...):
    the registration names its Python op resolver carries, read from the shared objects."""
    package = Path(runtimes.tflm_module().__file__ or "").parent
    names: set[str] = set()
    for library in package.rglob("*.so"):
        data = library.read_bytes()
        names.update(
            m.decode() for m in re.findall(rb"(?<=\x00)Signal[A-Z][A-Za-z]*(?=\x00)", data)
        )
    return sorted(f"custom.{name}" for name in names)


def differences(listed: capabilities.RuntimeCapabilities, answers: Answers) -> list[str]:
    """Where the file and the runtime disagree, one line each."""
    lines = []
    ops = sorted(set(listed.spec) | set(answers.spec))
    for op in ops:
        have, got = set(listed.spec.get(op, ())), set(answers.spec.get(op, ()))
        for sig in sorted(have - got):
            why = answers.refusals.get((op, sig), "")
            lines.append(f"{listed.runtime}: {op} {sig} is listed but refused: {why}")
        for sig in sorted(got - have):
            lines.append(f"{listed.runtime}: {op} {sig} runs but is not listed")
    spec_ops = load_spec().operators
    for op in sorted(set(listed.extension) | set(answers.extension)):
        have, got = set(listed.extension.get(op, ())), set(answers.extension.get(op, ()))
        name = op if op in spec_ops else f"tflite.{op}"
        for key in sorted(have - got):
            why = answers.refusals.get((op, key), "")
            lines.append(f"{listed.runtime}: {name} {key} is listed but refused: {why}")
        for key in sorted(got - have):
            lines.append(f"{listed.runtime}: {name} {key} runs but is not listed")
    return lines


_HEADER = """\
# What TensorFlow Lite Micro (tflm) and LiteRT (litert) run, as the tinyabi-tflm backends claim
# it. The one place these lists are written down; tinyabi_tflm/capabilities.py reads it.
#
# forms: each TFLite operator the backends may claim outside the spec's signatures (builtins,
#   the signal library's custom operators as custom.<code>, spec operators for the types a
#   runtime runs beyond the spec), and the operand layout tinyabi_tflm/forms.py (or
#   signal_forms.py) builds a one-node model of it with.
# unsurveyed: builtins TFLM registers that no form can build, and why; with the forms and the
#   spec operators they cover every builtin TFLM registers (the plugin's tests check it).
# runtimes.<name>.spec: spec operator -> the spec signatures the runtime runs.
# runtimes.<name>.refused: spec signatures the runtime refuses, with the reason and hint users
#   see (also applied to hybrid extension nodes).
# runtimes.<name>.extension: operator -> type keys it runs ("int8": data input and first output
#   int8; "float32->int32": they differ; the data input is the first one that is not a shape,
#   index or axis).
#
# The lists are the runtimes' own answers: `python -m tinyabi_tflm.survey --write` rebuilds
# them by running every one-node model, and the plugin's tests check them the same way.
"""


def render(current: Mapping[str, Any], answers: Mapping[str, Answers]) -> str:
    """The data file with the lists of each runtime replaced by ``answers``."""
    lines = [_HEADER, "forms:"]
    lines += [f"  {op}: {form}" for op, form in current["forms"].items()]
    lines.append("unsurveyed:")
    lines += [f"  {op}: {json.dumps(why)}" for op, why in (current.get("unsurveyed") or {}).items()]
    lines.append("runtimes:")
    for runtime, section in current["runtimes"].items():
        got = answers.get(runtime)
        spec = got.spec if got else section.get("spec") or {}
        extension = got.extension if got else section.get("extension") or {}
        lines.append(f"  {runtime}:")
        for name in ("title", "elsewhere"):
            if section.get(name):
                lines.append(f"    {name}: {json.dumps(section[name])}")
        if section.get("refused"):
            lines.append("    refused:")
            for signature, refusal in section["refused"].items():
                lines.append(f"      {signature}:")
                lines += [f"        {k}: {json.dumps(v)}" for k, v in refusal.items()]
        for name, table in (("spec", spec), ("extension", extension)):
            lines.append(f"    {name}:" + ("" if table else " {}"))
            for op, keys in table.items():
                lines += _wrapped(f"      {op}: [", list(keys))
    return "\n".join(lines) + "\n"


def _wrapped(head: str, items: list[str], width: int = 100) -> list[str]:
    """``head`` and a flow list of ``items`` closed by ``]``, wrapped at ``width``."""
    lines, line = [], head
    for k, item in enumerate(items):
        text = item + ("]" if k == len(items) - 1 else ",")
        if len(line) + len(text) + 1 > width and not line.endswith("["):
            lines.append(line)
            line = " " * len(head) + text
        else:
            line += ("" if line.endswith("[") else " ") + text
    lines.append(line if items else head + "]")
    return lines


def data_path() -> Path:
    """The data file in the package's source tree."""
    return Path(str(resources.files("tinyabi_tflm").joinpath(capabilities.DATA_FILE)))


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module documentation)."""
    parser = argparse.ArgumentParser(prog="python -m tinyabi_tflm.survey", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite capabilities.yaml")
    parser.add_argument(
        "--runtime", choices=[runtimes.TFLM, runtimes.LITERT], action="append", default=None
    )
    args = parser.parse_args(argv)
    caps = capabilities.load()
    chosen = args.runtime or list(caps.runtimes)
    answers = {runtime: ask(runtime, caps.forms) for runtime in chosen}
    if args.write:
        data_path().write_text(render(caps.raw, answers), encoding="utf-8")
        print(f"wrote {data_path()}")
        return 0
    lines = [line for r in chosen for line in differences(caps.runtimes[r], answers[r])]
    print("\n".join(lines) or "capabilities.yaml matches the runtimes")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
