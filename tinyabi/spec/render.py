"""Render the spec for people (Markdown) and for programs in other languages (JSON Schema)."""

from __future__ import annotations

from typing import Any

from tinyabi.spec.models import OperandType, OperatorSpec, Spec

__all__ = ["json_schema", "render_markdown"]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format (what ``Spec.model_validate`` accepts)."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "TinyABI spec"
    return schema


def render_markdown(spec: Spec) -> str:
    """The whole spec as one Markdown reference document."""
    lines = [
        f"# TinyABI spec {spec.version}",
        "",
        "_Generated from `specs/` by `tinyabi spec`; do not edit by hand._",
        "",
        "## Tensor ABI",
        "",
        "| element type | meaning |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in spec.abi.element_types.items()),
        "",
        "| tensor | layout |",
        "|---|---|",
        *(f"| {role.replace('_', ' ')} | {text} |" for role, text in spec.abi.layouts.items()),
        "",
        f"Arena alignment: {spec.abi.memory_alignment} bytes.",
        "",
    ]
    for section in spec.abi.sections:
        lines += [f"### {section.title}", "", section.text.strip(), ""]
    lines += ["## Operators", "", "| operator | signatures | summary |", "|---|---|---|"]
    for op in spec.operators.values():
        sigs = ", ".join(s.name for s in op.signatures)
        lines.append(f"| [{op.name}](#{op.name.lower()}) | {sigs} | {op.summary} |")
    lines.append("")
    for op in spec.operators.values():
        lines += _render_operator(op)
    return "\n".join(lines).rstrip() + "\n"


def _render_operator(op: OperatorSpec) -> list[str]:
    lines = [f"### {op.name}", "", f"{op.summary} (operator version {op.version})", ""]
    lines += ["| operand | kind | description |", "|---|---|---|"]
    for kind, operands in (("input", op.inputs), ("output", op.outputs)):
        for o in operands:
            flags = [kind] + [
                f
                for f, on in (
                    ("optional", o.optional),
                    ("constant", o.constant),
                    ("variadic", o.variadic),
                )
                if on
            ]
            lines.append(f"| `{o.name}` | {', '.join(flags)} | {o.description} |")
    lines.append("")
    if op.attributes:
        lines += ["| attribute | type | default | allowed | description |", "|---|---|---|---|---|"]
        for a in op.attributes:
            allowed = ", ".join(a.values) if a.values else _range(a.min, a.max)
            default = "required" if a.required else f"`{a.default}`"
            lines.append(f"| `{a.name}` | {a.type} | {default} | {allowed} | {a.description} |")
        lines.append("")
    if op.fused_activations:
        lines += [f"Fused activations: {', '.join(op.fused_activations)}.", ""]
    names = [o.name for o in op.inputs + op.outputs]
    lines += [
        "| signature | " + " | ".join(names) + " | tolerance |",
        "|---" * (len(names) + 2) + "|",
    ]
    for sig in op.signatures:
        cells = [_operand_type(sig.operands.get(n)) for n in names]
        tol = sig.tolerance.describe()
        lines.append(f"| {sig.name} | " + " | ".join(cells) + f" | {tol} |")
    notes = [f"- {s.name}: {s.notes}" for s in op.signatures if s.notes]
    lines += ["", *notes, *([""] if notes else [])]
    if op.parameter_functions:
        paths = ", ".join(f"`{path}`" for path in op.parameter_functions)
        lines += [f"**Quantization parameters.** Computed once, for every backend, by {paths}.", ""]
    lines += [
        "**Shapes.** " + op.shape_rule.strip(),
        "",
        "**Semantics.**",
        "",
        op.semantics.strip(),
        "",
    ]
    return lines


def _operand_type(t: OperandType | None) -> str:
    if t is None:
        return "-"
    text = f"`{t.dtype}`"
    if t.quantization != "none":
        text += {"per_tensor": " per-tensor", "per_axis": " per-axis", "any": " quantized"}[
            t.quantization
        ]
        if t.axis is not None:
            text += f" (axis {t.axis})"
    if t.symmetric:
        text += ", symmetric"
    if t.same_as:
        text += f", same as `{t.same_as}`"
    return text


def _range(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"
