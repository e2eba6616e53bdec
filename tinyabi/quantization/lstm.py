"""UNIDIRECTIONAL_SEQUENCE_LSTM (the ``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM`` extension
operator) as TFLite Micro's integer LSTM computes it, in two variants: int8 (int8 activations,
weights and hidden state, int32 biases) and 16x8 (int16 activations and hidden state with zero
point 0, int8 weights, int64 biases, whose gate sums TFLite Micro takes in 64 bits and
requantizes with the multiplier reduced to Q15); both with int16 gates and cell state.

Each gate's input is int16 with scale 2**-12 and its output (sigmoid or tanh) 2**-15; the cell
state's scale is a power of two ``2**p``; the hidden state (the output and the output state)
is int8 or int16. The fixed-point multipliers (``quantize_multiplier`` of)::

    gate input part   s_in * s_w_gate / 2**-12
    gate hidden part  s_hidden * s_recurrent_gate / 2**-12
    forget x cell     2**-15 * 2**p / 2**p = 2**-15
    input x cell gate 2**-15 * 2**-15 / 2**p
    output x tanh     2**-15 * 2**-15 / s_hidden      (+ the hidden zero point, clamped to
                                                       the hidden state's type)

The products are the float64 products of the float32 scales, as for FULLY_CONNECTED.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.quantization.fixed_point import quantize_multiplier
from tinyabi.quantization.tensors import per_tensor

__all__ = [
    "BIAS_DTYPES",
    "GATES",
    "GateParams",
    "LstmOperands",
    "LstmParams",
    "lstm_operands",
    "lstm_params",
]

#: The gates in the operator's operand order (input, forget, cell, output).
GATES = ("input", "forget", "cell", "output")
#: Scale of a gate's int16 input (the activations take Q3.12) and of its output (Q0.15).
GATE_INPUT_SCALE = 2.0**-12
GATE_OUTPUT_SCALE = 2.0**-15


@dataclass(frozen=True)
class LstmOperands:
    """The tensors an integer LSTM uses (no peephole, projection or layer normalization)."""

    input: Tensor
    input_weights: tuple[Tensor, ...]  # per gate, [hidden, input size]
    recurrent_weights: tuple[Tensor, ...]  # per gate, [hidden, hidden]
    biases: tuple[Tensor | None, ...]  # per gate, [hidden]
    output_state: Tensor
    cell_state: Tensor
    output: Tensor


@dataclass(frozen=True)
class GateParams:
    """One gate's two requantizations (the input part and the hidden part)."""

    input_multiplier: int
    input_shift: int
    hidden_multiplier: int
    hidden_shift: int


@dataclass(frozen=True)
class LstmParams:
    """An integer LSTM's parameters (see the module docstring)."""

    input_zero_point: int
    hidden_zero_point: int
    gates: dict[str, GateParams]
    forget_to_cell: tuple[int, int]
    input_to_cell: tuple[int, int]
    output: tuple[int, int]
    cell_scale_power: int
    time_major: bool
    #: The activations' and hidden state's type: "int8", or "int16" (16x8).
    dtype: str = "int8"


#: Operand indices of the optional parts that must be absent (peepholes, projection, layer
#: normalization) in the 24-operand layout.
ABSENT = (9, 10, 11, 16, 17, 20, 21, 22, 23)


def lstm_operands(node: Node, graph: Graph) -> LstmOperands:
    """The operands, checked to be the standard LSTM's (24 operands, the optional ones
    absent, every gate present)."""
    tensors = graph.node_inputs(node)
    if len(tensors) != 24 or len(node.outputs) != 1:
        raise GraphError(f"{node.describe()}: an LSTM takes 24 operands and has one output")
    if any(tensors[i] is not None for i in ABSENT):
        raise GraphError(
            f"{node.describe()}: peepholes, a projection or layer normalization are not supported"
        )
    needed = [*range(0, 9), *range(12, 16), 18, 19]
    if any(tensors[i] is None for i in needed):
        raise GraphError(f"{node.describe()}: every gate needs its weights and bias")

    def t(i: int) -> Tensor:
        found = tensors[i]
        assert found is not None
        return found

    return LstmOperands(
        input=t(0),
        input_weights=tuple(t(i) for i in range(1, 5)),
        recurrent_weights=tuple(t(i) for i in range(5, 9)),
        biases=tuple(tensors[i] for i in range(12, 16)),
        output_state=t(18),
        cell_state=t(19),
        output=graph.tensor(node.outputs[0]),
    )


def _options(node: Node) -> dict[str, object]:
    options = node.attrs.get("options")
    return options if isinstance(options, dict) else {}


#: Per activation type, the type of the gate biases.
BIAS_DTYPES = {"int8": "int32", "int16": "int64"}


def lstm_params(node: Node, graph: Graph) -> LstmParams:
    """The integer LSTM's parameters: int8 weights; int8 input, output and output state with
    int32 biases, or (16x8) int16 ones with zero point 0 and int64 biases; an int16 cell state
    with a power-of-two scale and zero point 0, per-tensor scales, the output quantized as the
    output state, a TANH activation and no cell clip."""
    ops = lstm_operands(node, graph)
    dtype = ops.input.dtype
    activations = {dtype, ops.output.dtype, ops.output_state.dtype}
    weights = {w.dtype for w in (*ops.input_weights, *ops.recurrent_weights)}
    if (
        dtype not in BIAS_DTYPES
        or activations != {dtype}
        or weights != {"int8"}
        or ops.cell_state.dtype != "int16"
    ):
        raise GraphError(
            f"{node.describe()}: an integer LSTM has int8 weights, an int8 (or, 16x8, an "
            "int16) input, output and output state, and an int16 cell state"
        )
    if any(b is not None and b.dtype != BIAS_DTYPES[dtype] for b in ops.biases):
        raise GraphError(
            f"{node.describe()}: the gate biases of an {dtype} LSTM must be {BIAS_DTYPES[dtype]}"
        )
    s_in, zp_in = per_tensor(node, ops.input, "input")
    s_h, zp_h = per_tensor(node, ops.output_state, "output state")
    s_out, zp_out = per_tensor(node, ops.output, "output")
    if (s_out, zp_out) != (s_h, zp_h):
        raise GraphError(f"{node.describe()}: the output must be quantized as the output state")
    if dtype == "int16" and (zp_in, zp_h) != (0, 0):
        raise GraphError(f"{node.describe()}: a 16x8 LSTM's int16 tensors need zero point 0")
    s_cell, zp_cell = per_tensor(node, ops.cell_state, "cell state")
    power = math.log2(s_cell)
    if zp_cell != 0 or power != round(power):
        raise GraphError(
            f"{node.describe()}: the cell state's scale must be a power of two, zero point 0"
        )
    options = _options(node)
    if int(options.get("fusedActivationFunction", 4)) != 4:  # type: ignore[call-overload]
        raise GraphError(f"{node.describe()}: only the TANH activation is supported")
    if float(options.get("cellClip", 0.0) or 0.0) != 0.0:  # type: ignore[arg-type]
        raise GraphError(f"{node.describe()}: a cell clip is not supported")
    gates = {}
    for name, w, r in zip(GATES, ops.input_weights, ops.recurrent_weights):
        s_w, _ = per_tensor(node, w, f"{name} input weights")
        s_r, _ = per_tensor(node, r, f"{name} recurrent weights")
        m_in, e_in = quantize_multiplier(s_in * s_w / GATE_INPUT_SCALE)
        m_h, e_h = quantize_multiplier(s_h * s_r / GATE_INPUT_SCALE)
        gates[name] = GateParams(m_in, e_in, m_h, e_h)
    return LstmParams(
        input_zero_point=zp_in,
        hidden_zero_point=zp_h,
        gates=gates,
        forget_to_cell=quantize_multiplier(GATE_OUTPUT_SCALE),
        input_to_cell=quantize_multiplier(GATE_OUTPUT_SCALE * GATE_OUTPUT_SCALE / s_cell),
        output=quantize_multiplier(GATE_OUTPUT_SCALE * GATE_OUTPUT_SCALE / s_h),
        cell_scale_power=round(power),
        time_major=bool(options.get("timeMajor", False)),
        dtype=dtype,
    )
