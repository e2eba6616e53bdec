"""One graph node as one generated CMSIS-NN layer: its C declarations, its call, its data.

:func:`lower` turns a node into a :class:`Layer`. The layer's parameters are C literals and
``static const`` structs (designated initializers, so they fit the real CMSIS-NN headers as
well as the portable ones); its weights, biases and per-channel multipliers become
:class:`ConstArray` objects that :mod:`.emit` writes into ``model_data.c``. A layer that needs
a scratch buffer says how to ask its size (:class:`SizeQuery`): the generator asks the library
at generation time (``sizes``) and the generated ``model_init`` asks again on the target and
refuses to run when the arena is too small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from tinyabi.ir import Graph, Node, Tensor
from tinyabi_cmsis_nn.codegen import params as P
from tinyabi_cmsis_nn.codegen.banding import Bands, Optimise, band_options, band_shapes
from tinyabi_cmsis_nn.codegen.names import (
    c_comment_text,
    data_symbol,
    layer_symbol,
    scratch_macros,
)
from tinyabi_cmsis_nn.codegen.precompute import kernel_sums


class Address(Protocol):
    """Where the tensors live: each tensor's arena offset and the C expression of its address."""

    def offset(self, tensor: str) -> int:
        """The tensor's offset in the arena, in bytes."""

    def __call__(self, tensor: str) -> str:
        """The C expression of the tensor's address (an ``int8_t *``)."""

    def state(self, tensor: str) -> str:
        """The C expression of a state (variable) tensor's address (an ``int8_t *``) in the
        persistent state buffer, which keeps its bytes across runs."""


@dataclass(frozen=True)
class ConstArray:
    """A constant array of ``model_data.c`` (16-byte aligned, in flash)."""

    symbol: str
    ctype: str  # "int8_t", "int16_t", "int32_t" or "int64_t"
    values: np.ndarray


@dataclass(frozen=True)
class SizeQuery:
    """A ``*_get_buffer_size`` call: the function, its C arguments and the same arguments as
    Python values (``params.Dims``, ``params.ConvParams``, ``int``) for the host oracle."""

    function: str
    c_args: tuple[str, ...]
    py_args: tuple[object, ...]
    #: A size the layer computes itself (the function has no size query): no call is made.
    fixed: int | None = None

    def c_call(self) -> str:
        """The call as a C expression (the literal size when ``fixed``)."""
        if self.fixed is not None:
            return str(self.fixed)
        return f"{self.function}({', '.join(self.c_args)})"


@dataclass(frozen=True)
class KernelSums:
    """A FULLY_CONNECTED layer's kernel sums (what ``arm_vector_sum_s8`` would write),
    computed at generation time (:func:`.precompute.kernel_sums`) and kept in flash when the
    library asks for them (``query`` answers more than 0 bytes)."""

    query: SizeQuery
    values: np.ndarray  # int32, one per output unit

    @property
    def units(self) -> int:
        """Output units: the sums take ``4 * units`` bytes."""
        return int(self.values.size)


#: Stands for the address of a FULLY_CONNECTED layer's ``cmsis_nn_context`` in its body until
#: the arena layout says whether kernel sums were reserved (:func:`resolve_context`).
CONTEXT = "$CONTEXT"
#: The shared context of layers that get no buffer.
NO_BUFFER = "model_no_buffer"
#: Its definition (emitted once when a layer uses it).
NO_BUFFER_DEFINITION = f"static const cmsis_nn_context {NO_BUFFER} = {{.buf = NULL, .size = 0}};"


@dataclass
class Layer:
    """The generated code of one node."""

    index: int
    op: str
    entry: str  # the CMSIS-NN function called, or "memmove"/"none"
    declarations: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    data: list[ConstArray] = field(default_factory=list)
    scratch: SizeQuery | None = None
    kernel_sums: KernelSums | None = None

    @property
    def symbol(self) -> str:
        """The name of the layer's C function."""
        return layer_symbol(self.index)

    @property
    def comment(self) -> str:
        """A one-line description for comments (no model strings)."""
        return c_comment_text(f"layer {self.index}: {self.op} via {self.entry}")


def resolve_context(layer: Layer, size: int) -> None:
    """Give a FULLY_CONNECTED layer its context: when the library asks for ``size`` > 0 bytes
    of kernel sums, a ``const`` context pointing at the sums in flash (a constant array of
    ``model_data.c``), else the shared empty context (nothing in RAM, no code on every run)."""
    assert layer.kernel_sums is not None
    if size > 0:
        sums = data_symbol(layer.index, "kernel_sums")
        context = layer_symbol(layer.index, "context")
        layer.data.append(ConstArray(sums, "int32_t", layer.kernel_sums.values))
        # CMSIS-NN only reads the sums: the cast drops const for cmsis_nn_context's void *.
        layer.declarations.append(
            f"static const cmsis_nn_context {context} = "
            f"{{.buf = (void *){sums}, .size = {int(size)}}};"
        )
        arg = f"&{context}"
    else:
        arg = f"&{NO_BUFFER}"
    layer.body = [line.replace(CONTEXT, arg) for line in layer.body]


def scratch_context(index: int) -> str:
    """The declaration of a layer's ``ctx``: its scratch buffer in the arena."""
    offset, size = scratch_macros(index)
    return f"cmsis_nn_context ctx = model_scratch({offset}, {size});"


def c_dims(d: P.Dims) -> str:
    """A ``cmsis_nn_dims`` initializer."""
    return f"{{.n = {d.n}, .h = {d.h}, .w = {d.w}, .c = {d.c}}}"


def c_tile(t: P.Tile) -> str:
    """A ``cmsis_nn_tile`` initializer."""
    return f"{{.w = {t.w}, .h = {t.h}}}"


def c_activation(lo: int, hi: int) -> str:
    """A ``cmsis_nn_activation`` initializer."""
    return f"{{.min = {lo}, .max = {hi}}}"


def _dims_declarations(index: int, dims: Sequence[tuple[str, P.Dims]]) -> list[str]:
    return [
        f"static const cmsis_nn_dims {layer_symbol(index, role)} = {c_dims(d)};" for role, d in dims
    ]


def _bias(node: Node, graph: Graph, channels: int) -> np.ndarray:
    tensors = graph.node_inputs(node)
    bias = tensors[2] if len(tensors) > 2 else None
    if bias is None or bias.data is None:
        return np.zeros(channels, dtype=np.int32)
    return np.asarray(bias.data, dtype=np.int32).reshape(channels)


def _weights(node: Node, graph: Graph) -> np.ndarray:
    w = graph.node_inputs(node)[1]
    assert w is not None and w.data is not None
    return np.ascontiguousarray(w.data, dtype=np.int8)


#: The arguments of the wrappers' ``*_get_buffer_size`` functions (layer roles).
_WRAPPER_ARGS = ("params", "input_dims", "filter_dims", "output_dims")


def _is_1x1_fast(p: P.ConvParams) -> bool:
    """Whether ``arm_convolve_1x1_s8_fast`` applies: a 1x1 filter over every input channel,
    unit stride and dilation, no padding, and (for older CMSIS-NN releases) a multiple of 4
    input channels."""
    f = p.filter_dims
    return (
        f.h == 1
        and f.w == 1
        and f.c == p.input_dims.c
        and p.stride == P.Tile(1, 1)
        and p.dilation == P.Tile(1, 1)
        and p.padding == P.Tile(0, 0)
        and p.input_dims.c % 4 == 0
    )


def bandable(node: Node, graph: Graph, optimise: Optimise = "performance") -> list[Bands]:
    """The row bands the generated code may run a node in (coarse first: a DEPTHWISE_CONV_2D
    or CONV_2D by output rows, a CONV_2D on the 1x1 fast path by pixels; the finer ones only
    when ``optimise`` is ``"size"``), empty when none (also for a CONV_2D with a one-row filter
    wider than one: its bands would reach another CMSIS-NN kernel than the layer)."""
    if node.op not in ("DEPTHWISE_CONV_2D", "CONV_2D"):
        return []
    x = graph.tensor(str(node.inputs[0]))
    if x.dtype != "int8":
        return []
    p = P.conv_params(node, graph)
    if node.op == "CONV_2D" and p.filter_dims.h == 1 and p.filter_dims.w > 1:
        # A band of one input row would take the wrapper's 1xN kernel (Arm's picks it by the
        # call's input height), not the whole layer's.
        return []
    return band_options(p, node.op == "CONV_2D" and _is_1x1_fast(p), optimise)


def band_queries(query: SizeQuery, bands: Bands) -> list[SizeQuery]:
    """``query`` asked with the dimensions and padding of each call of ``bands`` (a banded
    call must get as much buffer as the library asks for its own dimensions)."""
    if query.fixed is not None:
        return []
    # The size functions take the input's dims first and (the wrappers) the output's third.
    output_role = 2 if query.function.endswith("wrapper_s8_get_buffer_size") else -1
    queries = []
    for rows_in, rows_out, pad in band_shapes(bands):
        args: list[object] = []
        role = 0
        for value in query.py_args:
            if isinstance(value, P.ConvParams):
                value = replace(value, padding=P.Tile(value.padding.w, pad))
            elif isinstance(value, P.Dims):
                if role == 0:
                    value = _band_dims(value, rows_in, bands.pixels)
                elif role == output_role:
                    value = _band_dims(value, rows_out, bands.pixels)
                role += 1
            args.append(value)
        queries.append(replace(query, py_args=tuple(args)))
    return queries


def _band_dims(d: P.Dims, rows: int, pixels: bool) -> P.Dims:
    return P.Dims(d.n, rows, 1, d.c) if pixels else P.Dims(d.n, rows, d.w, d.c)


def lower_conv(
    node: Node,
    graph: Graph,
    index: int,
    address: Address,
    bands: Bands | None = None,
    backwards: bool = False,
) -> Layer:
    """CONV_2D: the 1x1 fast path, the grouped ``arm_convolve_s8`` or the wrapper (in
    ``bands`` when given, last to first when ``backwards``)."""
    p = P.conv_params(node, graph)
    sym = layer_symbol
    grouped = p.filter_dims.c != p.input_dims.c
    if _is_1x1_fast(p):
        entry = "arm_convolve_1x1_s8_fast"
        query = SizeQuery(
            "arm_convolve_1x1_s8_fast_get_buffer_size",
            (f"&{sym(index, 'input_dims')}",),
            (p.input_dims,),
        )
    elif grouped:
        entry = "arm_convolve_s8"
        query = SizeQuery(
            "arm_convolve_s8_get_buffer_size",
            (f"&{sym(index, 'input_dims')}", f"&{sym(index, 'filter_dims')}"),
            (p.input_dims, p.filter_dims),
        )
    else:
        entry = "arm_convolve_wrapper_s8"
        query = SizeQuery(
            "arm_convolve_wrapper_s8_get_buffer_size",
            tuple(f"&{sym(index, r)}" for r in _WRAPPER_ARGS),
            (p, p.input_dims, p.filter_dims, p.output_dims),
        )
    layer = Layer(index, node.op, entry, scratch=query)
    _conv_common(layer, node, graph, p, "cmsis_nn_conv_params", address)
    upscale = ["NULL"] if entry == "arm_convolve_s8" else []
    struct = "cmsis_nn_conv_params"
    layer.body = _conv_call(layer, node, address, upscale, bands, struct, backwards)
    return layer


#: The depthwise function of the CMSIS-NN API that takes no buffer: Arm's ignores ``ctx``
#: and has no ``*_get_buffer_size`` (its wrapper answers 0 for the shapes it sends there);
#: the portable library's runs buffer-free when given none.
BUFFER_FREE_DEPTHWISE = "arm_depthwise_conv_s8"


def buffer_free_option(node: Node, graph: Graph) -> bool:
    """Whether ``node`` can run through :data:`BUFFER_FREE_DEPTHWISE` instead of the
    wrapper (an int8 DEPTHWISE_CONV_2D: the function takes every stride, padding, dilation
    and depth multiplier)."""
    if node.op != "DEPTHWISE_CONV_2D" or not node.inputs or node.inputs[0] is None:
        return False
    return graph.tensor(str(node.inputs[0])).dtype == "int8"


def lower_depthwise(
    node: Node,
    graph: Graph,
    index: int,
    address: Address,
    bands: Bands | None = None,
    backwards: bool = False,
    buffer_free: bool = False,
) -> Layer:
    """DEPTHWISE_CONV_2D through ``arm_depthwise_conv_wrapper_s8``, or through
    :data:`BUFFER_FREE_DEPTHWISE` with no buffer when ``buffer_free`` (in ``bands`` when
    given, last to first when ``backwards``)."""
    p = P.conv_params(node, graph)
    sym = layer_symbol
    if buffer_free:
        layer = Layer(index, node.op, BUFFER_FREE_DEPTHWISE)
    else:
        query = SizeQuery(
            "arm_depthwise_conv_wrapper_s8_get_buffer_size",
            tuple(f"&{sym(index, r)}" for r in _WRAPPER_ARGS),
            (p, p.input_dims, p.filter_dims, p.output_dims),
        )
        layer = Layer(index, node.op, "arm_depthwise_conv_wrapper_s8", scratch=query)
    _conv_common(layer, node, graph, p, "cmsis_nn_dw_conv_params", address)
    struct = "cmsis_nn_dw_conv_params"
    layer.body = _conv_call(layer, node, address, [], bands, struct, backwards)
    return layer


def _conv_common(
    layer: Layer, node: Node, graph: Graph, p: P.ConvParams, struct: str, address: Address
) -> None:
    i = layer.index
    channels = p.output_dims.c
    weights = data_symbol(i, "weights")
    bias = data_symbol(i, "bias")
    mults = data_symbol(i, "multipliers")
    shifts = data_symbol(i, "shifts")
    layer.data = [
        ConstArray(weights, "int8_t", _weights(node, graph)),
        ConstArray(bias, "int32_t", _bias(node, graph, channels)),
        ConstArray(mults, "int32_t", p.multipliers),
        ConstArray(shifts, "int32_t", p.shifts),
    ]
    ch_mult = f".ch_mult = {p.ch_mult}, " if struct == "cmsis_nn_dw_conv_params" else ""
    layer.declarations = [
        f"static const {struct} {layer_symbol(i, 'params')} = {{"
        f".input_offset = {p.input_offset}, .output_offset = {p.output_offset}, {ch_mult}"
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


def _conv_call(
    layer: Layer,
    node: Node,
    address: Address,
    upscale: list[str],
    bands: Bands | None = None,
    struct: str = "",
    backwards: bool = False,
) -> list[str]:
    i = layer.index
    if bands is not None:
        return _banded_call(layer, node, address, upscale, bands, struct, backwards)
    context = "&ctx" if layer.scratch is not None else f"&{NO_BUFFER}"
    args = [
        context,
        f"&{layer_symbol(i, 'params')}",
        f"&{layer_symbol(i, 'quant')}",
        f"&{layer_symbol(i, 'input_dims')}",
        address(str(node.inputs[0])),
        f"&{layer_symbol(i, 'filter_dims')}",
        data_symbol(i, "weights"),
        f"&{layer_symbol(i, 'bias_dims')}",
        data_symbol(i, "bias"),
        *upscale,
        f"&{layer_symbol(i, 'output_dims')}",
        address(node.outputs[0]),
    ]
    setup = [scratch_context(i)] if layer.scratch is not None else []
    return [*setup, *_return_call(layer.entry, args)]


def _banded_call(
    layer: Layer,
    node: Node,
    address: Address,
    upscale: list[str],
    bands: Bands,
    struct: str,
    backwards: bool,
) -> list[str]:
    """One call per band of output rows (first to last, or last to first when
    ``backwards``), on the input rows it reads with the top padding it sees, so the output may
    overlap the input (:mod:`.banding`); a 1x1 convolution's rows are its pixels."""
    i = layer.index
    b = bands
    args = [
        "&ctx" if layer.scratch is not None else f"&{NO_BUFFER}",
        "&params",
        f"&{layer_symbol(i, 'quant')}",
        "&input_dims",
        f"input + top * {b.input_row_bytes}",
        f"&{layer_symbol(i, 'filter_dims')}",
        data_symbol(i, "weights"),
        f"&{layer_symbol(i, 'bias_dims')}",
        data_symbol(i, "bias"),
        *upscale,
        "&output_dims",
        f"output + y * {b.output_row_bytes}",
    ]
    call = [f"status = {layer.entry}("]
    call += [f"    {a}," for a in args[:-1]]
    call.append(f"    {args[-1]});")
    rows, per_call = b.output_rows, b.rows_per_call
    last_start = (rows - 1) // per_call * per_call
    loop = (
        f"for (y = {last_start}; y >= 0; y -= {per_call}) {{"
        if backwards
        else f"for (y = 0; y < {rows}; y += {per_call}) {{"
    )
    pixels = ["input_dims.w = 1;", "output_dims.w = 1;"] if b.pixels else []
    kind = "pixels" if b.pixels else "output rows"
    return [
        f"/* {per_call} {kind} per call: the output overlaps input rows no later call reads */",
        *([scratch_context(i)] if layer.scratch is not None else []),
        f"{struct} params = {layer_symbol(i, 'params')};",
        f"cmsis_nn_dims input_dims = {layer_symbol(i, 'input_dims')};",
        f"cmsis_nn_dims output_dims = {layer_symbol(i, 'output_dims')};",
        f"const int8_t *input = {address(str(node.inputs[0]))};",
        f"int8_t *output = {address(node.outputs[0])};",
        "int32_t y;",
        *pixels,
        loop,
        f"    const int32_t count = {rows} - y < {per_call} ? {rows} - y : {per_call};",
        f"    const int32_t first = y * {b.stride} - {b.pad_top};",
        "    const int32_t top = first < 0 ? 0 : first;",
        f"    const int32_t end = (y + count - 1) * {b.stride} - {b.pad_top} + {b.kernel_h};",
        "    arm_cmsis_nn_status status;",
        f"    input_dims.h = (end < {b.input_rows} ? end : {b.input_rows}) - top;",
        "    output_dims.h = count;",
        "    params.padding.h = top - first;",
        *(f"    {line}" for line in call),
        "    if (status != ARM_CMSIS_NN_SUCCESS) {",
        "        return status;",
        "    }",
        "}",
        "return ARM_CMSIS_NN_SUCCESS;",
    ]


def _return_call(function: str, args: Sequence[str]) -> list[str]:
    lines = [f"return {function}("]
    lines += [f"    {a}," for a in args[:-1]]
    lines.append(f"    {args[-1]});")
    return lines


def lower_fully_connected(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """FULLY_CONNECTED through ``arm_fully_connected_s8`` (per-tensor requantization)."""
    p = P.fully_connected_params(node, graph)
    i = index
    sym = layer_symbol
    weights = data_symbol(i, "weights")
    bias = data_symbol(i, "bias")
    query = SizeQuery(
        "arm_fully_connected_s8_get_buffer_size", (f"&{sym(i, 'filter_dims')}",), (p.filter_dims,)
    )
    w = _weights(node, graph).reshape(p.units, p.depth)
    b = _bias(node, graph, p.units)
    sums = KernelSums(query, kernel_sums(w, b, p.input_offset))
    layer = Layer(i, node.op, "arm_fully_connected_s8", kernel_sums=sums)
    layer.data = [ConstArray(weights, "int8_t", w), ConstArray(bias, "int32_t", b)]
    layer.declarations = [
        f"static const cmsis_nn_fc_params {sym(i, 'params')} = {{"
        f".input_offset = {p.input_offset}, .filter_offset = 0, "
        f".output_offset = {p.output_offset}, "
        f".activation = {c_activation(p.act_min, p.act_max)}}};",
        f"static const cmsis_nn_per_tensor_quant_params {sym(i, 'quant')} = "
        f"{{.multiplier = {p.multiplier}, .shift = {p.shift}}};",
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
    args = [
        CONTEXT,
        f"&{sym(i, 'params')}",
        f"&{sym(i, 'quant')}",
        f"&{sym(i, 'input_dims')}",
        address(str(node.inputs[0])),
        f"&{sym(i, 'filter_dims')}",
        weights,
        f"&{sym(i, 'bias_dims')}",
        bias,
        f"&{sym(i, 'output_dims')}",
        address(node.outputs[0]),
    ]
    layer.body = _return_call(layer.entry, args)  # CONTEXT: see resolve_context
    return layer


#: ``arm_transpose_conv_s8_get_buffer_size`` answers for Arm's wrapper, whose reverse-convolution
#: path (strides <= 2, more input channels than this) needs another buffer: the size query
#: passes at most this many input channels, which ``arm_transpose_conv_s8``'s size ignores.
REVERSE_CONV_CHANNELS = 16


def lower_transpose_conv(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """TRANSPOSE_CONV through ``arm_transpose_conv_s8`` (its scratch holds the rows of int32
    sums; its output context is unused)."""
    p = P.transpose_conv_params(node, graph)
    i = index
    sym = layer_symbol
    d = p.input_dims
    size_dims = P.Dims(d.n, d.h, d.w, min(d.c, REVERSE_CONV_CHANNELS))
    query = SizeQuery(
        "arm_transpose_conv_s8_get_buffer_size",
        tuple(f"&{sym(i, r)}" for r in ("params", "size_input_dims", "filter_dims", "output_dims")),
        (p, size_dims, p.filter_dims, p.output_dims),
    )
    layer = Layer(i, node.op, "arm_transpose_conv_s8", scratch=query)
    weights, bias = data_symbol(i, "weights"), data_symbol(i, "bias")
    mults, shifts = data_symbol(i, "multipliers"), data_symbol(i, "shifts")
    tensors = graph.node_inputs(node)
    b = tensors[3] if len(tensors) > 3 else None
    bias_values = (
        np.zeros(p.output_dims.c, np.int32)
        if b is None or b.data is None
        else np.asarray(b.data, dtype=np.int32).reshape(p.output_dims.c)
    )
    w = graph.node_inputs(node)[1]
    assert w is not None and w.data is not None
    layer.data = [
        ConstArray(weights, "int8_t", np.ascontiguousarray(w.data, dtype=np.int8)),
        ConstArray(bias, "int32_t", bias_values),
        ConstArray(mults, "int32_t", p.multipliers),
        ConstArray(shifts, "int32_t", p.shifts),
    ]
    layer.declarations = [
        f"static const cmsis_nn_transpose_conv_params {sym(i, 'params')} = {{"
        f".input_offset = {p.input_offset}, .output_offset = {p.output_offset}, "
        f".stride = {c_tile(p.stride)}, .padding = {c_tile(p.padding)}, "
        f".padding_offsets = {c_tile(p.padding_offsets)}, .dilation = {{.w = 1, .h = 1}}, "
        f".activation = {c_activation(p.act_min, p.act_max)}}};",
        f"static const cmsis_nn_per_channel_quant_params {sym(i, 'quant')} = "
        f"{{.multiplier = (int32_t *){mults}, .shift = (int32_t *){shifts}}};",
        *_dims_declarations(
            i,
            [
                ("input_dims", p.input_dims),
                ("size_input_dims", size_dims),
                ("filter_dims", p.filter_dims),
                ("bias_dims", p.bias_dims),
                ("output_dims", p.output_dims),
            ],
        ),
    ]
    args = [
        "&ctx",
        f"&{NO_BUFFER}",
        f"&{sym(i, 'params')}",
        f"&{sym(i, 'quant')}",
        f"&{sym(i, 'input_dims')}",
        address(str(node.inputs[2])),
        f"&{sym(i, 'filter_dims')}",
        weights,
        f"&{sym(i, 'bias_dims')}",
        bias,
        f"&{sym(i, 'output_dims')}",
        address(node.outputs[0]),
    ]
    layer.body = [scratch_context(i), *_return_call(layer.entry, args)]
    return layer


def lower_pool(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """AVERAGE_POOL_2D (``arm_avgpool_s8``) or MAX_POOL_2D (``arm_max_pool_s8``)."""
    p = P.pool_params(node, graph)
    i = index
    sym = layer_symbol
    average = node.op == "AVERAGE_POOL_2D"
    entry = "arm_avgpool_s8" if average else "arm_max_pool_s8"
    query = (
        SizeQuery(
            "arm_avgpool_s8_get_buffer_size",
            (str(p.output_dims.w), str(p.input_dims.c)),
            (p.output_dims.w, p.input_dims.c),
        )
        if average
        else None
    )
    layer = Layer(i, node.op, entry, scratch=query)
    layer.declarations = [
        f"static const cmsis_nn_pool_params {sym(i, 'params')} = {{"
        f".stride = {c_tile(p.stride)}, .padding = {c_tile(p.padding)}, "
        f".activation = {c_activation(p.act_min, p.act_max)}}};",
        *_dims_declarations(
            i,
            [
                ("input_dims", p.input_dims),
                ("filter_dims", p.filter_dims),
                ("output_dims", p.output_dims),
            ],
        ),
    ]
    args = [
        "&ctx",
        f"&{sym(i, 'params')}",
        f"&{sym(i, 'input_dims')}",
        address(str(node.inputs[0])),
        f"&{sym(i, 'filter_dims')}",
        f"&{sym(i, 'output_dims')}",
        address(node.outputs[0]),
    ]
    layer.body = [scratch_context(i), *_return_call(entry, args)]
    return layer


def lower_softmax(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """SOFTMAX over the last axis through ``arm_softmax_s8``."""
    p = P.softmax_params(node, graph)
    layer = Layer(index, node.op, "arm_softmax_s8")
    layer.body = [
        "arm_softmax_s8(",
        f"    {address(str(node.inputs[0]))},",
        f"    {p.num_rows}, {p.row_size}, {p.multiplier}, {p.shift}, {p.diff_min},",
        f"    {address(node.outputs[0])});",
        "return ARM_CMSIS_NN_SUCCESS;",
    ]
    return layer


def lower_add(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """ADD of two same-shaped tensors through ``arm_elementwise_add_s8``."""
    p = P.add_params(node, graph)
    size = graph.tensor(node.outputs[0]).size
    layer = Layer(index, node.op, "arm_elementwise_add_s8")
    args = [
        address(str(node.inputs[0])),
        address(str(node.inputs[1])),
        str(p.input1_offset),
        str(p.input1_multiplier),
        str(p.input1_shift),
        str(p.input2_offset),
        str(p.input2_multiplier),
        str(p.input2_shift),
        str(p.left_shift),
        address(node.outputs[0]),
        str(p.output_offset),
        str(p.output_multiplier),
        str(p.output_shift),
        str(p.act_min),
        str(p.act_max),
        str(size),
    ]
    layer.body = _return_call(layer.entry, args)
    return layer


def lower_mul(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """MUL of two same-shaped tensors through ``arm_elementwise_mul_s8``."""
    p = P.elementwise_mul_params(node, graph)
    size = graph.tensor(node.outputs[0]).size
    layer = Layer(index, node.op, "arm_elementwise_mul_s8")
    args = [
        address(str(node.inputs[0])),
        address(str(node.inputs[1])),
        str(p.input1_offset),
        str(p.input2_offset),
        address(node.outputs[0]),
        str(p.output_offset),
        str(p.output_multiplier),
        str(p.output_shift),
        str(p.act_min),
        str(p.act_max),
        str(size),
    ]
    layer.body = _return_call(layer.entry, args)
    return layer


def lower_reshape(node: Node, graph: Graph, index: int, address: Address) -> Layer:
    """RESHAPE / SQUEEZE: nothing when the output shares the input's bytes, else a memmove."""
    src, dst = address(str(node.inputs[0])), address(node.outputs[0])
    x: Tensor = graph.tensor(str(node.inputs[0]))
    if address.offset(str(node.inputs[0])) == address.offset(node.outputs[0]):
        layer = Layer(index, node.op, "none")
        layer.body = ["/* the output shares the input's bytes */", "return ARM_CMSIS_NN_SUCCESS;"]
    else:
        layer = Layer(index, node.op, "memmove")
        layer.body = [f"memmove({dst}, {src}, {x.nbytes});", "return ARM_CMSIS_NN_SUCCESS;"]
    return layer


_LOWER: dict[str, Callable[[Node, Graph, int, Address], Layer]] = {
    "CONV_2D": lower_conv,
    "DEPTHWISE_CONV_2D": lower_depthwise,
    "FULLY_CONNECTED": lower_fully_connected,
    "AVERAGE_POOL_2D": lower_pool,
    "MAX_POOL_2D": lower_pool,
    "SOFTMAX": lower_softmax,
    "TRANSPOSE_CONV": lower_transpose_conv,
    "ADD": lower_add,
    "MUL": lower_mul,
    "RESHAPE": lower_reshape,
    "SQUEEZE": lower_reshape,
}


def lower(
    node: Node,
    graph: Graph,
    index: int,
    address: Address,
    banded: tuple[Bands, bool] | None = None,
    buffer_free: bool = False,
) -> Layer:
    """The layer for ``node`` (which the backend's constraints accepted); the stateful
    extension nodes (int8 or 16x8) go to :mod:`.layers_state`, other 16x8 nodes but reshapes
    to :func:`.layers_s16.lower_s16`; ``banded`` (not ``None``): in those bands (one of
    :func:`bandable`'s), its output overlapping its input, rows last to first when its second
    item is ``True``; ``buffer_free``: a depthwise layer (:func:`buffer_free_option`) through
    :data:`BUFFER_FREE_DEPTHWISE`."""
    if node.op in ("tflite.SVDF", "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM"):
        from tinyabi_cmsis_nn.codegen.layers_state import lower_lstm, lower_svdf

        stateful = lower_svdf if node.op == "tflite.SVDF" else lower_lstm
        return stateful(node, graph, index, address)
    x = graph.tensor(str(node.inputs[0])) if node.inputs and node.inputs[0] else None
    if x is not None and x.dtype == "int16" and node.op not in ("RESHAPE", "SQUEEZE"):
        # Imported here: the s16 layers build on this module's helpers.
        from tinyabi_cmsis_nn.codegen.layers_s16 import lower_s16

        return lower_s16(node, graph, index, address)
    if banded is not None and node.op == "CONV_2D":
        return lower_conv(node, graph, index, address, *banded)
    if node.op == "DEPTHWISE_CONV_2D" and (banded is not None or buffer_free):
        bands, backwards = banded if banded is not None else (None, False)
        return lower_depthwise(node, graph, index, address, bands, backwards, buffer_free)
    return _LOWER[node.op](node, graph, index, address)
