"""What the CMSIS-NN backend runs, as named checks (in the style of Arm Vela's constraints).

Every reason to decline a node is one function ``check_...(node, graph) -> str | None``: it
returns ``None`` when the node passes and otherwise the reason, and its docstring is the rule in
words. The checks about the spec (:data:`SPEC_CHECKS`) also take the node's
:class:`~tinyabi.ir.validate.NodeCheck`, which the dispatcher computes once for every backend.
:data:`CHECKS` lists, per operator, the checks that apply in order; :func:`supports` runs them
and turns the first failure into a :class:`~tinyabi.backends.base.Verdict` with a hint
(:data:`HINTS`). :func:`support_table` renders the whole table as Markdown
(``docs/cmsis-nn-support.md``; ``python -m tinyabi_cmsis_nn.constraints --write`` regenerates
it).

The checks do not raise: a node whose tensors cannot even be looked up fails the spec check
(and the dispatcher turns an exception from ``supports`` into a refusal quoting it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from tinyabi.backends import Verdict
from tinyabi.backends.checks import TABLE_HEADER, check_rows, support_doc_main
from tinyabi.errors import GraphError
from tinyabi.ir import Graph, Node, NodeCheck, Tensor, check_node
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization import elementwise as elementwise_quant
from tinyabi.quantization import lstm as lstm_quant
from tinyabi.quantization import pooling as pooling_quant
from tinyabi.quantization import softmax as softmax_quant
from tinyabi.quantization import svdf as svdf_quant
from tinyabi.quantization.fixed_point import reduce_multiplier
from tinyabi.quantization.tensors import per_tensor
from tinyabi_cmsis_nn.codegen.params import (
    activation_s16_left_shift,
    conv_params,
    transpose_conv_params,
)

Check = Callable[[Node, Graph], "str | None"]
#: A check that reads the node's spec check too.
SpecCheck = Callable[[Node, Graph, NodeCheck], "str | None"]
AnyCheck = Check | SpecCheck

#: The most dimensions a tensor the generated code exposes may have (``model_tensor_t.shape``).
MAX_RANK = 6
#: CMSIS-NN takes sizes and dimensions as int32.
MAX_ELEMENTS = 2**31 - 1
#: Fused activations CMSIS-NN's int8 kernels apply as a clamp.
CLAMP_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
#: The range of requantization shifts CMSIS-NN applies (positive = left).
SHIFT_RANGE = (-31, 30)
#: The magnitude bound of an int16 activation.
INT16_MAGNITUDE = 2**15
#: The int32 range bound the s16 kernels' 32-bit sums and narrowed results must stay below.
INT32_BOUND = 2**31 - 2
#: The type signatures the backend runs, per operator: int8 everywhere; 16x8 (int16
#: activations, int8 weights) where CMSIS-NN has an s16 kernel.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("int8", "int16", "int16_int32_bias"),
    "DEPTHWISE_CONV_2D": ("int8", "int16"),
    "FULLY_CONNECTED": ("int8", "int16", "int16_int32_bias"),
    "AVERAGE_POOL_2D": ("int8", "int16"),
    "MAX_POOL_2D": ("int8", "int16"),
    "SOFTMAX": ("int8", "int16"),
    "ADD": ("int8", "int16"),
    "MUL": ("int8", "int16"),
    "LOGISTIC": ("int16",),
    "TANH": ("int16",),
    "RESHAPE": ("int8", "int16"),
    "SQUEEZE": ("int8", "int16"),
    "TRANSPOSE_CONV": ("int8",),
    "tflite.SVDF": ("int8",),
    "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM": ("int8", "int16"),
}
#: Extension operators the backend runs (checked by their own checks, not the spec's).
EXTENSIONS = frozenset({"tflite.SVDF", "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM"})
#: Operators with state kept across runs (in the generated code's state buffer; on a Cortex-M
#: target the host keeps it between QEMU runs).
STATEFUL = EXTENSIONS
#: The activation input of operators whose first input is not it.
ACTIVATION_INPUT = {"TRANSPOSE_CONV": 2}


# --- helpers -----------------------------------------------------------------------------------


def _inputs(node: Node, graph: Graph) -> list[Tensor | None]:
    return graph.node_inputs(node)


def _first_input(node: Node, graph: Graph) -> Tensor:
    """The node's (first) activation input."""
    x = _inputs(node, graph)[ACTIVATION_INPUT.get(node.op, 0)]
    assert x is not None  # the spec check ran first
    return x


def _output(node: Node, graph: Graph) -> Tensor:
    return graph.tensor(node.outputs[0])


def _is_int16(node: Node, graph: Graph) -> bool:
    """Whether the node's (first) activation input is int16 (a 16x8 node)."""
    return _first_input(node, graph).dtype == "int16"


def _activation(node: Node) -> str:
    return str(node.attrs.get("fused_activation", "NONE"))


def _conv_family_params(node: Node, graph: Graph) -> conv_quant.ConvQuantParams:
    """The node's requantization, from the one function of its operator."""
    if node.op == "CONV_2D":
        return conv_quant.conv_params(node, graph)
    if node.op == "DEPTHWISE_CONV_2D":
        return conv_quant.depthwise_conv_params(node, graph)
    if node.op == "TRANSPOSE_CONV":
        return conv_quant.transpose_conv_params(node, graph)
    return conv_quant.fully_connected_params(node, graph)


# --- checks for every operator -----------------------------------------------------------------


def check_not_extension(node: Node, graph: Graph) -> str | None:
    """The operator is a TinyABI spec operator, or an extension operator CMSIS-NN has a kernel
    for (``tflite.SVDF``, ``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM``; others such as
    ``tflite.*`` are not CMSIS-NN's)."""
    if node.is_extension and node.op not in EXTENSIONS:
        return f"{node.op} is outside the TinyABI spec"
    return None


def check_operator_listed(node: Node, graph: Graph) -> str | None:
    """The operator is one CMSIS-NN has a kernel for (see the table)."""
    if node.op not in CHECKS:
        return f"CMSIS-NN has no kernel for {node.op}"
    return None


def check_spec_valid(node: Node, graph: Graph, spec: NodeCheck) -> str | None:
    """The node satisfies the TinyABI spec: operands, attributes, a type signature, shapes."""
    return spec.problem


def check_signature(node: Node, graph: Graph, spec: NodeCheck) -> str | None:
    """The node matches a signature CMSIS-NN has a kernel for: int8 (every operator but
    LOGISTIC and TANH) or 16x8 (int16 activations, int8 weights: the s16 kernels of CONV_2D
    with an int64 or int32 bias, DEPTHWISE_CONV_2D, FULLY_CONNECTED with an int64 or int32
    bias, the poolings, SOFTMAX, ADD, MUL, LOGISTIC, TANH, and the reshapes); no float32 or
    hybrid variants. Extension operators (no spec signature) are checked by their own
    parameter checks."""
    if node.op in EXTENSIONS:
        return None
    allowed = SIGNATURES.get(node.op, ())
    if spec.signature not in allowed:
        supported = ", ".join(allowed) or "none"
        return f"the {spec.signature} signature of {node.op} is not supported ({supported} are)"
    return None


def check_static_sizes(node: Node, graph: Graph) -> str | None:
    """Every tensor of the node has at least one element, at most 6 dimensions and fewer than
    2**31 elements (CMSIS-NN's int32 sizes, the generated code's tensor table)."""
    names = [n for n in node.inputs if n is not None] + list(node.outputs)
    for name in names:
        t = graph.tensor(name)
        if t.is_constant:
            continue
        if len(t.shape) > MAX_RANK:
            return f"tensor {name!r} has {len(t.shape)} dimensions, more than {MAX_RANK}"
        if t.size < 1:
            return f"tensor {name!r} is empty (shape {list(t.shape)})"
        if t.size > MAX_ELEMENTS:
            return f"tensor {name!r} has {t.size} elements, beyond int32"
    return None


def check_zero_points_int8(node: Node, graph: Graph) -> str | None:
    """Activation zero points lie in [-128, 127], so that CMSIS-NN's offsets (input offset
    -zp in [-127, 128], output offset zp) are in their documented ranges."""
    names = [n for n in node.inputs if n is not None] + list(node.outputs)
    for name in names:
        t = graph.tensor(name)
        if t.is_constant or t.quant is None:
            continue
        if np.any(t.quant.zero_point < -128) or np.any(t.quant.zero_point > 127):
            return f"tensor {name!r} has a zero point outside [-128, 127]"
        if not np.all(np.isfinite(t.quant.scale)) or np.any(t.quant.scale <= 0):
            return f"tensor {name!r} has a scale that is not finite and positive"
    return None


def check_int16_zero_points(node: Node, graph: Graph) -> str | None:
    """int16 activations have zero point 0: CMSIS-NN's s16 kernels take no offsets (TFLM also
    accepts other zero points for int16 ADD and the poolings)."""
    names = [n for n in node.inputs if n is not None] + list(node.outputs)
    for name in names:
        t = graph.tensor(name)
        if t.dtype != "int16" or t.is_constant or t.quant is None:
            continue
        if np.any(t.quant.zero_point != 0):
            return f"int16 tensor {name!r} has a zero point other than 0"
    return None


def check_activations_in_arena(node: Node, graph: Graph) -> str | None:
    """The activation inputs (both operands of ADD and MUL, the first input otherwise) are
    computed at run time, so they live in the arena (constant activations are not placed
    there; TRANSPOSE_CONV's activation is its third input)."""
    first = ACTIVATION_INPUT.get(node.op, 0)
    count = 2 if node.op in ("ADD", "MUL") else 1
    for name in node.inputs[first : first + count]:
        if name is not None and graph.tensor(name).is_constant:
            return f"the activation input {name!r} is a constant"
    return None


def check_clamp_activation(node: Node, graph: Graph) -> str | None:
    """The fused activation is NONE, RELU, RELU6 or RELU_N1_TO_1 (a clamp of the int8 or
    int16 output)."""
    activation = _activation(node)
    if activation not in CLAMP_ACTIVATIONS:
        return f"fused activation {activation} is not a clamp CMSIS-NN applies"
    return None


# --- convolutions and fully connected ----------------------------------------------------------


def check_constant_weights(node: Node, graph: Graph) -> str | None:
    """Filter and bias are constant tensors (CMSIS-NN's weights live in flash)."""
    tensors = _inputs(node, graph)
    operands = [tensors[1], tensors[3] if len(tensors) > 3 else None]
    if node.op != "TRANSPOSE_CONV":
        operands = tensors[1:3]
    for role, t in zip(("filter", "bias"), operands):
        if t is not None and not t.is_constant:
            return f"the {role} {t.name!r} is computed at run time"
    return None


def check_requantization_shifts(node: Node, graph: Graph) -> str | None:
    """The node's requantization exists (:mod:`tinyabi.quantization.conv`) and every output
    channel's real multiplier ``s_in * s_w / s_out`` quantizes to a Q31 multiplier whose shift
    lies in [-31, 30] (CMSIS-NN's requantization range), or is so small that it quantizes to
    zero (as in TFLite)."""
    try:
        params = _conv_family_params(node, graph)
    except GraphError as exc:
        return str(exc)
    lo, hi = SHIFT_RANGE
    for real, multiplier, shift in zip(params.real_multipliers, params.multipliers, params.shifts):
        if multiplier != 0 and not lo <= shift <= hi:
            return f"real multiplier {real:g} is outside the range CMSIS-NN requantizes"
    return None


def _abs_weight_sums(node: Node, graph: Graph) -> np.ndarray:
    """``sum(|w|)`` of each output channel's filter (int64)."""
    w = _inputs(node, graph)[1]
    assert w is not None and w.data is not None
    data = np.abs(np.asarray(w.data, dtype=np.int64))
    if node.op == "DEPTHWISE_CONV_2D":
        return data.reshape(-1, data.shape[-1]).sum(axis=0)
    return data.reshape(data.shape[0], -1).sum(axis=1)


def check_s16_sums_fit_int32(node: Node, graph: Graph) -> str | None:
    """(16x8 with an int64 bias or none) Arm's s16 convolution, depthwise and fully connected
    kernels add an output's int16 x int8 products in 32 bits before the 64-bit bias: the
    largest such sum, 32768 x the channel's ``sum(|w|)``, stays below 2**31 (TFLM adds in 64
    bits; the portable library does too, but the generated code is the same for both)."""
    if not _is_int16(node, graph) or _conv_family_params(node, graph).accumulator != "int64":
        return None
    largest = int(_abs_weight_sums(node, graph).max(initial=0)) * INT16_MAGNITUDE
    if largest > INT32_BOUND:
        return f"a channel's products can sum to {largest}, beyond CMSIS-NN's 32-bit sums"
    return None


def check_s16_requantized_range(node: Node, graph: Graph) -> str | None:
    """(16x8 with an int64 bias or none) Every channel's requantized accumulator stays within
    int32 before its last rounding step: ``(32768 sum(|w|) + |bias|) * reduced multiplier /
    2**(14 - shift)`` below 2**31 - 2 (Arm's s16 kernels narrow to 32 bits one step before
    TFLM does, so beyond that bound the wrapped results differ)."""
    if not _is_int16(node, graph):
        return None
    params = _conv_family_params(node, graph)
    if params.accumulator != "int64":
        return None
    tensors = _inputs(node, graph)
    bias = tensors[2] if len(tensors) > 2 else None
    sums = _abs_weight_sums(node, graph)
    bounds = [int(s) * INT16_MAGNITUDE for s in sums]
    if bias is not None and bias.data is not None:
        magnitudes = np.abs(np.asarray(bias.data, dtype=np.int64).reshape(-1)).tolist()
        bounds = [b + int(m) for b, m in zip(bounds, magnitudes)]
    channels = len(bounds)
    reduced = np.broadcast_to(reduce_multiplier(params.multipliers), (channels,)).tolist()
    shifts = np.broadcast_to(params.shifts, (channels,)).tolist()
    for bound, r, shift in zip(bounds, reduced, shifts):
        if bound * int(r) > INT32_BOUND << (14 - int(shift)):
            return "the requantized accumulator can leave int32 before its last rounding"
    return None


def check_s16_conv_not_grouped(node: Node, graph: Graph) -> str | None:
    """(16x8) The CONV_2D filter reads every input channel: ``arm_convolve_s16`` has no
    grouped variant."""
    if node.op != "CONV_2D" or not _is_int16(node, graph):
        return None
    w, x = _inputs(node, graph)[1], _first_input(node, graph)
    assert w is not None
    if w.shape[-1] != x.shape[-1]:
        return f"a grouped convolution ({x.shape[-1]} input channels, filter of {w.shape[-1]})"
    return None


def check_conv_one_row_padding(node: Node, graph: Graph) -> str | None:
    """(int8 CONV_2D on one input row) The horizontal padding is what Arm's 1xN kernel reads:
    ``arm_convolve_wrapper_s8`` sends a call with one input row, a one-row filter wider than
    one, unit dilation, ``stride_w * channels`` a multiple of 4 and no groups to
    ``arm_convolve_1_x_n_s8``, whose Cortex-M55 (MVE) code pads the last outputs' windows on
    the right by ``ceil((pad + asymmetry) / stride)`` outputs of ``pad + asymmetry`` columns.
    With total padding ``T = (out_w - 1) * stride_w + filter_w - in_w`` and left padding ``L``
    it matches TFLM when ``T >= 0`` (no input column past the last window) and, for a stride
    above 1, either ``T = 2L`` with ``L <= stride`` or ``L = 0`` and ``T = 1``."""
    if node.op != "CONV_2D" or _is_int16(node, graph):
        return None
    p = conv_params(node, graph)
    i, f, o = p.input_dims, p.filter_dims, p.output_dims
    one_by_n = i.h == 1 and f.h == 1 and f.w > 1 and p.dilation.w == 1
    if not one_by_n or (p.stride.w * i.c) % 4 or f.c != i.c:
        return None
    total = (o.w - 1) * p.stride.w + f.w - i.w
    left = p.padding.w
    if total < 0:
        return f"{-total} input column(s) past the last window (Arm's 1xN kernel pads there)"
    if p.stride.w > 1 and not (total == 2 * left <= 2 * p.stride.w or (left, total) == (0, 1)):
        right = total - left
        return (
            f"padding {left} left, {right} right at stride {p.stride.w} (Arm's 1xN pads otherwise)"
        )
    return None


def check_fc_per_tensor_filter(node: Node, graph: Graph) -> str | None:
    """(int8) The FULLY_CONNECTED filter is quantized per tensor: ``arm_fully_connected_s8``
    takes one multiplier and shift (CMSIS-NN v7's per-channel variant is not in the portable
    library). A 16x8 one with a per-channel filter runs as a 1x1 ``arm_convolve_wrapper_s16``."""
    if _is_int16(node, graph):
        return None
    w = _inputs(node, graph)[1]
    assert w is not None and w.quant is not None
    if w.quant.per_axis:
        return f"the filter {w.name!r} is quantized per channel ({w.quant.scale.size} scales)"
    return None


def check_fc_bias_scale(node: Node, graph: Graph) -> str | None:
    """(int8 and 16x8) A per-tensor FULLY_CONNECTED's bias scale is within 2% of the output scale of
    ``input scale * filter scale`` (TFLite refuses other models)."""
    return conv_quant.bias_scale_problem(node, graph)


def _transpose_geometry(node: Node, graph: Graph) -> list[tuple[str, int, int, int, int, int]]:
    """Per axis (name, input size, output size, kernel, stride, top/left padding) of a
    TRANSPOSE_CONV (the padding as :func:`.codegen.params.transpose_conv_params` computes it)."""
    p = transpose_conv_params(node, graph)
    return [
        ("height", p.input_dims.h, p.output_dims.h, p.filter_dims.h, p.stride.h, p.padding.h),
        ("width", p.input_dims.w, p.output_dims.w, p.filter_dims.w, p.stride.w, p.padding.w),
    ]


def check_transpose_conv_buffer_width(node: Node, graph: Graph) -> str | None:
    """(TRANSPOSE_CONV) ``max(filter width, horizontal stride)`` is at most ``max(filter width,
    vertical stride)``: ``arm_transpose_conv_s8_get_buffer_size`` sizes a buffer row with the
    vertical stride where the kernel uses the horizontal one, so beyond that it answers too
    few bytes."""
    (_, _, _, _, sh, _), (_, _, _, kw, sw, _) = _transpose_geometry(node, graph)
    if max(kw, sw) > max(kw, sh):
        return (
            f"a horizontal stride {sw} above the filter width {kw} and the vertical stride "
            f"{sh} (Arm's buffer size is too small)"
        )
    return None


def check_transpose_conv_output_covered(node: Node, graph: Graph) -> str | None:
    """(TRANSPOSE_CONV) The output is exactly the part of the scattered canvas
    ``arm_transpose_conv_s8`` writes out: with input size H, stride s, filter K, padding p and
    output size O per axis, ``H * s - p <= O <= (H - 1) * s + max(K, s) - p`` for the rows (it
    writes ``s`` rows per input row, then the rows the last filter overhangs) and
    ``p + O <= (W - 1) * s + max(K, s)`` for the columns (its buffer row). TFLM's shapes allow
    more (e.g. SAME with an odd output and a filter no larger than the stride), which Arm's
    kernel would write past the output or leave unwritten."""
    for axis, size, out, kernel, stride, pad in _transpose_geometry(node, graph):
        extent = (size - 1) * stride + max(kernel, stride)
        if axis == "height" and size * stride - pad > out:
            return f"Arm's kernel writes {size * stride - pad} output rows, not {out}"
        if pad + out > extent:
            return f"the output {axis} {out} reaches beyond Arm's {extent - pad}"
    return None


# --- SVDF --------------------------------------------------------------------------------------


def check_svdf_parameters(node: Node, graph: Graph) -> str | None:
    """(SVDF) The parameters of :func:`tinyabi.quantization.svdf.svdf_params` exist: int8
    input, feature weights and output, int16 time weights and state (zero point 0, what
    ``arm_svdf_state_s16_s8`` takes; an int8 state is ``arm_svdf_s8``'s, which TFLM's
    reference kernel does not compute), per-tensor scales, a rank dividing the filters; both
    multipliers' shifts lie in [-31, 30]."""
    try:
        p = svdf_quant.svdf_params(node, graph)
    except GraphError as exc:
        return str(exc)
    lo, hi = SHIFT_RANGE
    for multiplier, shift in (
        (p.feature_multiplier, p.feature_shift),
        (p.time_multiplier, p.time_shift),
    ):
        if multiplier != 0 and not lo <= shift <= hi:
            return f"a requantization shift of {shift} is outside what CMSIS-NN applies"
    return None


def check_svdf_shapes(node: Node, graph: Graph) -> str | None:
    """(SVDF) The shapes are TFLite's: input [batches, depth], feature weights [filters, depth],
    time weights [filters, memory], bias [filters / rank], state [batches, filters * memory],
    output [batches, filters / rank]."""
    x, feature, time, bias, state = svdf_quant.svdf_operands(node, graph)
    y = _output(node, graph)
    rank = svdf_quant.svdf_params(node, graph).rank
    if len(x.shape) != 2 or len(time.shape) != 2:
        return "the input and the time weights must have two dimensions"
    batches, depth = x.shape
    filters, memory = time.shape
    units = filters // rank
    expected: dict[str, tuple[int, ...]] = {
        feature.name: (filters, depth),
        state.name: (batches, filters * memory),
        y.name: (batches, units),
    }
    if bias is not None:
        expected[bias.name] = (units,)
    for t in (feature, state, y, *([bias] if bias is not None else [])):
        if tuple(t.shape) != expected[t.name]:
            return f"tensor {t.name!r} has shape {list(t.shape)}, not {list(expected[t.name])}"
    return None


def check_svdf_constant_weights(node: Node, graph: Graph) -> str | None:
    """(SVDF) The feature and time weights and the bias are constants (flash)."""
    _, feature, time, bias, _ = svdf_quant.svdf_operands(node, graph)
    for t in (feature, time, bias):
        if t is not None and t.data is None:
            return f"the weights {t.name!r} are computed at run time"
    return None


def check_svdf_variable_state(node: Node, graph: Graph) -> str | None:
    """(SVDF) The state is a variable tensor (kept across runs in the generated code's state
    buffer, zeroed by a reset), not a constant that restarts every run."""
    state = svdf_quant.svdf_operands(node, graph)[4]
    if not state.variable or state.data is not None:
        return f"the state {state.name!r} is not a variable tensor"
    return None


# --- LSTM --------------------------------------------------------------------------------------

#: The cell state scales whose tanh ``arm_nn_activation_s16`` computes (its left shift
#: ``cell_scale_power + 12`` is 0 or 1).
LSTM_CELL_POWERS = (-12, -11)


def check_lstm_parameters(node: Node, graph: Graph) -> str | None:
    """(LSTM) The parameters of :func:`tinyabi.quantization.lstm.lstm_params` exist: the
    standard LSTM (no peepholes, projection or layer normalization), int8 weights, an int8
    input, output and output state with int32 biases or (16x8) int16 ones with int64 biases,
    quantized per tensor, the output as the output state, an int16 cell state with scale
    2**-11 or 2**-12 (the tanh ``arm_nn_activation_s16`` computes), TANH, no cell clip; every
    requantization shift lies in [-31, 30]."""
    try:
        p = lstm_quant.lstm_params(node, graph)
    except GraphError as exc:
        return str(exc)
    if p.cell_scale_power not in LSTM_CELL_POWERS:
        return f"the cell state scale 2**{p.cell_scale_power} is not 2**-11 or 2**-12"
    pairs = [p.forget_to_cell, p.input_to_cell, p.output]
    for g in p.gates.values():
        pairs += [(g.input_multiplier, g.input_shift), (g.hidden_multiplier, g.hidden_shift)]
    lo, hi = SHIFT_RANGE
    for multiplier, shift in pairs:
        if multiplier != 0 and not lo <= shift <= hi:
            return f"a requantization shift of {shift} is outside what CMSIS-NN applies"
    return None


#: One gate part of an LSTM: the largest magnitude of its operand (less the zero point), the
#: ``sum(|w|)`` and ``|effective bias|`` of each row, its multiplier and shift.
GatePart = tuple[int, np.ndarray, np.ndarray, int, int]


def _lstm_gate_parts(node: Node, graph: Graph) -> list[GatePart]:
    """Every gate part of an LSTM, input part then recurrent part of each gate in
    :data:`~tinyabi.quantization.lstm.GATES` order (see :data:`GatePart`). The hidden state is
    the LSTM's own ``rq(output gate x tanh(cell)) + zero point`` (or the reset value, its zero
    point), so beyond its zero point it never exceeds ``1 / scale + 1`` (the Q30 product,
    requantized)."""
    p = lstm_quant.lstm_params(node, graph)
    ops = lstm_quant.lstm_operands(node, graph)
    info = np.iinfo(np.dtype(p.dtype))
    x_zp, h_zp = p.input_zero_point, p.hidden_zero_point
    x_magnitude = max(int(info.max) - x_zp, x_zp - int(info.min))
    h_scale, _ = per_tensor(node, ops.output_state, "output state")
    h_magnitude = max(int(info.max) - h_zp, h_zp - int(info.min))
    h_magnitude = min(h_magnitude, int(1.0 / h_scale) + 2)
    parts: list[GatePart] = []
    for name, w, r, b in zip(
        lstm_quant.GATES, ops.input_weights, ops.recurrent_weights, ops.biases
    ):
        g = p.gates[name]
        assert w.data is not None and r.data is not None
        rows = w.shape[0]
        bias = np.zeros(rows, np.int64) if b is None or b.data is None else np.asarray(b.data)
        w_sums = np.abs(np.asarray(w.data, np.int64)).sum(axis=1)
        r_sums = np.abs(np.asarray(r.data, np.int64)).sum(axis=1)
        x_bias = np.abs(bias.astype(np.int64) - x_zp * np.asarray(w.data, np.int64).sum(axis=1))
        h_bias = np.abs(h_zp * np.asarray(r.data, np.int64).sum(axis=1))
        parts.append((x_magnitude, w_sums, x_bias, g.input_multiplier, g.input_shift))
        parts.append((h_magnitude, r_sums, h_bias, g.hidden_multiplier, g.hidden_shift))
    return parts


def check_lstm_recurrent_part_in_int16(node: Node, graph: Graph) -> str | None:
    """(LSTM) Each gate's recurrent part, ``rq(W_h h + b_eff_h)``, stays within int16 for
    every hidden state the LSTM can produce: TFLM clamps the input part and the recurrent
    part to int16 each before adding them, Arm's kernels (and the portable library) add the
    recurrent part unclamped to the clamped input part, which differs once it leaves int16
    (``|h - zero point| x sum(|W_h row|) + |b_eff_h|``, requantized, below 32768)."""
    if check_lstm_parameters(node, graph) is not None:
        return None
    for k, (magnitude, sums, bias, multiplier, shift) in enumerate(_lstm_gate_parts(node, graph)):
        if k % 2 == 0:
            continue
        scale = multiplier / 2.0**31 * 2.0**shift
        largest = float((magnitude * sums + bias).max(initial=0)) * scale + 1
        if largest >= INT16_MAGNITUDE:
            gate = lstm_quant.GATES[k // 2]
            return f"the {gate} gate's recurrent part can reach {largest:.0f}, beyond int16"
    return None


def check_lstm_s16_sums_fit_int32(node: Node, graph: Graph) -> str | None:
    """(LSTM, 16x8) Every gate part's sum stays within int32, and so does its requantized
    value before the last rounding step: Arm's s16 LSTM on cores with DSP or MVE adds the
    int16 x int8 products in 32 bits (from the int64 bias narrowed to 32 bits, with MVE) and
    narrows the requantization one step before TFLM (which works in 64 bits throughout)."""
    if check_lstm_parameters(node, graph) is not None:
        return None
    if lstm_quant.lstm_params(node, graph).dtype != "int16":
        return None
    for magnitude, sums, bias, multiplier, shift in _lstm_gate_parts(node, graph):
        bounds = magnitude * sums + bias
        largest = int(bounds.max(initial=0))
        if largest > INT32_BOUND:
            return f"a gate's sum can reach {largest}, beyond CMSIS-NN's 32-bit sums"
        narrowed = largest * int(reduce_multiplier(multiplier))
        if narrowed > (INT32_BOUND << (14 - shift) if shift <= 14 else INT32_BOUND >> (shift - 14)):
            return "a gate's requantized sum can leave int32 before its last rounding"
    return None


def check_lstm_shapes(node: Node, graph: Graph) -> str | None:
    """(LSTM) The shapes are TFLite's: input [batches, steps, size] ([steps, batches, size]
    when time major), input weights [hidden, size], recurrent weights [hidden, hidden],
    biases [hidden], output state [batches, hidden], cell state [batches, hidden], output
    [batches, steps, hidden] (time major: [steps, batches, hidden])."""
    ops = lstm_quant.lstm_operands(node, graph)
    time_major = lstm_quant.lstm_params(node, graph).time_major
    if len(ops.input.shape) != 3 or len(ops.output_state.shape) != 2:
        return "the input needs three dimensions and the output state two"
    first, second, size = ops.input.shape
    batches = second if time_major else first
    hidden = ops.output_state.shape[1]
    expected: list[tuple[Tensor, tuple[int, ...]]] = [
        (w, (hidden, size)) for w in ops.input_weights
    ]
    expected += [(r, (hidden, hidden)) for r in ops.recurrent_weights]
    expected += [(b, (hidden,)) for b in ops.biases if b is not None]
    expected += [(ops.output_state, (batches, hidden)), (ops.cell_state, (batches, hidden))]
    expected.append((ops.output, (first, second, hidden)))
    for t, shape in expected:
        if tuple(t.shape) != shape:
            return f"tensor {t.name!r} has shape {list(t.shape)}, not {list(shape)}"
    return None


def check_lstm_constant_weights(node: Node, graph: Graph) -> str | None:
    """(LSTM) Every weight and bias is a constant (flash)."""
    ops = lstm_quant.lstm_operands(node, graph)
    for t in (*ops.input_weights, *ops.recurrent_weights, *ops.biases):
        if t is not None and t.data is None:
            return f"the weights {t.name!r} are computed at run time"
    return None


def check_lstm_variable_state(node: Node, graph: Graph) -> str | None:
    """(LSTM) The output state and the cell state are variable tensors (kept across runs in
    the generated code's state buffer, set back by a reset)."""
    ops = lstm_quant.lstm_operands(node, graph)
    for t in (ops.output_state, ops.cell_state):
        if not t.variable or t.data is not None:
            return f"the state {t.name!r} is not a variable tensor"
    return None


# --- pooling -----------------------------------------------------------------------------------


def check_pool_same_quantization(node: Node, graph: Graph) -> str | None:
    """Pooling keeps the input's quantization: output scale and zero point equal the input's
    (CMSIS-NN's pooling does not requantize)."""
    try:
        pooling_quant.pool_params(node, graph)
    except GraphError as exc:
        return str(exc)
    return None


# --- softmax -----------------------------------------------------------------------------------


def check_softmax_output_quantization(node: Node, graph: Graph) -> str | None:
    """(int8) The SOFTMAX output is quantized with scale 1/256 and zero point -128, the only
    int8 output ``arm_softmax_s8`` writes."""
    if _is_int16(node, graph):
        return None
    try:
        scale, zero_point = per_tensor(node, _output(node, graph), "output")
    except GraphError as exc:
        return str(exc)
    if (scale, zero_point) != softmax_quant.SOFTMAX_OUTPUT:
        return f"output scale {scale:g} and zero point {zero_point} are not 1/256 and -128"
    return None


def check_softmax_beta(node: Node, graph: Graph) -> str | None:
    """SOFTMAX's parameters exist (:func:`tinyabi.quantization.softmax.softmax_params`):
    ``beta * input scale`` exceeds 2**-26, so that the input multiplier is at least one
    (TFLM's condition), and is finite. (16x8: the parameters of
    :func:`tinyabi.quantization.softmax.softmax_int16_params` exist: output scale 2**-15 and
    zero point 0, ``beta * input scale`` below 5, what ``arm_softmax_s16`` computes.)"""
    try:
        if _is_int16(node, graph):
            softmax_quant.softmax_int16_params(node, graph)
            return None
        softmax_quant.softmax_params(node, graph)
    except GraphError as exc:
        return str(exc)
    return None


#: The int16 SOFTMAX rows ``arm_softmax_s16`` computes as TFLM does (see
#: :func:`check_softmax_s16_row_size`).
SOFTMAX_S16_ROWS = (2, 8)


def check_softmax_s16_row_size(node: Node, graph: Graph) -> str | None:
    """(16x8) The SOFTMAX row (last axis) holds 2 to 8 values. ``arm_softmax_s16`` narrows
    two intermediate values to int16 where TFLM saturates them: a row of one value gives
    32768, which wraps to -32768; from 9 values on, a sum of exponentials whose top 18 bits
    are all set (e.g. 262143) wraps the reciprocal table's index. Within 2 to 8 values
    neither can happen (the sum stays below 8 x 32767 < 2**18 - 1)."""
    if not _is_int16(node, graph):
        return None
    row = _first_input(node, graph).shape[-1]
    lo, hi = SOFTMAX_S16_ROWS
    if not lo <= row <= hi:
        return f"a row of {row} values is outside the {lo} to {hi} arm_softmax_s16 computes exactly"
    return None


# --- int16 LOGISTIC and TANH ------------------------------------------------------------------


def check_activation_s16_input_scale(node: Node, graph: Graph) -> str | None:
    """The int16 LOGISTIC/TANH parameters exist and are ones ``arm_nn_activation_s16``
    computes: it scales the input by ``3 << left_shift`` without a rounding right shift, which
    is TFLM's power-of-two path only (input scale 2**-12, or 2**-11 for TANH); other input
    scales need TFLM's multiplier and shift."""
    try:
        left_shift = activation_s16_left_shift(node, graph)
    except GraphError as exc:
        return str(exc)
    if left_shift is None:
        scale = float(_first_input(node, graph).quant.scale[0])  # type: ignore[union-attr]
        return f"input scale {scale:g} is not one arm_nn_activation_s16 takes (2**-12 or 2**-11)"
    return None


# --- elementwise -------------------------------------------------------------------------------


def check_same_shape_inputs(node: Node, graph: Graph) -> str | None:
    """Both inputs have the output's shape: CMSIS-NN's elementwise kernels walk two equally
    long vectors and do not broadcast."""
    tensors = _inputs(node, graph)
    y = _output(node, graph)
    for t in tensors[:2]:
        assert t is not None
        if t.shape != y.shape:
            shapes = [list(u.shape) for u in tensors[:2] if u is not None]
            return f"the inputs {shapes} need broadcasting"
    return None


def check_add_parameters(node: Node, graph: Graph) -> str | None:
    """ADD's fixed-point parameters exist: each input multiplier and the output multiplier
    ``2 max(s1, s2) / (2**L s_out)`` (L = 20 for int8, 15 for int16) quantize below one
    (TFLM's condition)."""
    try:
        elementwise_quant.add_sub_params(node, graph)
    except GraphError as exc:
        return str(exc)
    return None


def check_mul_parameters(node: Node, graph: Graph) -> str | None:
    """MUL's real multiplier ``s1 * s2 / s_out`` is below 2**15 (TFLM's int32 arithmetic;
    below 1 for int16)."""
    try:
        elementwise_quant.mul_params(node, graph)
    except GraphError as exc:
        return str(exc)
    return None


# --- reshapes ----------------------------------------------------------------------------------


def check_constant_shape_operand(node: Node, graph: Graph) -> str | None:
    """RESHAPE's optional shape operand, when given, is a constant (the arena layout is fixed
    when the code is generated)."""
    tensors = _inputs(node, graph)
    if len(tensors) > 1 and tensors[1] is not None and not tensors[1].is_constant:
        return f"the shape operand {tensors[1].name!r} is computed at run time"
    return None


# --- the table ---------------------------------------------------------------------------------

#: The checks that read the node's spec check (called with it as a third argument).
SPEC_CHECKS: frozenset[SpecCheck] = frozenset({check_spec_valid, check_signature})

#: Checks that apply to every operator, before the operator's own.
COMMON: tuple[AnyCheck, ...] = (
    check_not_extension,
    check_operator_listed,
    check_spec_valid,
    check_signature,
    check_static_sizes,
    check_zero_points_int8,
    check_int16_zero_points,
    check_activations_in_arena,
)

_CONV: tuple[Check, ...] = (
    check_clamp_activation,
    check_s16_conv_not_grouped,
    check_conv_one_row_padding,
    check_constant_weights,
    check_requantization_shifts,
    check_s16_sums_fit_int32,
    check_s16_requantized_range,
)

#: Per supported operator, its own checks (after :data:`COMMON`).
CHECKS: dict[str, tuple[Check, ...]] = {
    "CONV_2D": _CONV,
    "DEPTHWISE_CONV_2D": _CONV,
    # The filter and bias checks come first: the requantization refuses what they decline.
    "FULLY_CONNECTED": (
        check_clamp_activation,
        check_constant_weights,
        check_fc_per_tensor_filter,
        check_fc_bias_scale,
        check_requantization_shifts,
        check_s16_sums_fit_int32,
        check_s16_requantized_range,
    ),
    "AVERAGE_POOL_2D": (check_clamp_activation, check_pool_same_quantization),
    "MAX_POOL_2D": (check_clamp_activation, check_pool_same_quantization),
    "SOFTMAX": (
        check_softmax_output_quantization,
        check_softmax_beta,
        check_softmax_s16_row_size,
    ),
    "LOGISTIC": (check_activation_s16_input_scale,),
    "TANH": (check_activation_s16_input_scale,),
    "ADD": (check_clamp_activation, check_same_shape_inputs, check_add_parameters),
    "MUL": (check_clamp_activation, check_same_shape_inputs, check_mul_parameters),
    "RESHAPE": (check_constant_shape_operand,),
    "SQUEEZE": (),
    "TRANSPOSE_CONV": (
        check_clamp_activation,
        check_constant_weights,
        check_requantization_shifts,
        check_transpose_conv_buffer_width,
        check_transpose_conv_output_covered,
    ),
    "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM": (
        check_lstm_parameters,
        check_lstm_shapes,
        check_lstm_constant_weights,
        check_lstm_variable_state,
        check_lstm_recurrent_part_in_int16,
        check_lstm_s16_sums_fit_int32,
    ),
    "tflite.SVDF": (
        check_svdf_parameters,
        check_svdf_shapes,
        check_svdf_constant_weights,
        check_svdf_variable_state,
    ),
}

#: The CMSIS-NN function each operator becomes.
KERNELS: dict[str, str] = {
    "CONV_2D": "arm_convolve_1x1_s8_fast (1x1 filter, unit stride and dilation, no padding), "
    "arm_convolve_s8 (grouped) or arm_convolve_wrapper_s8; 16x8: arm_convolve_wrapper_s16",
    "DEPTHWISE_CONV_2D": "arm_depthwise_conv_wrapper_s8; 16x8: arm_depthwise_conv_wrapper_s16",
    "FULLY_CONNECTED": "arm_fully_connected_s8 (kernel sums from arm_vector_sum_s8 if asked); "
    "16x8: arm_fully_connected_s16 (per-tensor filter, int64 bias or none), else "
    "arm_convolve_wrapper_s16 as a 1x1 convolution",
    "AVERAGE_POOL_2D": "arm_avgpool_s8; 16x8: arm_avgpool_s16",
    "MAX_POOL_2D": "arm_max_pool_s8; 16x8: arm_max_pool_s16",
    "SOFTMAX": "arm_softmax_s8 (last axis); 16x8: arm_softmax_s16 with TFLM's exp and "
    "1 / (1 + x) tables",
    "ADD": "arm_elementwise_add_s8; 16x8: arm_elementwise_add_s16",
    "MUL": "arm_elementwise_mul_s8; 16x8: arm_elementwise_mul_s16",
    "LOGISTIC": "16x8 only: arm_nn_activation_s16 (ARM_SIGMOID)",
    "TANH": "16x8 only: arm_nn_activation_s16 (ARM_TANH)",
    "RESHAPE": "none: shares its input's bytes in the arena, or a memmove",
    "SQUEEZE": "none: shares its input's bytes in the arena, or a memmove",
    "TRANSPOSE_CONV": "arm_transpose_conv_s8",
    "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM": "arm_lstm_unidirectional_s8 (int8, int16 gates "
    "and cell state); 16x8: arm_lstm_unidirectional_s16 (int64 biases); the states in the "
    "persistent state buffer (kept on the host between runs on a Cortex-M target)",
    "tflite.SVDF": "arm_svdf_state_s16_s8 (int16 state in the persistent state buffer, kept on "
    "the host between runs on a Cortex-M target)",
}

_OTHER_BACKEND = "let another backend (e.g. reference or tflm) run it"

#: What a user can do when a check fails.
HINTS: dict[AnyCheck, str] = {
    check_not_extension: "run it on a backend that declares the extension operator, e.g. tflm",
    check_operator_listed: _OTHER_BACKEND,
    check_spec_valid: "fix the model so that it satisfies the spec (`tinyabi inspect` shows it)",
    check_signature: "quantize the model fully to int8 or 16x8 (float and hybrid models are "
    "not CMSIS-NN's)",
    check_int16_zero_points: "re-quantize the int16 tensors symmetrically (zero point 0)",
    check_s16_conv_not_grouped: _OTHER_BACKEND,
    check_conv_one_row_padding: "pad the input to the width the windows cover, or "
    + _OTHER_BACKEND,
    check_s16_sums_fit_int32: "use smaller filters or weights, or " + _OTHER_BACKEND,
    check_s16_requantized_range: "check the scales of the input, filter and output",
    check_softmax_s16_row_size: _OTHER_BACKEND,
    check_activation_s16_input_scale: "quantize the input with scale 2**-12 (what TFLite's "
    "converter does for 16x8), or " + _OTHER_BACKEND,
    check_static_sizes: _OTHER_BACKEND,
    check_zero_points_int8: "re-quantize the model with int8 zero points",
    check_activations_in_arena: "fold the constant computation into the model, or "
    + _OTHER_BACKEND,
    check_clamp_activation: _OTHER_BACKEND,
    check_constant_weights: "freeze the weights into the model as constants",
    check_requantization_shifts: "check the scales of the input, filter and output",
    check_fc_per_tensor_filter: "quantize the FULLY_CONNECTED weights per tensor, or "
    + _OTHER_BACKEND,
    check_fc_bias_scale: "quantize the bias with scale input_scale * filter_scale",
    check_pool_same_quantization: "give the pooling output the input's scale and zero point",
    check_softmax_output_quantization: "quantize the SOFTMAX output with scale 1/256, zero "
    "point -128 (what TFLite's converter does)",
    check_softmax_beta: _OTHER_BACKEND,
    check_same_shape_inputs: "give both inputs the output's shape (broadcast them explicitly "
    "beforehand), or " + _OTHER_BACKEND,
    check_add_parameters: "check the scales of the inputs and the output",
    check_mul_parameters: "check the scales of the inputs and the output",
    check_constant_shape_operand: "give RESHAPE a constant shape (or the new_shape attribute)",
    check_transpose_conv_buffer_width: _OTHER_BACKEND,
    check_lstm_parameters: "quantize the LSTM as TFLite's converter does (int8 or 16x8, cell "
    "state scale 2**-11), or " + _OTHER_BACKEND,
    check_lstm_shapes: "fix the model's LSTM shapes",
    check_lstm_constant_weights: "freeze the weights into the model as constants",
    check_lstm_variable_state: "make the states variable tensors, or " + _OTHER_BACKEND,
    check_lstm_recurrent_part_in_int16: "check the scales of the output state and the "
    "recurrent weights, or " + _OTHER_BACKEND,
    check_lstm_s16_sums_fit_int32: "use smaller weights or biases, or " + _OTHER_BACKEND,
    check_svdf_parameters: "quantize the SVDF as TFLite's converter does (int16 state and time "
    "weights), or " + _OTHER_BACKEND,
    check_svdf_shapes: "fix the model's SVDF shapes",
    check_svdf_constant_weights: "freeze the weights into the model as constants",
    check_svdf_variable_state: "make the state a variable tensor, or " + _OTHER_BACKEND,
    check_transpose_conv_output_covered: "make the output size a multiple of the stride, or "
    + _OTHER_BACKEND,
}


def checks_for(op: str) -> tuple[AnyCheck, ...]:
    """The checks a node of ``op`` must pass, in order."""
    return (*COMMON, *CHECKS.get(op, ()))


def first_failure(
    node: Node, graph: Graph, spec: NodeCheck | None = None
) -> tuple[AnyCheck, str] | None:
    """The first check ``node`` fails and its reason, or ``None`` when it passes them all.
    ``spec`` is the node's spec check (computed here when not given)."""
    if spec is None:
        spec = check_node(node, graph)
    for check in checks_for(node.op):
        if check in SPEC_CHECKS:
            reason = cast(SpecCheck, check)(node, graph, spec)
        else:
            reason = cast(Check, check)(node, graph)
        if reason is not None:
            return check, reason
    return None


def supports(node: Node, graph: Graph, spec: NodeCheck | None = None) -> Verdict:
    """Whether the CMSIS-NN backend runs ``node`` (``spec``: its spec check, computed when not
    given)."""
    failure = first_failure(node, graph, spec)
    if failure is None:
        return Verdict.yes()
    check, reason = failure
    return Verdict.no(reason, HINTS.get(check, ""))


def support_table() -> str:
    """The support table as Markdown: per operator the CMSIS-NN function and every rule."""
    lines = [
        "# CMSIS-NN backend: what it runs",
        "",
        "Generated from `tinyabi_cmsis_nn/constraints.py` by "
        "`python -m tinyabi_cmsis_nn.constraints --write`; a test keeps it up to date. "
        "A node runs on the `cmsis-nn` backend when it passes every check of its operator; "
        "otherwise the first failing check is the reason it is declined, with the hint shown.",
        "",
        "## Checks for every operator",
        "",
        *TABLE_HEADER,
    ]
    lines += check_rows(COMMON, HINTS)
    lines += ["", "## Operators", ""]
    for op in sorted(CHECKS):
        lines += [f"### {op}", "", f"CMSIS-NN: {KERNELS[op]}.", ""]
        if CHECKS[op]:
            lines += TABLE_HEADER
            lines += check_rows(CHECKS[op], HINTS)
        else:
            lines.append("No checks beyond those for every operator.")
        lines.append("")
    lines += [
        "## Not supported",
        "",
        "Every other operator and signature (float32, hybrid, int16 ones not listed in "
        "`check_signature`) and extension operators are declined; with "
        '`backends=["cmsis-nn"]` a session runs them on the fallback backend.',
        "",
    ]
    return "\n".join(lines)


#: Where the rendered table lives in the plugin's distribution.
SUPPORT_DOC = Path(__file__).resolve().parents[1] / "docs" / "cmsis-nn-support.md"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the support table, or write it to ``docs/cmsis-nn-support.md`` with ``--write``."""
    return support_doc_main(support_table, SUPPORT_DOC, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
