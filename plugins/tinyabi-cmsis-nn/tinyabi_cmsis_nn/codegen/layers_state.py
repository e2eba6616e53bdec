"""Layers with state that persists across runs: the ``tflite.SVDF`` extension node through
CMSIS-NN's ``arm_svdf_state_s16_s8`` (int8 input and output, int16 state and time weights),
and ``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM`` through ``arm_lstm_unidirectional_s8`` (int8,
int16 gates and cell state) or ``arm_lstm_unidirectional_s16`` (16x8: int16 activations and
hidden state, int8 weights, int64 biases).

The state lives in the generated code's persistent state buffer (``model_state``, not the
arena), which ``model_reset`` sets back (zeros, an int8 state its zero point); the layers'
work areas share one scratch buffer in the arena.
"""

from __future__ import annotations

import numpy as np

from tinyabi.ir import Graph, Node
from tinyabi.quantization import lstm as lstm_quant
from tinyabi.quantization import svdf as svdf_quant
from tinyabi_cmsis_nn.codegen.layers import (
    Address,
    ConstArray,
    Layer,
    SizeQuery,
    _return_call,
    c_activation,
    scratch_context,
)
from tinyabi_cmsis_nn.codegen.layers_s16 import int16_pointer
from tinyabi_cmsis_nn.codegen.names import data_symbol, layer_symbol
from tinyabi_cmsis_nn.codegen.precompute import kernel_sums

__all__ = ["lower_lstm", "lower_svdf"]

#: The clamp of the new state values (int16) and of the int8 output (TFLM's int8 SVDF
#: applies no fused activation).
STATE_RANGE = (-32768, 32767)
OUTPUT_RANGE = (-128, 127)


def lower_svdf(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """``tflite.SVDF`` (int8, int16 state) through ``arm_svdf_state_s16_s8``."""
    p = svdf_quant.svdf_params(node, graph)
    x, feature, time, bias, state = svdf_quant.svdf_operands(node, graph)
    assert feature.data is not None and time.data is not None
    i, sym = index, layer_symbol
    batches, depth = x.shape
    filters, memory = time.shape
    units = filters // p.rank
    sums = 4 * batches * filters
    query = SizeQuery("", (), (), fixed=sums + 4 * batches * units)
    layer = Layer(i, node.op, "arm_svdf_state_s16_s8", scratch=query)
    weights_feature, weights_time = data_symbol(i, "weights"), data_symbol(i, "time_weights")
    layer.data = [
        ConstArray(weights_feature, "int8_t", np.asarray(feature.data, np.int8)),
        ConstArray(weights_time, "int16_t", np.asarray(time.data, np.int16)),
    ]
    bias_arg = "NULL"
    if bias is not None and bias.data is not None:
        bias_arg = data_symbol(i, "bias")
        values = np.asarray(bias.data, np.int32).reshape(units)
        layer.data.append(ConstArray(bias_arg, "int32_t", values))
    dims = {
        "input_dims": (batches, depth),
        "state_dims": (batches, filters * memory),
        "feature_dims": (filters, depth),
        "time_dims": (filters, memory),
        "bias_dims": (units, 1),
        "output_dims": (batches, units),
    }
    layer.declarations = [
        f"static const cmsis_nn_svdf_params {sym(i, 'params')} = {{"
        f".rank = {p.rank}, .input_offset = {p.input_zero_point}, "
        f".output_offset = {p.output_zero_point}, "
        f".input_activation = {c_activation(*STATE_RANGE)}, "
        f".output_activation = {c_activation(*OUTPUT_RANGE)}}};",
        f"static const cmsis_nn_per_tensor_quant_params {sym(i, 'feature_quant')} = "
        f"{{.multiplier = {p.feature_multiplier}, .shift = {p.feature_shift}}};",
        f"static const cmsis_nn_per_tensor_quant_params {sym(i, 'time_quant')} = "
        f"{{.multiplier = {p.time_multiplier}, .shift = {p.time_shift}}};",
        *(
            f"static const cmsis_nn_dims {sym(i, role)} = {{.n = {n}, .h = {h}, .w = 1, .c = 1}};"
            for role, (n, h) in dims.items()
        ),
    ]
    args = [
        "&input_ctx",
        "&output_ctx",
        f"&{sym(i, 'params')}",
        f"&{sym(i, 'feature_quant')}",
        f"&{sym(i, 'time_quant')}",
        f"&{sym(i, 'input_dims')}",
        address(str(node.inputs[0])),
        f"&{sym(i, 'state_dims')}",
        f"(int16_t *){address.state(state.name)}",
        f"&{sym(i, 'feature_dims')}",
        weights_feature,
        f"&{sym(i, 'time_dims')}",
        weights_time,
        f"&{sym(i, 'bias_dims')}",
        bias_arg,
        f"&{sym(i, 'output_dims')}",
        address(node.outputs[0]),
    ]
    layer.body = [
        "/* the state is in the persistent buffer; the arena scratch holds both sum areas */",
        scratch_context(i),
        f"cmsis_nn_context input_ctx = {{.buf = ctx.buf, .size = {sums}}};",
        "cmsis_nn_context output_ctx = "
        f"{{.buf = (int8_t *)ctx.buf + {sums}, .size = ctx.size - {sums}}};",
        *_return_call(layer.entry, args),
    ]
    return layer


#: Arm's gate order in ``cmsis_nn_lstm_params`` and each gate's activation.
LSTM_GATES = (
    ("forget", "ARM_SIGMOID"),
    ("input", "ARM_SIGMOID"),
    ("cell", "ARM_TANH"),
    ("output", "ARM_SIGMOID"),
)


def _effective_biases(
    weights: np.ndarray, bias: np.ndarray | None, zero_point: int, dtype: str
) -> np.ndarray:
    """``bias - zero point x row sums`` of one gate part: int32 as ``arm_vector_sum_s8``
    computes them (int8), int64 (16x8: the zero points are 0, so the bias or zeros)."""
    if dtype == "int8":
        return kernel_sums(weights, None if bias is None else bias.astype(np.int32), -zero_point)
    rows = weights.shape[0]
    return np.zeros(rows, np.int64) if bias is None else bias.astype(np.int64).reshape(rows)


def lower_lstm(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """``tflite.UNIDIRECTIONAL_SEQUENCE_LSTM`` through ``arm_lstm_unidirectional_s8`` (int8)
    or ``arm_lstm_unidirectional_s16`` (16x8): the zero points are folded into effective
    biases computed here (``bias - zero point x row sums``, what Arm's kernels expect; int64
    for 16x8), the hidden and cell states are in the state buffer."""
    p = lstm_quant.lstm_params(node, graph)
    ops = lstm_quant.lstm_operands(node, graph)
    i, sym = index, layer_symbol
    shape = ops.input.shape
    steps, batches = (shape[0], shape[1]) if p.time_major else (shape[1], shape[0])
    depth, hidden = shape[2], ops.output_state.shape[-1]
    half = 4 * (-(-2 * batches * hidden // 4))  # one int16 work area, 4-byte aligned
    query = SizeQuery("", (), (), fixed=2 * half)
    s16 = p.dtype == "int16"
    layer = Layer(i, node.op, f"arm_lstm_unidirectional_{'s16' if s16 else 's8'}", scratch=query)
    bias_ctype = "int64_t" if s16 else "int32_t"
    order = dict(zip(lstm_quant.GATES, range(4)))
    gates = []
    for name, activation in LSTM_GATES:
        k = order[name]
        w, r, b = ops.input_weights[k], ops.recurrent_weights[k], ops.biases[k]
        assert w.data is not None and r.data is not None
        bias = None if b is None or b.data is None else np.asarray(b.data)
        sym_w, sym_r = data_symbol(i, f"{name}_weights"), data_symbol(i, f"{name}_recurrent")
        sym_bi, sym_bh = data_symbol(i, f"{name}_bias"), data_symbol(i, f"{name}_hidden_bias")
        w8, r8 = np.asarray(w.data, np.int8), np.asarray(r.data, np.int8)
        sums_w = _effective_biases(w8, bias, p.input_zero_point, p.dtype)
        sums_r = _effective_biases(r8, None, p.hidden_zero_point, p.dtype)
        layer.data += [
            ConstArray(sym_w, "int8_t", w8),
            ConstArray(sym_r, "int8_t", r8),
            ConstArray(sym_bi, bias_ctype, sums_w),
            ConstArray(sym_bh, bias_ctype, sums_r),
        ]
        g = p.gates[name]
        gates.append(
            f".{name}_gate = {{.input_multiplier = {g.input_multiplier}, "
            f".input_shift = {g.input_shift}, .input_weights = {sym_w}, "
            f".input_effective_bias = {sym_bi}, .hidden_multiplier = {g.hidden_multiplier}, "
            f".hidden_shift = {g.hidden_shift}, .hidden_weights = {sym_r}, "
            f".hidden_effective_bias = {sym_bh}, .bias = NULL, "
            f".activation_type = {activation}}}"
        )
    (fm, fs), (im, ish), (om, osh) = p.forget_to_cell, p.input_to_cell, p.output
    layer.declarations = [
        f"static const cmsis_nn_lstm_params {sym(i, 'params')} = {{"
        f".time_major = {int(p.time_major)}, .batch_size = {batches}, .time_steps = {steps}, "
        f".input_size = {depth}, .hidden_size = {hidden}, "
        f".input_offset = {-p.input_zero_point}, "
        f".forget_to_cell_multiplier = {fm}, .forget_to_cell_shift = {fs}, "
        f".input_to_cell_multiplier = {im}, .input_to_cell_shift = {ish}, "
        f".cell_clip = 0, .cell_scale_power = {p.cell_scale_power}, "
        f".output_multiplier = {om}, .output_shift = {osh}, "
        f".output_offset = {p.hidden_zero_point}, {', '.join(gates)}}};"
    ]
    pointer = int16_pointer if s16 else str
    layer.body = [
        "/* the hidden and cell states are in the persistent buffer; the scratch holds the",
        " * two int16 work areas */",
        scratch_context(i),
        "cmsis_nn_lstm_context buffers;",
        "buffers.temp1 = ctx.buf;",
        f"buffers.temp2 = (int8_t *)ctx.buf + {half};",
        f"buffers.cell_state = {address.state(ops.cell_state.name)};",
        f"buffers.hidden_state = {address.state(ops.output_state.name)};",
        *_return_call(
            layer.entry,
            [
                pointer(address(str(node.inputs[0]))),
                pointer(address(node.outputs[0])),
                f"&{sym(i, 'params')}",
                "&buffers",
            ],
        ),
    ]
    return layer
