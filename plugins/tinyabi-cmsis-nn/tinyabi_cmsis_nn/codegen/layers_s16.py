"""16x8 nodes (int16 activations, int8 weights) as generated calls of CMSIS-NN's s16 functions.

The layers have the shape of the int8 ones (:mod:`.layers`): literals and ``static const``
structs for the parameters, :class:`~.layers.ConstArray` data (int8 weights, int64 or int32
biases, Q31 multipliers that the library reduces to Q15 itself, the softmax tables), int16
pointers into the arena. A FULLY_CONNECTED with a per-tensor filter and an int64 bias (or
none) calls ``arm_fully_connected_s16``; any other (a per-channel filter, or an int32 bias,
which needs the 32-bit accumulator that only the convolution's ``cmsis_nn_bias_data``
selects) runs as the 1x1 convolution it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyabi.ir import Graph, Node
from tinyabi.kernels import int16_softmax_tables
from tinyabi_cmsis_nn.codegen import params as P
from tinyabi_cmsis_nn.codegen.layers import (
    Address,
    ConstArray,
    Layer,
    SizeQuery,
    _dims_declarations,
    _return_call,
    _weights,
    c_activation,
    c_tile,
    scratch_context,
)
from tinyabi_cmsis_nn.codegen.names import DATA_PREFIX, data_symbol, layer_symbol

__all__ = ["EXP_LUT", "ONE_BY_ONE_LUT", "int16_pointer", "lower_s16"]

#: The softmax tables, shared by every int16 SOFTMAX layer of a model.
EXP_LUT = DATA_PREFIX + "softmax_s16_exp_lut"
ONE_BY_ONE_LUT = DATA_PREFIX + "softmax_s16_one_by_one_lut"

_WRAPPER_ARGS = ("params", "input_dims", "filter_dims", "output_dims")


def int16_pointer(address: str) -> str:
    """An arena address (an ``int8_t *`` expression) as an ``int16_t *``."""
    return f"(int16_t *)(void *){address}"


def _in(node: Node, address: Address, index: int = 0) -> str:
    return int16_pointer(address(str(node.inputs[index])))


def _out(node: Node, address: Address) -> str:
    return int16_pointer(address(node.outputs[0]))


def _bias_array(node: Node, graph: Graph, symbol: str, channels: int) -> ConstArray | None:
    """The bias as stored (int64 or int32), or ``None`` without one."""
    tensors = graph.node_inputs(node)
    bias = tensors[2] if len(tensors) > 2 else None
    if bias is None or bias.data is None:
        return None
    ctype = "int32_t" if bias.dtype == "int32" else "int64_t"
    values = np.asarray(bias.data, dtype=np.int32 if ctype == "int32_t" else np.int64)
    return ConstArray(symbol, ctype, values.reshape(channels))


def _conv_declarations(layer: Layer, p: P.ConvParams, struct: str) -> list[str]:
    i = layer.index
    mults, shifts = data_symbol(i, "multipliers"), data_symbol(i, "shifts")
    ch_mult = f".ch_mult = {p.ch_mult}, " if struct == "cmsis_nn_dw_conv_params" else ""
    return [
        f"static const {struct} {layer_symbol(i, 'params')} = {{"
        f".input_offset = 0, .output_offset = 0, {ch_mult}"
        f".stride = {c_tile(p.stride)}, .padding = {c_tile(p.padding)}, "
        f".dilation = {c_tile(p.dilation)}, .activation = {c_activation(p.act_min, p.act_max)}}};",
        f"static const cmsis_nn_per_channel_quant_params {layer_symbol(i, 'quant')} = "
        f"{{.multiplier = (int32_t *){mults}, .shift = (int32_t *){shifts}}};",
        *_dims_declarations(
            i,
            [
                ("input_dims", p.input_dims),
                ("filter_dims", p.filter_dims),
                ("bias_dims", p.bias_dims),
                ("output_dims", p.output_dims),
            ],
        ),
    ]


def _conv_layer(
    node: Node, graph: Graph, index: int, address: Address, p: P.ConvParams, depthwise: bool
) -> Layer:
    """A convolution (or a fully connected layer as a 1x1 convolution) through the s16
    wrappers."""
    sym = layer_symbol
    prefix = "arm_depthwise_conv_wrapper_s16" if depthwise else "arm_convolve_wrapper_s16"
    query = SizeQuery(
        f"{prefix}_get_buffer_size",
        tuple(f"&{sym(index, r)}" for r in _WRAPPER_ARGS),
        (p, p.input_dims, p.filter_dims, p.output_dims),
    )
    layer = Layer(index, node.op, prefix, scratch=query)
    weights = data_symbol(index, "weights")
    bias = _bias_array(node, graph, data_symbol(index, "bias"), p.output_dims.c)
    layer.data = [
        ConstArray(weights, "int8_t", _weights(node, graph)),
        ConstArray(data_symbol(index, "multipliers"), "int32_t", p.multipliers),
        ConstArray(data_symbol(index, "shifts"), "int32_t", p.shifts),
    ]
    if bias is not None:
        layer.data.append(bias)
    struct = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    layer.declarations = _conv_declarations(layer, p, struct)
    if depthwise:
        bias_arg = bias.symbol if bias is not None else "NULL"
    else:
        data = bias.symbol if bias is not None else "NULL"
        is_int32 = "true" if bias is not None and bias.ctype == "int32_t" else "false"
        layer.declarations.append(
            f"static const cmsis_nn_bias_data {sym(index, 'bias_data')} = "
            f"{{.data = {data}, .is_int32_bias = {is_int32}}};"
        )
        bias_arg = f"&{sym(index, 'bias_data')}"
    args = [
        "&ctx",
        f"&{sym(index, 'params')}",
        f"&{sym(index, 'quant')}",
        f"&{sym(index, 'input_dims')}",
        _in(node, address),
        f"&{sym(index, 'filter_dims')}",
        weights,
        f"&{sym(index, 'bias_dims')}",
        bias_arg,
        f"&{sym(index, 'output_dims')}",
        _out(node, address),
    ]
    layer.body = [scratch_context(layer.index), *_return_call(prefix, args)]
    return layer


def lower_conv_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 CONV_2D through ``arm_convolve_wrapper_s16`` (int64 or int32 bias)."""
    return _conv_layer(node, graph, index, address, P.conv_params(node, graph), False)


def lower_depthwise_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 DEPTHWISE_CONV_2D through ``arm_depthwise_conv_wrapper_s16`` (int64 bias)."""
    return _conv_layer(node, graph, index, address, P.conv_params(node, graph), True)


def _uses_fully_connected_s16(node: Node, graph: Graph) -> bool:
    """Whether ``arm_fully_connected_s16`` computes the node: one multiplier for every unit
    and an int64 bias or none."""
    tensors = graph.node_inputs(node)
    w = tensors[1]
    bias = tensors[2] if len(tensors) > 2 else None
    per_channel = w is not None and w.quant is not None and w.quant.per_axis
    return not per_channel and (bias is None or bias.dtype == "int64")


def lower_fully_connected_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 FULLY_CONNECTED: ``arm_fully_connected_s16``, or the 1x1 convolution."""
    fc = P.fully_connected_params(node, graph)
    if not _uses_fully_connected_s16(node, graph):
        conv = P.fully_connected_as_conv_params(node, graph)
        return _conv_layer(node, graph, index, address, conv, False)
    sym = layer_symbol
    weights = data_symbol(index, "weights")
    query = SizeQuery(
        "arm_fully_connected_s16_get_buffer_size",
        (f"&{sym(index, 'filter_dims')}",),
        (fc.filter_dims,),
    )
    layer = Layer(index, node.op, "arm_fully_connected_s16", scratch=query)
    bias = _bias_array(node, graph, data_symbol(index, "bias"), fc.units)
    layer.data = [ConstArray(weights, "int8_t", _weights(node, graph))]
    if bias is not None:
        layer.data.append(bias)
    layer.declarations = [
        f"static const cmsis_nn_fc_params {sym(index, 'params')} = {{"
        ".input_offset = 0, .filter_offset = 0, .output_offset = 0, "
        f".activation = {c_activation(fc.act_min, fc.act_max)}}};",
        f"static const cmsis_nn_per_tensor_quant_params {sym(index, 'quant')} = "
        f"{{.multiplier = {fc.multiplier}, .shift = {fc.shift}}};",
        *_dims_declarations(
            index,
            [
                ("input_dims", fc.input_dims),
                ("filter_dims", fc.filter_dims),
                ("bias_dims", fc.bias_dims),
                ("output_dims", fc.output_dims),
            ],
        ),
    ]
    args = [
        "&ctx",
        f"&{sym(index, 'params')}",
        f"&{sym(index, 'quant')}",
        f"&{sym(index, 'input_dims')}",
        _in(node, address),
        f"&{sym(index, 'filter_dims')}",
        weights,
        f"&{sym(index, 'bias_dims')}",
        bias.symbol if bias is not None else "NULL",
        f"&{sym(index, 'output_dims')}",
        _out(node, address),
    ]
    layer.body = [scratch_context(layer.index), *_return_call(layer.entry, args)]
    return layer


def lower_pool_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 AVERAGE_POOL_2D (``arm_avgpool_s16``) or MAX_POOL_2D (``arm_max_pool_s16``)."""
    p = P.pool_params(node, graph)
    sym = layer_symbol
    average = node.op == "AVERAGE_POOL_2D"
    entry = "arm_avgpool_s16" if average else "arm_max_pool_s16"
    query = None
    if average:
        query = SizeQuery(
            "arm_avgpool_s16_get_buffer_size",
            (str(p.output_dims.w), str(p.input_dims.c)),
            (p.output_dims.w, p.input_dims.c),
        )
    layer = Layer(index, node.op, entry, scratch=query)
    layer.declarations = [
        f"static const cmsis_nn_pool_params {sym(index, 'params')} = {{"
        f".stride = {c_tile(p.stride)}, .padding = {c_tile(p.padding)}, "
        f".activation = {c_activation(p.act_min, p.act_max)}}};",
        *_dims_declarations(
            index,
            [
                ("input_dims", p.input_dims),
                ("filter_dims", p.filter_dims),
                ("output_dims", p.output_dims),
            ],
        ),
    ]
    args = [
        "&ctx",
        f"&{sym(index, 'params')}",
        f"&{sym(index, 'input_dims')}",
        _in(node, address),
        f"&{sym(index, 'filter_dims')}",
        f"&{sym(index, 'output_dims')}",
        _out(node, address),
    ]
    layer.body = [scratch_context(layer.index), *_return_call(entry, args)]
    return layer


def lower_softmax_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 SOFTMAX over the last axis through ``arm_softmax_s16`` and TFLM's two tables
    (:func:`tinyabi.kernels.int16_softmax_tables`)."""
    p = P.softmax_s16_params(node, graph)
    layer = Layer(index, node.op, "arm_softmax_s16")
    exps, reciprocals = int16_softmax_tables()
    layer.data = [
        ConstArray(EXP_LUT, "int16_t", exps),
        ConstArray(ONE_BY_ONE_LUT, "int16_t", reciprocals),
    ]
    luts = layer_symbol(index, "luts")
    layer.declarations = [
        f"static const cmsis_nn_softmax_lut_s16 {luts} = "
        f"{{.exp_lut = {EXP_LUT}, .one_by_one_lut = {ONE_BY_ONE_LUT}}};"
    ]
    args = [
        _in(node, address),
        str(p.num_rows),
        str(p.row_size),
        str(p.multiplier),
        str(p.shift),
        f"&{luts}",
        _out(node, address),
    ]
    layer.body = _return_call(layer.entry, args)
    return layer


def lower_activation_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 LOGISTIC or TANH through ``arm_nn_activation_s16`` (the constraints accept only
    input scales it computes, :func:`.params.activation_s16_left_shift`)."""
    left_shift = P.activation_s16_left_shift(node, graph)
    assert left_shift is not None  # check_activation_s16_input_scale
    kind = "ARM_SIGMOID" if node.op == "LOGISTIC" else "ARM_TANH"
    size = graph.tensor(node.outputs[0]).size
    layer = Layer(index, node.op, "arm_nn_activation_s16")
    args = [_in(node, address), _out(node, address), str(size), str(left_shift), kind]
    layer.body = _return_call(layer.entry, args)
    return layer


def lower_add_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 ADD of two same-shaped tensors through ``arm_elementwise_add_s16``."""
    p = P.add_params(node, graph)
    layer = Layer(index, node.op, "arm_elementwise_add_s16")
    args = [
        _in(node, address, 0),
        _in(node, address, 1),
        "0",
        str(p.input1_multiplier),
        str(p.input1_shift),
        "0",
        str(p.input2_multiplier),
        str(p.input2_shift),
        str(p.left_shift),
        _out(node, address),
        "0",
        str(p.output_multiplier),
        str(p.output_shift),
        str(p.act_min),
        str(p.act_max),
        str(graph.tensor(node.outputs[0]).size),
    ]
    layer.body = _return_call(layer.entry, args)
    return layer


def lower_mul_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """int16 MUL of two same-shaped tensors through ``arm_elementwise_mul_s16``."""
    p = P.elementwise_mul_params(node, graph)
    layer = Layer(index, node.op, "arm_elementwise_mul_s16")
    args = [
        _in(node, address, 0),
        _in(node, address, 1),
        "0",
        "0",
        _out(node, address),
        "0",
        str(p.output_multiplier),
        str(p.output_shift),
        str(p.act_min),
        str(p.act_max),
        str(graph.tensor(node.outputs[0]).size),
    ]
    layer.body = _return_call(layer.entry, args)
    return layer


#: The lowering of each operator's int16 signatures.
LOWER_S16: dict[str, Callable[[Node, Graph, int, Address], Layer]] = {
    "CONV_2D": lower_conv_s16,
    "DEPTHWISE_CONV_2D": lower_depthwise_s16,
    "FULLY_CONNECTED": lower_fully_connected_s16,
    "AVERAGE_POOL_2D": lower_pool_s16,
    "MAX_POOL_2D": lower_pool_s16,
    "SOFTMAX": lower_softmax_s16,
    "LOGISTIC": lower_activation_s16,
    "TANH": lower_activation_s16,
    "ADD": lower_add_s16,
    "MUL": lower_mul_s16,
}


def lower_s16(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """The layer of a 16x8 ``node`` (which the backend's constraints accepted)."""
    return LOWER_S16[node.op](node, graph, index, address)
