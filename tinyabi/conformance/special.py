"""The ``special`` generator: valid random cases pushed to the integers implementations get
wrong.

Each case applies one twist, in turn, to a random case: extreme zero points (-128 and 127 on
inputs, on outputs), requantization multipliers just below and above 1 and near 2^-31 (shifts
at both ends of their range), exact rounding ties (power-of-two scales, so that the effective
multiplier is 1/4 or 1/8 and many small accumulators land on a tie of either sign: TFLite's
double rounding, whose second step is a right shift rounding half away from zero, and single
rounding disagree on the negative ones), saturation at both ends, per-channel filter scales spanning
2^20 (channel 0 unlike the others), wide input scales (the cut-offs of SOFTMAX's ``diff_min``
and the tables of LOGISTIC/TANH), and long reductions at full scale (FULLY_CONNECTED and 1x1
CONV_2D over 1024 terms: an int16 accumulator passes 2^31, so 32-bit accumulation wraps). The
generator makes at least one case per twist.
Bias scales follow ``s_in x s_w`` after every twist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from tinyabi.conformance import layouts
from tinyabi.conformance.cases import _candidate
from tinyabi.conformance.layouts import Layout, Slot, layout_for
from tinyabi.ir.graph import Graph, Node, Quantization, Tensor, numpy_dtype
from tinyabi.quantization.conv import bias_scales
from tinyabi.spec import OperatorSpec, Signature

__all__ = [
    "ATTEMPTS_PER_TWIST",
    "FIXED_OUTPUT",
    "LONG_REDUCTION",
    "TWISTS",
    "Inputs",
    "Twist",
    "applies",
    "long_reduction",
    "long_reduction_layout",
    "make",
    "output_zero_point",
    "per_channel_span",
    "saturation",
    "wide_input_scale",
]

Inputs = dict[str, np.ndarray]
Twist = Callable[[OperatorSpec, Signature, Graph, Inputs, int], bool]

#: Candidates tried for a case's own twist before moving on to the next ones.
ATTEMPTS_PER_TWIST = 8
#: Operators whose int8 output quantization the spec fixes.
FIXED_OUTPUT = frozenset({"SOFTMAX", "LOGISTIC", "TANH"})


def applies(sig: Signature) -> bool:
    """Whether ``sig`` has a quantized int8 or int16 operand for the twists to work on."""
    return any(
        o.dtype in ("int8", "int16") and o.quantization != "none" for o in sig.operands.values()
    )


def _operand(name: str) -> str:
    """The spec operand of a generated tensor name (``input_0`` -> ``input``)."""
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() and head else name


def _node(graph: Graph) -> Node:
    return graph.nodes[0]


def _named(graph: Graph, operand: str) -> Tensor | None:
    for name in [*_node(graph).inputs, *_node(graph).outputs]:
        if name is not None and _operand(name) == operand:
            return graph.tensor(name)
    return None


def _requant(graph: Graph, name: str, quant: Quantization) -> None:
    """Give tensor ``name`` ``quant``, and every tensor sharing its old quantization too."""
    old = graph.tensor(name).quant
    for other, t in list(graph.tensors.items()):
        if t.quant is old or other == name:
            graph.tensors[other] = replace(t, quant=quant)


def _activations(sig: Signature, graph: Graph) -> list[Tensor]:
    """Non-constant int8 inputs with a free (asymmetric) zero point."""
    found = []
    for name in _node(graph).inputs:
        if name is None or graph.tensor(name).is_constant:
            continue
        want = sig.operands.get(_operand(name))
        t = graph.tensor(name)
        if want and t.dtype == "int8" and t.quant is not None and not want.symmetric:
            found.append(t)
    return found


def _free_output(op: OperatorSpec, sig: Signature, graph: Graph) -> Tensor | None:
    """The output when its quantization may be chosen (not fixed, not copied from an input)."""
    out = graph.tensor(_node(graph).outputs[0])
    want = sig.operands.get(_operand(out.name))
    if out.quant is None or want is None or want.same_as or out.dtype not in ("int8", "int16"):
        return None
    if op.name in FIXED_OUTPUT and out.dtype == "int8":
        return None
    if any(t.quant is out.quant for t in graph.tensors.values() if t.name != out.name):
        return None
    return out


def _effective_scale(graph: Graph) -> float:
    """The scale of the accumulator: ``s_in x max(s_w)`` with a filter, else ``s_in``."""
    x = _named(graph, "input") or _named(graph, "input1")
    w = _named(graph, "filter")
    s_in = float(x.quant.scale[0]) if x is not None and x.quant is not None else 1.0
    if w is not None and w.quant is not None:
        return s_in * float(np.max(w.quant.scale))
    return s_in


def _set_output_multiplier(op: OperatorSpec, sig: Signature, graph: Graph, m: float) -> bool:
    out = _free_output(op, sig, graph)
    if out is None or out.quant is None:
        return False
    scale = np.float32(_effective_scale(graph) / m)
    if not np.isfinite(scale) or scale <= 0:
        return False
    _requant(graph, out.name, Quantization(np.array([scale]), out.quant.zero_point))
    return True


def _extremes(inputs: dict[str, np.ndarray], t: Tensor, rng: np.random.Generator) -> None:
    """Half of input ``t``'s values at its type's extremes."""
    data = inputs[t.name]
    info = np.iinfo(data.dtype)
    mask = rng.random(data.shape) < 0.5
    ends = np.where(rng.random(data.shape) < 0.5, info.min, info.max).astype(data.dtype)
    inputs[t.name] = np.where(mask, ends, data).astype(data.dtype)


def _input_zero_point(value: int) -> Twist:
    def twist(op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int) -> bool:
        found = _activations(sig, graph)
        for t in found:
            assert t.quant is not None
            _requant(graph, t.name, Quantization(t.quant.scale, np.array([value])))
        return bool(found)

    twist.__doc__ = f"Input zero points at {value}."
    return twist


def output_zero_point(
    op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int
) -> bool:
    """The output zero point at -128 or 127 (alternately)."""
    out = _free_output(op, sig, graph)
    if out is None or out.quant is None or out.dtype != "int8" or sig.operands["output"].symmetric:
        return False
    zero = -128 if k % 2 == 0 else 127
    _requant(graph, out.name, Quantization(out.quant.scale, np.array([zero])))
    return True


def _multiplier(m: float) -> Twist:
    def twist(op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int) -> bool:
        return _set_output_multiplier(op, sig, graph, m)

    twist.__doc__ = f"The output multiplier s_in x s_w / s_out at {m!r}."
    return twist


def _rounding_ties(multiplier: float) -> Twist:
    def twist(op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int) -> bool:
        out = graph.tensor(_node(graph).outputs[0])
        if int(np.prod(out.shape, dtype=np.int64)) < 8:
            return False  # too few outputs to hold ties of both signs
        changed = False
        for operand, exponent in (("input", -6), ("input1", -6), ("input2", -5), ("filter", -7)):
            t = _named(graph, operand)
            if t is None or t.quant is None:
                continue
            scales = np.full(t.quant.scale.shape, 2.0**exponent)
            _requant(graph, t.name, Quantization(scales, t.quant.zero_point, t.quant.axis))
            changed = True
        if not changed or not _set_output_multiplier(op, sig, graph, multiplier):
            return False
        _small_values(sig, graph, inputs, np.random.default_rng(k))
        return True

    twist.__doc__ = (
        f"Power-of-two scales with an effective multiplier of {multiplier!r} and small values: "
        "many accumulators are exact ties of either sign."
    )
    return twist


def _small_values(sig: Signature, graph: Graph, inputs: Inputs, rng: np.random.Generator) -> None:
    """Inputs within 3 of their zero point, weights within 3 and biases within 8 of zero: small
    accumulators, so that ties land inside the output range instead of saturating."""
    for t in _activations(sig, graph):
        assert t.quant is not None
        near = int(t.quant.zero_point[0]) + rng.integers(-3, 4, size=inputs[t.name].shape)
        inputs[t.name] = np.clip(near, -128, 127).astype(inputs[t.name].dtype)
    for operand, bound in (("filter", 3), ("bias", 8)):
        w = _named(graph, operand)
        if w is not None and w.data is not None and w.dtype in ("int8", "int32"):
            data = rng.integers(-bound, bound + 1, size=w.shape).astype(w.data.dtype)
            graph.tensors[w.name] = replace(w, data=data)


def saturation(op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int) -> bool:
    """A large output multiplier and extreme inputs: outputs saturate at both ends."""
    rng = np.random.default_rng(k)
    for t in _activations(sig, graph):
        _extremes(inputs, t, rng)
    return _set_output_multiplier(op, sig, graph, 40.0)


def per_channel_span(
    op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int
) -> bool:
    """Per-channel filter scales spanning 2^20, channel 0 at one end."""
    w = _named(graph, "filter")
    if w is None or w.quant is None or not w.quant.per_axis:
        return False
    n = w.quant.scale.size
    exponents = np.concatenate([[0.0], np.linspace(-20, -1, n - 1)]) if n > 1 else np.zeros(1)
    scales = 0.05 * 2.0**exponents
    _requant(graph, w.name, Quantization(scales, w.quant.zero_point, w.quant.axis))
    return True


def wide_input_scale(
    op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int
) -> bool:
    """An input scale of 0.25 to 1 with inputs across the range (SOFTMAX's ``diff_min``,
    the ends of LOGISTIC/TANH tables)."""
    found = _activations(sig, graph)
    for t in found:
        assert t.quant is not None
        scale = np.array([(0.25, 0.5, 1.0)[k % 3]])
        _requant(graph, t.name, Quantization(scale, t.quant.zero_point))
        _extremes(inputs, t, np.random.default_rng(k))
    return bool(found)


#: Terms of the long reductions: enough for int16 x int8 products to pass 2^31 (0.9 x 1024 x
#: 32767 x 127 is about 3.8e9).
LONG_REDUCTION = 1024


def long_reduction_layout(op: OperatorSpec, sig: Signature) -> Layout | None:
    """A FULLY_CONNECTED or 1x1 CONV_2D layout summing :data:`LONG_REDUCTION` terms per output,
    or ``None`` for other operators."""
    fn = layout_for(op.name)
    bias = Slot("bias", (2,), constant=True)
    if fn is layouts.fully_connected:
        attrs: dict[str, Any] = {"keep_num_dims": False, "asymmetric_quantize_inputs": False}
        x = Slot("input", (1, LONG_REDUCTION))
        return Layout([x, Slot("filter", (2, LONG_REDUCTION), constant=True), bias], attrs)
    if fn is layouts.conv2d:
        attrs = {"padding": "VALID", "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1}
        x = Slot("input", (1, 2, 2, LONG_REDUCTION))
        w = Slot("filter", (2, 1, 1, LONG_REDUCTION), constant=True)
        return Layout([x, w, bias], attrs)
    return None


def long_reduction(op: OperatorSpec, sig: Signature, graph: Graph, inputs: Inputs, k: int) -> bool:
    """Inputs at their extremes with the signs of the weights (all at +-127), so that the
    accumulator reaches ``LONG_REDUCTION x max|x| x 127`` (past 2^31 for int16 inputs), and an
    output scale that keeps the result inside the output range."""
    x, w = _named(graph, "input"), _named(graph, "filter")
    if x is None or w is None or w.data is None or x.quant is None or w.quant is None:
        return False
    if w.shape[-1] != LONG_REDUCTION or x.dtype not in ("int8", "int16") or w.dtype != "int8":
        return False
    rng = np.random.default_rng(k)
    signs = np.where(rng.random(w.shape) < 0.95, 1, -1).astype(np.int8)
    graph.tensors[w.name] = replace(w, data=(signs * 127).astype(np.int8))
    info = np.iinfo(numpy_dtype(x.dtype))
    zero = int(x.quant.zero_point[0])
    top = int(info.max) if int(info.max) - zero >= zero - int(info.min) else int(info.min)
    inputs[x.name] = np.full(inputs[x.name].shape, top, dtype=inputs[x.name].dtype)
    reach = LONG_REDUCTION * abs(top - zero) * 127.0
    return _set_output_multiplier(op, sig, graph, 0.5 * float(info.max) / reach)


long_reduction.layout = long_reduction_layout  # type: ignore[attr-defined]


TWISTS: tuple[Twist, ...] = (
    _input_zero_point(-128),
    _input_zero_point(127),
    output_zero_point,
    _rounding_ties(0.125),
    _rounding_ties(0.25),
    saturation,
    per_channel_span,
    _multiplier(1.0 - 2.0**-24),
    _multiplier(1.0 + 2.0**-22),
    _multiplier(1.5 * 2.0**-31),
    wide_input_scale,
    long_reduction,
)


def _fix_bias(graph: Graph) -> None:
    """The bias quantization ``s_in x s_w`` after the twist."""
    x, w, b = _named(graph, "input"), _named(graph, "filter"), _named(graph, "bias")
    if x is None or w is None or b is None or x.quant is None or w.quant is None:
        return
    if b.quant is None:
        return
    scales = bias_scales(float(x.quant.scale[0]), w.quant.scale)
    quant = Quantization(scales, np.zeros(scales.size, np.int64), w.quant.axis)
    graph.tensors[b.name] = replace(b, quant=quant)


def make(
    op: OperatorSpec, sig: Signature, rng: np.random.Generator, k: int
) -> tuple[Graph, dict[str, np.ndarray]] | None:
    """A random case of ``sig`` with the ``k``-th twist; when a few candidates in a row do not
    suit it, with the next twist that applies."""
    for attempt in range(ATTEMPTS_PER_TWIST + len(TWISTS)):
        twist = TWISTS[(k + max(0, attempt - ATTEMPTS_PER_TWIST + 1)) % len(TWISTS)]
        shape_of = getattr(twist, "layout", None)
        layout = shape_of(op, sig) if shape_of is not None else None
        candidate = _candidate(op, sig, rng, layout)
        if candidate is None:
            continue
        graph, inputs = candidate
        if twist(op, sig, graph, inputs, k):
            _fix_bias(graph)
            for name in inputs:
                inputs[name] = inputs[name].astype(numpy_dtype(graph.tensor(name).dtype))
            return graph, inputs
    return None
