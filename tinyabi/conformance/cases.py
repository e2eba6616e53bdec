"""Seeded random single-operator conformance cases, generated from the spec.

For every operator and signature, :func:`generate_cases` draws candidate cases: the operator's
layout (:mod:`tinyabi.conformance.layouts`) gives shapes, constant operands and geometric
attributes; the signature gives element types and quantization (per-channel symmetric int8
weights where allowed, int32 (int64 for 16x8) biases with scale ``s_in x s_w``, copied
parameters for ``same_as``); the remaining attributes are drawn from the spec's enum values
and ranges. A candidate is kept only when the reference backend accepts it and runs it; its
outputs are the expected ones.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyabi.backends.reference import ReferenceBackend
from tinyabi.conformance.layouts import Layout, Slot, layout_for
from tinyabi.errors import TinyABIError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Node, Quantization, numpy_dtype
from tinyabi.ir.shapes import has_shape_rule, infer_shapes
from tinyabi.ir.validate import check_node
from tinyabi.quantization.conv import bias_scales
from tinyabi.spec import OperandType, OperatorSpec, Signature, Spec, load_spec

__all__ = ["ATTEMPTS_PER_CASE", "Case", "case_rng", "generate_cases", "spec_cases"]

#: Candidates drawn per wanted case before giving up on a signature.
ATTEMPTS_PER_CASE = 12


@dataclass
class Case:
    """One single-node graph with its inputs and the reference outputs."""

    op: str
    signature: str
    index: int
    graph: Graph
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    #: The generator that made the case (:mod:`tinyabi.conformance.generators`).
    generator: str = "pseudo-random"
    #: A negative case breaks the spec on purpose: a backend must decline or reject it.
    negative: bool = False

    @property
    def id(self) -> str:
        """``OP/signature/generator/index``, unique within a run and stable across runs."""
        return f"{self.op}/{self.signature}/{self.generator}/{self.index}"

    @property
    def node(self) -> Node:
        """The graph's only node."""
        return self.graph.nodes[0]

    def params(self) -> dict[str, Any]:
        """The case's parameters as plain data: tensors (type, shape, quantization, small
        constants) and attributes, for failure reports."""
        tensors: dict[str, str] = {}
        node = self.node
        for name in [*node.inputs, *node.outputs]:
            if name is None:
                continue
            t = self.graph.tensor(name)
            text = f"{t.dtype}{list(t.shape)}"
            if t.quant is not None:
                scales = t.quant.scale
                if t.quant.per_axis:
                    text += f" per-axis {t.quant.axis} ({scales.size} scales)"
                else:
                    text += f" q({float(scales[0]):.6g}, {int(t.quant.zero_point[0])})"
            if t.data is not None and t.dtype == "int32" and t.size <= 16 and t.quant is None:
                text += f" = {t.data.tolist()}"
            tensors[name] = text
        attrs = {k: v for k, v in node.attrs.items() if isinstance(v, (int, float, str, list))}
        return {"tensors": tensors, "attrs": attrs}


def case_rng(op: str, signature: str, seed: int) -> np.random.Generator:
    """The generator of one operator signature: independent of which other ones are run."""
    return np.random.default_rng([seed, zlib.crc32(op.encode()), zlib.crc32(signature.encode())])


def generate_cases(op: OperatorSpec, signature: Signature, count: int, seed: int = 0) -> list[Case]:
    """Up to ``count`` cases of ``signature`` of ``op`` that the reference backend accepts."""
    rng = case_rng(op.name, signature.name, seed)
    reference = ReferenceBackend()
    cases: list[Case] = []
    for _ in range(count * ATTEMPTS_PER_CASE):
        if len(cases) == count:
            break
        candidate = _candidate(op, signature, rng)
        if candidate is None:
            continue
        graph, inputs = candidate
        node = graph.nodes[0]
        if not reference.supports(node, graph, check_node(node, graph)):
            continue
        try:
            expected = reference.compile(graph).run(inputs)
        except (TinyABIError, ValueError, ArithmeticError):
            continue
        cases.append(Case(op.name, signature.name, len(cases), graph, inputs, expected))
    return cases


def spec_cases(
    ops: list[str] | None = None, count: int = 3, seed: int = 0, spec: Spec | None = None
) -> list[Case]:
    """Cases for every signature of every operator in ``ops`` (default: the whole spec)."""
    spec = spec or load_spec()
    names = ops if ops is not None else sorted(spec.operators)
    return [
        case
        for name in names
        for sig in spec.operators[name].signatures
        for case in generate_cases(spec.operators[name], sig, count, seed)
    ]


# --- one candidate --------------------------------------------------------------------------


def _candidate(
    op: OperatorSpec, sig: Signature, rng: np.random.Generator, layout: Layout | None = None
) -> tuple[Graph, dict[str, np.ndarray]] | None:
    """A random graph and inputs for ``sig`` (with ``layout``, default the operator's random
    one), or ``None`` when its shapes do not work out."""
    layout = layout if layout is not None else layout_for(op.name)(rng, sig)
    quant = _quantizations(op, sig, layout, rng)
    b = GraphBuilder(f"{op.name.lower()}_{sig.name}")
    names: list[str | None] = []
    inputs: dict[str, np.ndarray] = {}
    for i, slot in enumerate(layout.inputs):
        if slot is None:
            names.append(None)
            continue
        want = sig.operands[slot.operand]
        name = f"{slot.operand}_{i}"
        q = quant.get(slot.operand)
        if slot.data is not None or slot.constant:
            data = slot.data if slot.data is not None else _weights(slot, want, rng)
            names.append(b.const(name, data, q, dtype=want.dtype))
        else:
            names.append(b.input(name, want.dtype, slot.shape, q))
            inputs[name] = _input_data(want.dtype, slot.shape, rng, _float_span(op, quant))
    outputs = [
        b.tensor(o.name, sig.operands[o.name].dtype, (), quant.get(o.name)) for o in op.outputs
    ]
    attrs = {**_random_attrs(op, sig, rng), **layout.attrs}
    b.node(op.name, names, outputs, name=op.name.lower(), **attrs)
    graph = b.build(outputs=outputs)
    if has_shape_rule(op.name):
        try:
            shapes = infer_shapes(graph.nodes[0], graph)
        except TinyABIError:
            return None
        for name, shape in zip(outputs, shapes):
            graph.tensors[name].shape = tuple(shape)
    return graph, inputs


def _random_attrs(op: OperatorSpec, sig: Signature, rng: np.random.Generator) -> dict[str, Any]:
    """Enum attributes drawn from their values, ints from their range, required floats from
    [0.1, 2]; others keep their defaults (layouts set the geometric ones)."""
    attrs: dict[str, Any] = {}
    for a in op.attributes:
        if a.type == "enum" and a.values:
            unquantized_int = sig.operands[op.outputs[0].name].dtype == "int32"
            if a.name == "fused_activation" and unquantized_int and rng.random() < 0.7:
                attrs[a.name] = "NONE"  # int32 ADD/SUB take only NONE
            else:
                attrs[a.name] = str(rng.choice(a.values))
        elif a.type == "int" and a.min is not None and a.max is not None:
            attrs[a.name] = int(rng.integers(int(a.min), int(a.max) + 1))
        elif a.type == "float" and a.required:
            low = 0.1 if a.min is None else a.min
            high = 2.0 if a.max is None else a.max
            attrs[a.name] = float(rng.uniform(low, high))
    return attrs


# --- quantization ---------------------------------------------------------------------------


def _activation_quant(want: OperandType, rng: np.random.Generator) -> Quantization:
    scale = float(10 ** rng.uniform(-2.5, -0.5))
    if want.symmetric or want.dtype in ("int16", "int32"):
        zero = 0
    else:
        info = np.iinfo(numpy_dtype(want.dtype))
        zero = int(rng.integers(int(info.min), int(info.max) + 1))
    return Quantization(np.array([scale]), np.array([zero]))


def _weight_quant(
    want: OperandType, shape: tuple[int, ...], rng: np.random.Generator
) -> Quantization:
    axis = want.axis if want.axis is not None else 0
    per_axis = want.quantization in ("per_axis", "any") and rng.random() < 0.6 and shape[axis] > 1
    n = shape[axis] if per_axis else 1
    return Quantization(
        rng.uniform(0.001, 0.02, size=n), np.zeros(n, np.int64), axis if per_axis else 0
    )


def _quantizations(
    op: OperatorSpec, sig: Signature, layout: Layout, rng: np.random.Generator
) -> dict[str, Quantization]:
    """The quantization of every quantized operand: fixed ones, weights, activations, then the
    bias (``s_in x s_w``), then ``same_as`` copies."""
    shapes = {s.operand: s.shape for s in layout.inputs if s is not None}
    quant: dict[str, Quantization] = {}
    for name, want in sig.operands.items():
        if want.quantization == "none" or want.same_as or name == "bias":
            continue
        if name in layout.fixed_quant:
            scale, zero = layout.fixed_quant[name]
            quant[name] = Quantization(np.array([scale]), np.array([zero]))
        elif name == "filter" and name in shapes:
            quant[name] = _weight_quant(want, shapes[name], rng)
        else:
            quant[name] = _activation_quant(want, rng)
    bias = sig.operands.get("bias")
    if bias is not None and bias.quantization != "none" and "input" in quant and "filter" in quant:
        w = quant["filter"]
        bias_scale = bias_scales(float(quant["input"].scale[0]), w.scale)
        quant["bias"] = Quantization(bias_scale, np.zeros(bias_scale.size, np.int64))
    for name, want in sig.operands.items():
        if want.same_as and want.same_as in quant:
            quant[name] = quant[want.same_as]
    return quant


# --- data -----------------------------------------------------------------------------------


def _float_span(op: OperatorSpec, quant: dict[str, Quantization]) -> float:
    """How widely float inputs spread: over the quantized range when they are quantized."""
    out = quant.get(op.outputs[0].name)
    if out is not None and op.name == "QUANTIZE":
        return float(out.scale[0]) * 100.0
    return 2.0


def _input_data(
    dtype: str, shape: tuple[int, ...], rng: np.random.Generator, span: float
) -> np.ndarray:
    np_dtype = numpy_dtype(dtype)
    if np_dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        low, high = max(int(info.min), -(2**20)), min(int(info.max), 2**20)
        return rng.integers(low, high, size=shape, endpoint=True).astype(np_dtype)
    return (rng.standard_normal(shape) * span).astype(np_dtype)


def _weights(slot: Slot, want: OperandType, rng: np.random.Generator) -> np.ndarray:
    """Random constant weights or biases of the operand's type."""
    if want.dtype == "int8":
        return rng.integers(-127, 128, size=slot.shape).astype(np.int8)
    if want.dtype == "int32":
        return rng.integers(-3000, 3000, size=slot.shape).astype(np.int32)
    if want.dtype == "int64":
        return rng.integers(-(2**20), 2**20, size=slot.shape).astype(np.int64)
    return (rng.standard_normal(slot.shape) * 0.5).astype(numpy_dtype(want.dtype))
