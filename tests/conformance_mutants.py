"""Backends that each carry one realistic bug, to measure what the conformance suite catches.

Each mutant claims the int8 (or, for the accumulator mutant, int16) signatures of the
operators its bug lives in and computes them
correctly except for that bug: most run the reference kernels on a graph rewritten to have
exactly the bug's effect (a flipped zero point, channel 0's scale for every channel, the
padding made explicit and split the other way), the rounding mutant is a small kernel of its
own, and the softmax mutant prepares the reference kernel with ``diff_min`` disabled. The
classes live at module level so worker processes can build them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import ClassVar

import numpy as np

from tinyabi.backends.base import Backend, CompiledPartition, NodeCheck, Verdict
from tinyabi.backends.reference import ReferencePartition
from tinyabi.ir.graph import Graph, Node, Quantization
from tinyabi.ir.shapes.conv import conv_output_size, same_padding
from tinyabi.quantization import softmax as softmax_quant
from tinyabi.quantization.conv import ConvQuantParams, bias_scales, fully_connected_params
from tinyabi.quantization.fixed_point import (
    multiply_by_quantized_multiplier_int64,
    multiply_by_quantized_multiplier_single_rounding,
    wrap_int32,
)

Inputs = Mapping[str, np.ndarray]


class _Mutant(Backend):
    """Claims the int8 signature of :attr:`ops`; subclasses say how a partition runs."""

    ops: ClassVar[tuple[str, ...]] = ()
    #: The bug, in a few words.
    bug: ClassVar[str] = ""
    #: The signature the mutant claims.
    signature: ClassVar[str] = "int8"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.op in self.ops and check.signature == self.signature:
            return Verdict.yes()
        return Verdict.no(f"{self.name} runs only {self.signature} {', '.join(self.ops)}")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return _Partition(subgraph, self.run_graph)

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        """The partition's outputs with the bug."""
        return ReferencePartition(graph).run(inputs)


class _Partition(CompiledPartition):
    def __init__(self, graph: Graph, run: Callable[[Graph, Inputs], dict[str, np.ndarray]]):
        self.graph, self._run = graph, run

    def run(self, inputs: Inputs) -> dict[str, np.ndarray]:
        return self._run(self.graph, inputs)


def _copy(graph: Graph) -> Graph:
    return replace(graph, tensors=dict(graph.tensors), nodes=[replace(graph.nodes[0])])


def _requant(graph: Graph, name: str, quant: Quantization) -> None:
    graph.tensors[name] = replace(graph.tensors[name], quant=quant)


def _fc_accumulators(graph: Graph, inputs: Inputs) -> tuple[ConvQuantParams, np.ndarray]:
    """A FULLY_CONNECTED node's parameters and its exact (int64) accumulators with the bias."""
    node = graph.nodes[0]
    x_name, w_name, b_name = [*node.inputs, None][:3]
    assert x_name is not None and w_name is not None
    p = fully_connected_params(node, graph)
    w = graph.tensor(w_name).data
    assert w is not None
    x = np.asarray(inputs[x_name], dtype=np.int64).reshape(-1, w.shape[1])
    acc = (x + p.input_offset) @ w.astype(np.int64).T
    if b_name is not None:
        bias = graph.tensor(b_name).data
        assert bias is not None
        acc = acc + bias.astype(np.int64)
    return p, acc


def _fc_output(
    graph: Graph, p: ConvQuantParams, requantized: np.ndarray, dtype: type[np.integer]
) -> dict[str, np.ndarray]:
    """The requantized accumulators offset, clamped and shaped as the node's output."""
    y = graph.tensor(graph.nodes[0].outputs[0])
    out = np.clip(requantized + p.output_offset, p.act_min, p.act_max).astype(dtype)
    return {y.name: out.reshape(y.shape)}


class SingleRounding(_Mutant):
    """FULLY_CONNECTED requantized with one rounding (``(acc * M + half) >> n``) instead of
    TFLite's two (rounding doubling high multiply, then rounding right shift)."""

    name = "mutant-single-rounding"
    ops = ("FULLY_CONNECTED",)
    bug = "single rounding instead of double"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        p, acc = _fc_accumulators(graph, inputs)
        q = multiply_by_quantized_multiplier_single_rounding(acc, p.multipliers, p.shifts)
        return _fc_output(graph, p, q, np.int8)


class SaturationOffByOne(_Mutant):
    """Clamps to ``act_max - 1`` (``< 127`` written for ``<= 127``) in conv and ADD."""

    name = "mutant-saturation"
    ops = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD")
    bug = "saturation off by one"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        outputs = ReferencePartition(graph).run(inputs)
        return {k: np.minimum(v, 126).astype(v.dtype) for k, v in outputs.items()}


class ZeroPointSign(_Mutant):
    """Adds the input zero point where it should subtract it (``input_offset = +zp``)."""

    name = "mutant-zero-point-sign"
    ops = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    bug = "zero point sign flipped"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        rewritten = _copy(graph)
        x = rewritten.tensor(rewritten.nodes[0].inputs[0] or "")
        assert x.quant is not None
        _requant(rewritten, x.name, Quantization(x.quant.scale, -x.quant.zero_point))
        return ReferencePartition(rewritten).run(inputs)


class ChannelZeroScale(_Mutant):
    """Requantizes every output channel with channel 0's filter scale."""

    name = "mutant-channel-zero-scale"
    ops = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    bug = "per-channel scale of channel 0 used for all"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        rewritten = _copy(graph)
        x_name, w_name, b_name = [*rewritten.nodes[0].inputs, None][:3]
        x, w = rewritten.tensor(x_name or ""), rewritten.tensor(w_name or "")
        assert w.quant is not None and x.quant is not None
        scales = np.full(w.quant.scale.shape, w.quant.scale[0])
        _requant(rewritten, w.name, Quantization(scales, w.quant.zero_point, w.quant.axis))
        if b_name is not None:
            b = bias_scales(float(x.quant.scale[0]), scales)
            _requant(rewritten, b_name, Quantization(b, np.zeros(b.size, np.int64), w.quant.axis))
        return ReferencePartition(rewritten).run(inputs)


def _explicit_padding(
    graph: Graph, inputs: Inputs, value: int, extra_first: bool
) -> tuple[Graph, dict[str, np.ndarray]]:
    """The graph with SAME padding done on the input (``value``) and the node made VALID; the
    odd padding element goes first (``extra_first``) or last (TFLite)."""
    rewritten = _copy(graph)
    node = rewritten.nodes[0]
    if node.attrs.get("padding") != "SAME":
        return graph, dict(inputs)
    x = rewritten.tensor(node.inputs[0] or "")
    data = np.asarray(inputs[x.name])
    pads = [(0, 0)]
    for axis, (k, s, d) in enumerate(
        (
            (_kernel(graph, 1), node.attrs.get("stride_h", 1), node.attrs.get("dilation_h", 1)),
            (_kernel(graph, 2), node.attrs.get("stride_w", 1), node.attrs.get("dilation_w", 1)),
        ),
        start=1,
    ):
        size = x.shape[axis]
        before, after = same_padding(size, k, s, d, conv_output_size(size, k, s, d, "SAME"))
        pads.append((after, before) if extra_first else (before, after))
    pads.append((0, 0))
    padded = np.pad(data, pads, constant_values=value)
    rewritten.tensors[x.name] = replace(x, shape=padded.shape)
    rewritten.nodes[0] = replace(node, attrs={**node.attrs, "padding": "VALID"})
    return rewritten, {**inputs, x.name: padded}


def _kernel(graph: Graph, axis: int) -> int:
    node = graph.nodes[0]
    if node.op == "AVERAGE_POOL_2D":
        return int(node.attrs["filter_h" if axis == 1 else "filter_w"])
    w = graph.tensor(node.inputs[1] or "")
    return int(w.shape[axis])


class PaddingSplit(_Mutant):
    """SAME padding with the odd element before (top/left) instead of after."""

    name = "mutant-padding-split"
    ops = ("CONV_2D", "DEPTHWISE_CONV_2D")
    bug = "SAME padding split the other way"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        x = graph.tensor(graph.nodes[0].inputs[0] or "")
        assert x.quant is not None
        zero = int(x.quant.zero_point[0])
        rewritten, padded = _explicit_padding(graph, inputs, zero, extra_first=True)
        return ReferencePartition(rewritten).run(padded)


class AveragePoolFullWindow(_Mutant):
    """AVERAGE_POOL_2D that divides by the full window at the edges (padding counted as 0)."""

    name = "mutant-average-pool-window"
    ops = ("AVERAGE_POOL_2D",)
    bug = "average pool dividing by the full window at the edges"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        rewritten, padded = _explicit_padding(graph, inputs, 0, extra_first=False)
        return ReferencePartition(rewritten).run(padded)


_PATCH_LOCK = threading.Lock()


class SoftmaxNoDiffMin(_Mutant):
    """int8 SOFTMAX that lets every difference to the row maximum contribute (no ``diff_min``
    cut-off)."""

    name = "mutant-softmax-diff-min"
    ops = ("SOFTMAX",)
    bug = "softmax diff_min ignored"

    def compile(self, subgraph: Graph) -> CompiledPartition:
        original = softmax_quant.softmax_params

        def without_cutoff(node: Node, graph: Graph) -> softmax_quant.SoftmaxParams:
            return replace(original(node, graph), diff_min=-(2**31))

        # The reference kernel reads its parameters while it is prepared, here.
        with _PATCH_LOCK:
            softmax_quant.softmax_params = without_cutoff  # type: ignore[assignment]
            try:
                return ReferencePartition(subgraph)
            finally:
                softmax_quant.softmax_params = original  # type: ignore[assignment]


class Int16Accumulator32(_Mutant):
    """16x8 FULLY_CONNECTED that accumulates in 32 bits (C ``int32_t acc``) before the 64-bit
    requantization: long dot products of large int16 activations wrap around."""

    name = "mutant-int16-accumulator-32"
    ops = ("FULLY_CONNECTED",)
    bug = "int16 requantization with a 32-bit accumulator"
    signature = "int16"

    def run_graph(self, graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
        p, acc = _fc_accumulators(graph, inputs)
        acc = wrap_int32(acc)  # the bug: the sum kept in 32 bits
        q = multiply_by_quantized_multiplier_int64(acc, p.multipliers, p.shifts)
        return _fc_output(graph, p, q, np.int16)


MUTANTS: tuple[type[_Mutant], ...] = (
    SingleRounding,
    SaturationOffByOne,
    ZeroPointSign,
    ChannelZeroScale,
    PaddingSplit,
    SoftmaxNoDiffMin,
    AveragePoolFullWindow,
    Int16Accumulator32,
)
