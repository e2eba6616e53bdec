"""Layers with state that persists across runs: the ``tflite.SVDF`` extension node through
CMSIS-NN's ``arm_svdf_state_s16_s8`` (int8 input and output, int16 state and time weights).

The state lives in the generated code's persistent state buffer (``model_state``, not the
arena), which ``model_reset`` zeroes; the layer's two int32 work areas (one sum per filter,
one per unit, for every batch) share one scratch buffer in the arena.
"""

from __future__ import annotations

import numpy as np

from tinyabi.ir import Graph, Node
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
from tinyabi_cmsis_nn.codegen.names import data_symbol, layer_symbol

__all__ = ["lower_svdf"]

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
