"""The NPU compiler: a partition (a tinyabi graph of supported nodes) to a command stream.

1. **Layers**: each node becomes one :class:`~tinyabi_npu.stream.Layer` of the unit that runs
   it, with every quantization parameter from :mod:`tinyabi.quantization` (conv family,
   ADD/MUL) and, for unary activations, the 256-entry table the spec's reference kernel gives
   for the 256 int8 inputs.
2. **Placement**: tinyabi's memory planner (:func:`tinyabi.dispatch.memory.plan_memory`) gives
   every activation tensor an offset. When that arena and the largest layer's staging buffers
   fit in SRAM, activations live in SRAM; otherwise they live in DRAM at the same offsets and
   every tile stages its input rows and output rows through SRAM (spills, counted as DRAM
   traffic).
3. **Tiling**: each layer is cut into tiles (output channel blocks of the MAC array's width,
   then bands of output rows, or element ranges) so that two tiles' working sets (weights,
   requantization table and, from DRAM, input and output rows) fit the staging budget:
   one tile computes while the next one loads.
4. **Weights**: each tile's weight block is compressed (:mod:`tinyabi_npu.compress`) into
   the blob; the compression ratio is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinyabi.dispatch import plan_memory
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, Node, Tensor, pool_geometry
from tinyabi.kernels import conv_window, prepare
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization import elementwise as elementwise_quant
from tinyabi.quantization import pooling as pooling_quant
from tinyabi_npu.compress import compress
from tinyabi_npu.config import NpuConfig
from tinyabi_npu.cycles import REQUANT_BYTES
from tinyabi_npu.stream import NONE, Command, Layer, Op, Program, Region, TensorDesc, encode

#: Operators the activation unit runs as a 256-entry table.
TABLE_OPS = frozenset({"RELU", "RELU6", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH"})
#: Operators that only move bytes.
COPY_OPS = frozenset({"RESHAPE", "SQUEEZE"})
OPS: dict[str, Op] = {
    "CONV_2D": Op.CONV,
    "DEPTHWISE_CONV_2D": Op.DEPTHWISE,
    "FULLY_CONNECTED": Op.FULLY_CONNECTED,
    "AVERAGE_POOL_2D": Op.AVERAGE_POOL,
    "MAX_POOL_2D": Op.MAX_POOL,
    "ADD": Op.ADD,
    "MUL": Op.MUL,
    **{op: Op.TABLE for op in TABLE_OPS},
    **{op: Op.COPY for op in COPY_OPS},
}
ALIGNMENT = 16
#: Layers with weights are cut into at least this many channel blocks when wide enough.
MIN_WEIGHT_TILES = 4


@dataclass(frozen=True)
class Tile:
    """Output rows (or elements) ``[row0, row1)`` and channels ``[ch0, ch1)``."""

    row0: int
    row1: int
    ch0: int
    ch1: int


@dataclass
class LayerPlan:
    """One node on its way to a layer: its parameters, weights and working-set rule."""

    node: Node
    op: Op
    inputs: tuple[str, str | None]
    output: str
    params: dict[str, int]
    rows: int  # output rows (windowed), batch rows (FC) or elements
    channels: int  # output channels (1 for element ranges)
    weights: np.ndarray | None = None  # [channels, K] int8
    requant: bytes = b""
    table: bytes = b""
    # bytes one tile needs in SRAM: f(row count, channel count, activations in DRAM)
    working_set: Callable[[int, int, bool], int] = lambda r, c, d: 0


@dataclass
class Compiled:
    """A compiled partition: the program, its bytes and what the compiler decided."""

    program: Program
    data: bytes
    inputs: list[str]
    outputs: list[str]
    layer_names: list[str]
    spilled: bool
    arena_bytes: int
    staging_bytes: int
    raw_weight_bytes: int
    stored_weight_bytes: int

    @property
    def compression_ratio(self) -> float:
        """Raw weight bytes over stored bytes (1.0 with no weights)."""
        return self.raw_weight_bytes / self.stored_weight_bytes if self.stored_weight_bytes else 1.0


def _tensor(graph: Graph, name: str | None) -> Tensor:
    assert name is not None
    return graph.tensor(name)


def _requant_table(node: Node, graph: Graph, params: conv_quant.ConvQuantParams) -> bytes:
    channels = params.multipliers.size
    bias_t = graph.node_inputs(node)[2] if len(node.inputs) > 2 else None
    bias = np.zeros(channels, np.int32)
    if bias_t is not None and bias_t.data is not None:
        bias = np.asarray(bias_t.data, np.int32).reshape(-1)
    table = np.concatenate(
        [bias, params.multipliers.astype(np.int32), params.shifts.astype(np.int32)]
    )
    return table.astype("<i4").tobytes()


def _conv_common(node: Node, graph: Graph, params: conv_quant.ConvQuantParams) -> dict[str, int]:
    return {
        "input_offset": params.input_offset,
        "output_offset": params.output_offset,
        "act_min": params.act_min,
        "act_max": params.act_max,
        "channels": int(params.multipliers.size),
    }


def _window_set(
    x: Tensor, y: Tensor, kh: int, sh: int, dh: int, k: int, per_channel_in: bool
) -> Callable[[int, int, bool], int]:
    n, _, w, c = x.shape
    ow = y.shape[2]

    def working_set(rows: int, channels: int, dram: bool) -> int:
        weights = channels * (k + REQUANT_BYTES) if k else 0
        if not dram:
            return weights
        band = min((rows - 1) * sh + (kh - 1) * dh + 1, x.shape[1])
        in_c = channels if per_channel_in else c
        return weights + n * band * w * in_c + n * rows * ow * channels

    return working_set


def layer_plan(node: Node, graph: Graph) -> LayerPlan:
    """The layer ``node`` becomes (its parameters computed by tinyabi.quantization)."""
    op = OPS[node.op]
    x = _tensor(graph, node.inputs[0])
    y = graph.tensor(node.outputs[0])
    second = node.inputs[1] if op in (Op.ADD, Op.MUL) else None
    plan = LayerPlan(node, op, (x.name, second), y.name, {}, rows=y.size, channels=1)
    if op in (Op.CONV, Op.DEPTHWISE):
        w = _tensor(graph, node.inputs[1])
        assert w.data is not None
        if op == Op.CONV:
            params = conv_quant.conv_params(node, graph)
            o, kh, kw, ci = w.shape
            matrix = np.asarray(w.data, np.int8).reshape(o, kh * kw * ci)
        else:
            params = conv_quant.depthwise_conv_params(node, graph)
            _, kh, kw, o = w.shape
            matrix = np.asarray(w.data, np.int8).reshape(kh * kw, o).T
        win = conv_window(node, x, kh, kw)
        plan.params = {
            "kh": kh,
            "kw": kw,
            "sh": win.sh,
            "sw": win.sw,
            "dh": win.dh,
            "dw": win.dw,
            "pad_top": win.top,
            "pad_left": win.left,
            **_conv_common(node, graph, params),
        }
        if op == Op.DEPTHWISE:
            plan.params["depth_multiplier"] = o // x.shape[3]
        plan.rows, plan.channels = win.oh, o
        plan.weights = np.ascontiguousarray(matrix)
        plan.requant = _requant_table(node, graph, params)
        plan.working_set = _window_set(
            x, y, kh, win.sh, win.dh, matrix.shape[1], op == Op.DEPTHWISE
        )
    elif op == Op.FULLY_CONNECTED:
        params = conv_quant.fully_connected_params(node, graph)
        w = _tensor(graph, node.inputs[1])
        assert w.data is not None
        units, depth = w.shape
        plan.params = {**_conv_common(node, graph, params), "depth": depth}
        plan.rows, plan.channels = x.size // depth, units
        plan.weights = np.ascontiguousarray(np.asarray(w.data, np.int8).reshape(units, depth))
        plan.requant = _requant_table(node, graph, params)

        def fc_set(rows: int, channels: int, dram: bool) -> int:
            weights = channels * (depth + REQUANT_BYTES)
            return weights + (rows * depth + rows * channels if dram else 0)

        plan.working_set = fc_set
    elif op in (Op.AVERAGE_POOL, Op.MAX_POOL):
        pool = pooling_quant.pool_params(node, graph)
        g = pool_geometry(node, graph)
        plan.params = {
            "kh": g.filter_h,
            "kw": g.filter_w,
            "sh": g.stride_h,
            "sw": g.stride_w,
            "pad_top": g.pad_top,
            "pad_left": g.pad_left,
            "act_min": pool.act_min,
            "act_max": pool.act_max,
        }
        plan.rows, plan.channels = g.out_h, y.shape[3]
        plan.working_set = _window_set(x, y, g.filter_h, g.stride_h, 1, 0, True)
    elif op == Op.ADD:
        p = elementwise_quant.add_sub_params(node, graph)
        plan.params = {k: int(v) for k, v in vars(p).items()}
        plan.working_set = lambda r, c, d: 3 * r if d else 0
    elif op == Op.MUL:
        m = elementwise_quant.mul_params(node, graph)
        plan.params = {k: int(v) for k, v in vars(m).items()}
        plan.working_set = lambda r, c, d: 3 * r if d else 0
    elif op == Op.TABLE:
        plan.table = activation_table(node, graph)
        plan.working_set = lambda r, c, d: 256 + (2 * r if d else 0)
    else:
        plan.working_set = lambda r, c, d: 2 * r if d else 0
    return plan


def activation_table(node: Node, graph: Graph) -> bytes:
    """The activation unit's table of a unary int8 operator: entry ``i`` is the operator's
    output for the input ``i - 128``, from the spec's reference kernel."""
    values = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    (out,) = prepare(node, graph)([values])
    table = np.asarray(out, dtype=np.int8).reshape(-1)
    if table.size != 256:
        raise BackendError(f"{node.describe()}: not an elementwise table operator")
    return table.tobytes()


def tiles(plan: LayerPlan, budget: int, dram: bool, cols: int) -> list[Tile]:
    """The layer's tiles: two working sets fit ``budget`` bytes (double buffering).

    Channel blocks first (multiples of the array's ``cols``, as wide as half the budget allows
    for the weights), then the largest band of rows that fits."""
    half = budget // 2
    block = plan.channels
    if plan.weights is not None and plan.channels >= MIN_WEIGHT_TILES * cols:
        # Several weight blocks even when one fits: the next block loads while this one
        # computes, instead of the whole layer's weights stalling the array up front.
        block = -(-plan.channels // MIN_WEIGHT_TILES // cols) * cols
    if plan.channels > cols:
        # Weights take at most half of a buffer when activations are staged too (FC's input
        # rows are short, so its weights may take it all).
        limit = half // 2 if dram and plan.op != Op.FULLY_CONNECTED else half
        while block > cols and plan.working_set(1, block, dram) > limit:
            block = max(cols, (block // 2 + cols - 1) // cols * cols)
    if plan.working_set(1, min(block, plan.channels), dram) > half:
        raise BackendError(
            f"{plan.node.describe()}: its smallest tile needs "
            f"{2 * plan.working_set(1, min(block, plan.channels), dram)} bytes of SRAM, more "
            f"than the {budget} available"
        )
    rows = plan.rows
    if dram:
        lo, hi = 1, plan.rows
        while lo < hi:  # the largest band that fits
            mid = (lo + hi + 1) // 2
            if plan.working_set(mid, min(block, plan.channels), dram) <= half:
                lo = mid
            else:
                hi = mid - 1
        rows = lo
    out = []
    for ch0 in range(0, plan.channels, block):
        ch1 = min(ch0 + block, plan.channels)
        for row0 in range(0, plan.rows, rows):
            out.append(Tile(row0, min(row0 + rows, plan.rows), ch0, ch1))
    return out


@dataclass
class _Blob:
    data: bytearray = field(default_factory=bytearray)

    def add(self, chunk: bytes) -> int:
        offset = len(self.data)
        self.data += chunk
        self.data += b"\0" * (-len(self.data) % 4)
        return offset


def _descriptors(
    graph: Graph, offsets: dict[str, int], region: Region
) -> tuple[list[TensorDesc], dict[str, int]]:
    names = list(graph.inputs) + [n for n in graph.outputs if n not in graph.inputs]
    names += [n for n in offsets if n not in names]
    index = {name: i for i, name in enumerate(names)}
    descs = []
    for name in names:
        t = graph.tensor(name)
        assert t.quant is not None
        flags = (1 if name in graph.inputs else 0) | (2 if name in graph.outputs else 0)
        descs.append(
            TensorDesc(region, offsets[name], int(t.quant.zero_point[0]), tuple(t.shape), flags)
        )
    return descs, index


def compile_partition(graph: Graph, config: NpuConfig) -> Compiled:
    """Compile ``graph`` (every node supported by the NPU) into a program."""
    if len(graph.nodes) > NONE:
        raise BackendError("a partition of more than 65535 layers does not fit the NPU format")
    plans = [layer_plan(node, graph) for node in graph.nodes]
    memory = plan_memory(graph, alignment=ALIGNMENT)
    offsets = {p.tensor: p.offset for p in memory.tensors}
    arena = memory.arena_bytes
    cols = config.array_shape[1]
    usable = config.usable_sram
    spilled = False
    try:
        if arena >= usable:
            raise BackendError("activations do not fit SRAM")
        tiled = [tiles(p, usable - arena, False, cols) for p in plans]
    except BackendError:
        spilled = True
        tiled = [tiles(p, usable, True, cols) for p in plans]
    staging = max(
        (
            2 * p.working_set(t.row1 - t.row0, t.ch1 - t.ch0, spilled)
            for p, ts in zip(plans, tiled)
            for t in ts
        ),
        default=0,
    )
    region = Region.DRAM if spilled else Region.SRAM
    tensors, index = _descriptors(graph, offsets, region)
    blob = _Blob()
    layers: list[Layer] = []
    commands: list[Command] = []
    raw_bytes = stored_bytes = 0
    for li, (plan, layer_tiles) in enumerate(zip(plans, tiled)):
        params = dict(plan.params)
        if plan.requant:
            params["requant"] = blob.add(plan.requant)
        if plan.table:
            params["table"] = blob.add(plan.table)
        second = index[plan.inputs[1]] if plan.inputs[1] is not None else NONE
        layers.append(Layer(plan.op, (index[plan.inputs[0]], second), index[plan.output], params))
        blocks: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        for t in layer_tiles:
            woff = wlen = wraw = 0
            codec = 0
            if plan.weights is not None:
                key = (t.ch0, t.ch1)
                if key not in blocks:
                    block = plan.weights[t.ch0 : t.ch1]
                    kind, stored = compress(block, config.compress_weights)
                    blocks[key] = (blob.add(stored), len(stored), block.size, int(kind))
                    raw_bytes += block.size
                    stored_bytes += len(stored)
                woff, wlen, wraw, codec = blocks[key]
            commands.append(
                Command(li, t.row0, t.row1, t.ch0, t.ch1, woff, wlen, wraw, codec)  # type: ignore[arg-type]
            )
    dram = arena if spilled else 0
    program = Program(
        tensors,
        layers,
        commands,
        bytes(blob.data),
        sram_bytes=config.sram_bytes,
        dram_bytes=dram,
        macs=config.macs,
    )
    return Compiled(
        program=program,
        data=encode(program),
        inputs=list(graph.inputs),
        outputs=list(graph.outputs),
        layer_names=[n.name for n in graph.nodes],
        spilled=spilled,
        arena_bytes=arena,
        staging_bytes=staging,
        raw_weight_bytes=raw_bytes,
        stored_weight_bytes=stored_bytes,
    )


def minimum_sram(node: Node, graph: Graph, config: NpuConfig) -> int:
    """SRAM bytes the node's smallest tile needs with activations in DRAM (double-buffered),
    plus the reserved bytes."""
    plan = layer_plan(node, graph)
    cols = config.array_shape[1]
    block = (
        min(plan.channels, cols)
        if plan.weights is not None
        or plan.op
        in (
            Op.AVERAGE_POOL,
            Op.MAX_POOL,
        )
        else 1
    )
    return 2 * plan.working_set(1, block, True) + NpuConfig.RESERVED_SRAM


def weights_per_layer(compiled: Compiled) -> dict[int, int]:
    """Stored weight bytes per layer index."""
    seen: dict[tuple[int, int], int] = {}
    for c in compiled.program.commands:
        if c.weight_len:
            seen[(c.layer, c.weight_offset)] = c.weight_len
    out: dict[int, int] = {}
    for (layer, _), size in seen.items():
        out[layer] = out.get(layer, 0) + size
    return out
