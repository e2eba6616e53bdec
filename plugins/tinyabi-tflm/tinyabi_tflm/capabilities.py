"""What each runtime runs: ``capabilities.yaml`` read into data, and the verdict for a node.

The file is the one place where the lists are written down. Per runtime it names the spec
signatures the runtime runs for each spec operator, the spec signatures it refuses with the
reason users see (TFLM's hybrid models), and the operators outside the spec (``tflite.ABS``,
custom operators as ``custom.SignalWindow``...) with the type keys it runs them for. A *type
key* is the element type of the node's first *data* input and first output: ``"int8"`` when
they agree, ``"float32->int32"`` when they differ. Shape, index and axis operands are not data:
:data:`DATA_INPUT` says where the data operand of a form is when it is not the first input
(TRANSPOSE_CONV's output-shape tensor comes first). The top-level ``forms`` map names each
listed operator's operand layout, which :mod:`tinyabi_tflm.forms` uses to build the one-node
models that check the lists against the runtimes (:mod:`tinyabi_tflm.survey`, and the plugin's
tests).

A spec node is supported when tinyabi's spec validation passes and its signature is listed, or
when its operand types match no spec signature but the runtime runs the operator on its type
key (``extension`` may list spec operators too: what the runtime runs beyond the spec's
signatures, such as TFLM's 16x8 convolutions). An extension node is supported when its operator
is listed with the node's type key and, on a runtime that refuses hybrid models, the node is
not hybrid (float activations with int8 constant weights).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from tinyabi.backends import Verdict
from tinyabi.ir import Graph, Node, NodeCheck
from tinyabi.spec import load_spec
from tinyabi.tflite import custom_op_hint

#: The name of the data file inside the package.
DATA_FILE = "capabilities.yaml"

#: The prefix of TFLite operators outside the spec (``tflite.ABS``).
TFLITE_PREFIX = "tflite."
CUSTOM_PREFIX = "tflite.custom."

#: Form -> the position of its data input, for forms whose first input is not data.
DATA_INPUT: dict[str, int] = {"transpose_conv": 2, "split": 1, "select": 1}

#: What spec validation says when a node's operand types match no signature (the one problem
#: the ``extension`` lists of spec operators may overrule).
_NO_SIGNATURE = "match no signature"


@dataclass(frozen=True)
class Refusal:
    """A spec signature the runtime refuses, and what to tell the user."""

    reason: str
    hint: str = ""


@dataclass(frozen=True)
class RuntimeCapabilities:
    """One runtime's section of the data file."""

    runtime: str
    title: str
    #: Spec operator -> the signature names the runtime runs.
    spec: Mapping[str, tuple[str, ...]]
    #: Spec signature name (e.g. ``hybrid``) -> why the runtime refuses it, for every operator.
    refused: Mapping[str, Refusal]
    #: TFLite builtin operator outside the spec (``ABS``) -> the type keys the runtime runs.
    extension: Mapping[str, tuple[str, ...]]
    #: Hint for nodes this runtime does not run.
    elsewhere: str = ""
    #: Extra notes per extension operator (why a type is missing), shown in refusals.
    notes: Mapping[str, str] = field(default_factory=dict)
    #: Operator -> the position of its data input when it is not 0 (from its form).
    data_input: Mapping[str, int] = field(default_factory=dict)

    def verdict(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        """Whether the runtime runs ``node`` of ``graph`` (``check``: its spec check), with a
        reason and hint if not."""
        if node.is_extension:
            return self._extension_verdict(node, graph)
        if check.problem is not None:
            beyond = self._beyond_spec(node, graph)
            if _NO_SIGNATURE in check.problem and beyond:
                return beyond
            return Verdict.no(check.problem)
        signature = check.signature
        if signature is not None and signature in self.refused:
            refusal = self.refused[signature]
            return Verdict.no(f"{node.op} {signature}: {refusal.reason}", refusal.hint)
        listed = self.spec.get(node.op)
        if listed is None:
            return Verdict.no(f"{self.title} does not run {node.op}", self.elsewhere)
        if signature not in listed:
            return Verdict.no(
                f"{self.title} does not run {node.op} with the {signature} signature "
                f"(it runs {', '.join(listed)})",
                self.elsewhere,
            )
        return Verdict.yes()

    def _beyond_spec(self, node: Node, graph: Graph) -> Verdict:
        """The verdict for a spec operator's node whose types match no spec signature."""
        keys = self.extension.get(node.op)
        if keys is None:
            return Verdict.no(f"{self.title} runs {node.op} on no types beyond the spec's")
        key = self.type_key(node, graph)
        if key not in keys:
            return Verdict.no(f"{self.title} does not run {node.op} on {key} either")
        return Verdict.outside_the_spec(
            f"{self.title} runs {node.op} on {key}, which no spec signature covers"
        )

    def type_key(self, node: Node, graph: Graph) -> str:
        """The node's type key (see the module documentation)."""
        name = node.op.removeprefix(TFLITE_PREFIX)
        return type_key(node, graph, self.data_input.get(name, 0))

    def _extension_verdict(self, node: Node, graph: Graph) -> Verdict:
        listed = node.op.removeprefix(TFLITE_PREFIX) in self.extension
        if node.op.startswith(CUSTOM_PREFIX) and not listed:
            code = node.op.removeprefix(CUSTOM_PREFIX)
            known = custom_op_hint(node.op)
            return Verdict.no(
                f"custom operator {code!r} is not registered with {self.title}"
                + (f" ({known.split(':')[0]})" if known else ""),
                known or "register it with the runtime in a backend of your own, or replace it",
            )
        if not node.op.startswith(TFLITE_PREFIX):
            return Verdict.no(f"{self.title} runs TFLite operators only, not {node.op}")
        builtin = node.op.removeprefix(TFLITE_PREFIX)
        keys = self.extension.get(builtin)
        if keys is None:
            return Verdict.no(f"{self.title} does not run {node.op}", self.elsewhere)
        if "hybrid" in self.refused and is_hybrid(node, graph):
            refusal = self.refused["hybrid"]
            return Verdict.no(f"{node.op} is hybrid: {refusal.reason}", refusal.hint)
        key = self.type_key(node, graph)
        if key not in keys:
            note = self.notes.get(builtin)
            return Verdict.no(
                f"{self.title} does not run {node.op} on {key} (it runs {', '.join(keys)})"
                + (f"; {note}" if note else ""),
                self.elsewhere,
            )
        return Verdict.yes()

    def claims(self) -> dict[str, list[str]]:
        """Operator -> type signatures, spec operators first, then ``tflite.*`` ones."""
        result = {op: list(sigs) for op, sigs in self.spec.items()}
        spec_ops = load_spec().operators
        for op, keys in self.extension.items():
            if op in spec_ops:  # types it runs beyond the spec's signatures
                result.setdefault(op, []).extend(k for k in keys if k not in result[op])
            else:
                result[TFLITE_PREFIX + op] = list(keys)
        return result


def type_key(node: Node, graph: Graph, data_input: int = 0) -> str:
    """The node's type key: the element types of its data input (input ``data_input``, else
    the first input present) and of its first output."""
    present = [n for n in node.inputs[data_input:] if n is not None]
    present += [n for n in node.inputs[:data_input] if n is not None]
    first_in = graph.tensor(present[0]).dtype if present else None
    first_out = graph.tensor(node.outputs[0]).dtype if node.outputs else None
    source = first_in or first_out or "none"
    target = first_out or source
    return source if source == target else f"{source}->{target}"


def is_hybrid(node: Node, graph: Graph) -> bool:
    """Float activations with int8 constant weights (dynamic-range quantization)."""
    tensors = [graph.tensor(n) for n in node.inputs if n is not None]
    activations = [t for t in tensors if not t.is_constant]
    return (
        bool(activations)
        and activations[0].dtype == "float32"
        and any(t.is_constant and t.dtype == "int8" for t in tensors)
    )


@dataclass(frozen=True)
class Capabilities:
    """The whole data file."""

    #: Extension operator -> the operand layout the survey builds it with.
    forms: Mapping[str, str]
    runtimes: Mapping[str, RuntimeCapabilities]
    #: Builtin operators TFLM registers that no form can build, with the reason.
    unsurveyed: Mapping[str, str]
    #: The parsed file, for rewriting it (:mod:`tinyabi_tflm.survey`).
    raw: Mapping[str, Any]


def parse(data: Mapping[str, Any]) -> Capabilities:
    """Capabilities from the parsed YAML document (raises ``ValueError`` on a bad field)."""
    forms = {str(k): str(v) for k, v in data["forms"].items()}
    runtimes = {}
    for runtime, section in data["runtimes"].items():
        refused = {
            str(sig): Refusal(str(r["reason"]), str(r.get("hint", "")))
            for sig, r in (section.get("refused") or {}).items()
        }
        extension = {
            str(op): _strings(keys, f"{runtime}.extension.{op}")
            for op, keys in (section.get("extension") or {}).items()
        }
        unknown = sorted(set(extension) - set(forms))
        if unknown:
            raise ValueError(f"{runtime}: extension operators without a form: {unknown}")
        runtimes[str(runtime)] = RuntimeCapabilities(
            runtime=str(runtime),
            title=str(section["title"]),
            spec={
                str(op): _strings(sigs, f"{runtime}.spec.{op}")
                for op, sigs in section["spec"].items()
            },
            refused=refused,
            extension=extension,
            elsewhere=str(section.get("elsewhere", "")),
            notes={str(k): str(v) for k, v in (section.get("notes") or {}).items()},
            data_input={op: DATA_INPUT[f] for op, f in forms.items() if f in DATA_INPUT},
        )
    unsurveyed = {str(k): str(v) for k, v in (data.get("unsurveyed") or {}).items()}
    return Capabilities(forms, runtimes, unsurveyed, data)


def _strings(values: Any, where: str) -> tuple[str, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ValueError(f"{where}: expected a list, got {values!r}")
    return tuple(str(v) for v in values)


@functools.cache
def load() -> Capabilities:
    """The capabilities shipped with the package."""
    text = resources.files("tinyabi_tflm").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse(yaml.safe_load(text))


def for_runtime(runtime: str) -> RuntimeCapabilities:
    """One runtime's capabilities."""
    return load().runtimes[runtime]
