"""What the NPU runs, as named checks (in the style of Arm Vela's constraints).

Every reason to decline a node is one function ``check_...(node, graph, ctx) -> str | None``:
it returns ``None`` when the node passes and otherwise the reason, and its docstring is the rule
in words. ``ctx`` carries the node's spec check (computed once by the dispatcher) and the NPU's
configuration, since some limits (SRAM) depend on it. :data:`CHECKS` lists, per operator, the
checks after :data:`COMMON`; :func:`supports` runs them and turns the first failure into a
:class:`~tinyabi.backends.base.Verdict` with its hint (:data:`HINTS`). ``docs/npu-support.md``
is the rendered table (``python -m tinyabi_npu.constraints --write``; a test keeps it current).

Checks never raise: a node whose tensors cannot be looked up fails the spec check first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyabi.backends import Verdict
from tinyabi.backends.checks import TABLE_HEADER, check_rows, support_doc_main
from tinyabi.errors import BackendError, GraphError, TinyABIError
from tinyabi.ir import Graph, Node, NodeCheck, check_node
from tinyabi.quantization import conv as conv_quant
from tinyabi.quantization import elementwise as elementwise_quant
from tinyabi.quantization import pooling as pooling_quant
from tinyabi_npu.compiler import TABLE_OPS, activation_table, minimum_sram
from tinyabi_npu.config import NpuConfig

#: Tensor descriptors hold four dimensions.
MAX_RANK = 4
#: Convolution kernels the window generator walks (per side).
MAX_KERNEL = 16
#: Pooling windows the pooling unit walks (per side).
MAX_POOL_WINDOW = 64
#: Strides and dilations the address generator steps.
MAX_STRIDE = 8
MAX_DILATION = 8
#: Output channels the requantization unit's table addresses.
MAX_CHANNELS = 4096
#: The requantization unit's shifter: shifts in [-31, 30] (positive = left).
SHIFT_RANGE = (-31, 30)
#: Fused activations the requantization unit applies as a clamp.
CLAMP_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
#: Operators that move bytes only (no unit of the NPU computes them).
COPY_OPS = ("RESHAPE", "SQUEEZE")


@dataclass(frozen=True)
class Context:
    """What a check may read besides the node: its spec check and the NPU's configuration."""

    spec: NodeCheck
    config: NpuConfig


Check = Callable[[Node, Graph, Context], "str | None"]


def _activation(node: Node) -> str:
    return str(node.attrs.get("fused_activation", "NONE"))


def _int(node: Node, key: str, default: int = 1) -> int:
    value = node.attrs.get(key, default)
    return int(value) if isinstance(value, (int, np.integer)) else -1


# --- every operator ----------------------------------------------------------------------------


def check_not_extension(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The operator is a TinyABI spec operator (extension operators are not the NPU's)."""
    return f"{node.op} is outside the TinyABI spec" if node.is_extension else None


def check_operator_listed(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The operator is one an NPU unit runs: the MAC array (CONV_2D, DEPTHWISE_CONV_2D,
    FULLY_CONNECTED), the pooling unit, the elementwise unit (ADD, MUL), the activation unit's
    tables (RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH) or the DMA (RESHAPE,
    SQUEEZE). SOFTMAX and everything else are declined."""
    return None if node.op in CHECKS else f"the NPU has no unit for {node.op}"


def check_spec_valid(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The node satisfies the TinyABI spec: operands, attributes, a type signature, shapes."""
    return ctx.spec.problem


def check_int8_signature(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The node matches the spec's int8 signature (int8 activations, per-tensor); the NPU
    has no float, hybrid or int16 datapath."""
    if ctx.spec.signature != "int8":
        return f"only the int8 signature is supported, not {ctx.spec.signature}"
    return None


def check_tensor_shapes(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Every activation tensor has at most 4 dimensions (a tensor descriptor holds four) and at
    least one element, and fits the 32-bit offsets of the command stream."""
    for name in [n for n in node.inputs if n is not None] + list(node.outputs):
        t = graph.tensor(name)
        if t.is_constant:
            continue
        if len(t.shape) > MAX_RANK:
            return f"tensor {name!r} has {len(t.shape)} dimensions, more than {MAX_RANK}"
        if t.size < 1 or t.size >= 2**31:
            return f"tensor {name!r} has {t.size} elements"
    return None


def check_activation_quantization(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Activation tensors are quantized per tensor with a zero point in [-128, 127] and a
    finite positive scale."""
    for name in [n for n in node.inputs if n is not None] + list(node.outputs):
        t = graph.tensor(name)
        if t.is_constant:
            continue
        q = t.quant
        if q is None or q.scale.size != 1 or q.zero_point.size != 1:
            return f"tensor {name!r} is not quantized per tensor"
        if not -128 <= int(q.zero_point[0]) <= 127:
            return f"tensor {name!r} has a zero point outside [-128, 127]"
        if not (np.isfinite(q.scale[0]) and q.scale[0] > 0):
            return f"tensor {name!r} has a scale that is not finite and positive"
    return None


def check_activations_computed(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The activation inputs (both operands of ADD and MUL, the first otherwise) are computed
    at run time: constants are not placed in SRAM."""
    count = 2 if node.op in ("ADD", "MUL") else 1
    for name in node.inputs[:count]:
        if name is not None and graph.tensor(name).is_constant:
            return f"the activation input {name!r} is a constant"
    return None


def check_fits_sram(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The node's smallest tile (one output row and one column block of the MAC array, with its
    weights and requantization table, input rows and output row staged from DRAM) fits SRAM
    twice (double buffering)."""
    try:
        need = minimum_sram(node, graph, ctx.config)
    except (TinyABIError, ValueError) as exc:
        return str(exc)
    if need > ctx.config.sram_bytes:
        return f"its smallest tile needs {need} B of SRAM, more than {ctx.config.sram_bytes} B"
    return None


# --- MAC array ---------------------------------------------------------------------------------


def check_clamp_activation(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The fused activation is NONE, RELU, RELU6 or RELU_N1_TO_1 (a clamp of the int8 output)."""
    activation = _activation(node)
    if activation not in CLAMP_ACTIVATIONS:
        return f"fused activation {activation} is not a clamp"
    return None


def check_constant_weights(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Filter and bias are constants (weights are compiled into the stream's blob)."""
    for role, t in zip(("filter", "bias"), graph.node_inputs(node)[1:3]):
        if t is not None and (not t.is_constant or t.data is None):
            return f"the {role} {t.name!r} is computed at run time"
    return None


def check_kernel_size(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Convolution kernels are at most 16 x 16 (the window generator's range)."""
    w = graph.node_inputs(node)[1]
    assert w is not None
    kh, kw = w.shape[1], w.shape[2]
    if kh > MAX_KERNEL or kw > MAX_KERNEL:
        return f"kernel {kh}x{kw} is larger than {MAX_KERNEL}x{MAX_KERNEL}"
    return None


def check_stride_dilation(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Strides are 1 to 8 and dilations 1 to 8 (the address generator's steps)."""
    strides = (_int(node, "stride_h"), _int(node, "stride_w"))
    dilations = (_int(node, "dilation_h"), _int(node, "dilation_w"))
    if not all(1 <= s <= MAX_STRIDE for s in strides):
        return f"stride {strides} is outside 1..{MAX_STRIDE}"
    if not all(1 <= d <= MAX_DILATION for d in dilations):
        return f"dilation {dilations} is outside 1..{MAX_DILATION}"
    return None


def check_not_grouped(node: Node, graph: Graph, ctx: Context) -> str | None:
    """CONV_2D is not grouped: the filter's depth equals the input's depth."""
    x, w = graph.node_inputs(node)[:2]
    assert x is not None and w is not None
    if w.shape[3] != x.shape[3]:
        return f"grouped convolution ({x.shape[3] // max(1, w.shape[3])} groups)"
    return None


def check_channels(node: Node, graph: Graph, ctx: Context) -> str | None:
    """At most 4096 output channels (the requantization table's range)."""
    channels = graph.tensor(node.outputs[0]).shape[-1]
    if channels > MAX_CHANNELS:
        return f"{channels} output channels, more than {MAX_CHANNELS}"
    return None


def check_requantization(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The node's requantization exists (:mod:`tinyabi.quantization.conv`) and every channel's
    shift lies in [-31, 30], the requantization unit's shifter (multipliers that quantize to
    zero are fine)."""
    try:
        if node.op == "CONV_2D":
            params = conv_quant.conv_params(node, graph)
        elif node.op == "DEPTHWISE_CONV_2D":
            params = conv_quant.depthwise_conv_params(node, graph)
        else:
            params = conv_quant.fully_connected_params(node, graph)
    except GraphError as exc:
        return str(exc)
    lo, hi = SHIFT_RANGE
    for multiplier, shift in zip(params.multipliers, params.shifts):
        if multiplier != 0 and not lo <= shift <= hi:
            return f"a requantization shift of {shift} is outside [{lo}, {hi}]"
    return None


# --- pooling, elementwise, tables --------------------------------------------------------------


def check_pool_window(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Pooling windows are at most 64 x 64 and strides 1 to 64."""
    sizes = (_int(node, "filter_h"), _int(node, "filter_w"))
    strides = (_int(node, "stride_h"), _int(node, "stride_w"))
    if not all(1 <= v <= MAX_POOL_WINDOW for v in (*sizes, *strides)):
        return f"window {sizes} or stride {strides} is outside 1..{MAX_POOL_WINDOW}"
    return None


def check_pool_quantization(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Pooling keeps the input's quantization (the pooling unit does not requantize)."""
    try:
        pooling_quant.pool_params(node, graph)
    except GraphError as exc:
        return str(exc)
    return None


def check_same_shape_inputs(node: Node, graph: Graph, ctx: Context) -> str | None:
    """Both inputs have the output's shape: the elementwise unit streams two equally long
    vectors and does not broadcast."""
    y = graph.tensor(node.outputs[0])
    for t in graph.node_inputs(node)[:2]:
        if t is None or t.shape != y.shape:
            return "the inputs need broadcasting"
    return None


def check_elementwise_parameters(node: Node, graph: Graph, ctx: Context) -> str | None:
    """ADD's or MUL's fixed-point parameters exist (:mod:`tinyabi.quantization.elementwise`)."""
    try:
        if node.op == "ADD":
            elementwise_quant.add_sub_params(node, graph)
        else:
            elementwise_quant.mul_params(node, graph)
    except GraphError as exc:
        return str(exc)
    return None


def check_table(node: Node, graph: Graph, ctx: Context) -> str | None:
    """The operator's 256-entry int8 table exists: its parameters
    (:mod:`tinyabi.quantization.activations`) accept the node's quantization."""
    try:
        activation_table(node, graph)
    except (TinyABIError, ValueError) as exc:
        return str(exc)
    return None


# --- the table ---------------------------------------------------------------------------------

#: Checks for every operator, before the operator's own.
COMMON: tuple[Check, ...] = (
    check_not_extension,
    check_operator_listed,
    check_spec_valid,
    check_int8_signature,
    check_tensor_shapes,
    check_activation_quantization,
    check_activations_computed,
)

_CONV: tuple[Check, ...] = (
    check_clamp_activation,
    check_constant_weights,
    check_kernel_size,
    check_stride_dilation,
    check_channels,
    check_requantization,
    check_fits_sram,
)

#: Per operator, its own checks (after :data:`COMMON`).
CHECKS: dict[str, tuple[Check, ...]] = {
    "CONV_2D": (check_not_grouped, *_CONV),
    "DEPTHWISE_CONV_2D": _CONV,
    "FULLY_CONNECTED": (
        check_clamp_activation,
        check_constant_weights,
        check_channels,
        check_requantization,
        check_fits_sram,
    ),
    "AVERAGE_POOL_2D": (
        check_clamp_activation,
        check_pool_window,
        check_pool_quantization,
        check_fits_sram,
    ),
    "MAX_POOL_2D": (
        check_clamp_activation,
        check_pool_window,
        check_pool_quantization,
        check_fits_sram,
    ),
    "ADD": (check_clamp_activation, check_same_shape_inputs, check_elementwise_parameters),
    "MUL": (check_clamp_activation, check_same_shape_inputs, check_elementwise_parameters),
    **{op: (check_table,) for op in sorted(TABLE_OPS)},
    **{op: () for op in COPY_OPS},
}

#: The unit that runs each operator.
UNITS: dict[str, str] = {
    "CONV_2D": "MAC array (weight-stationary) + requantization unit",
    "DEPTHWISE_CONV_2D": "MAC array (one column per channel) + requantization unit",
    "FULLY_CONNECTED": "MAC array + requantization unit",
    "AVERAGE_POOL_2D": "pooling unit",
    "MAX_POOL_2D": "pooling unit",
    "ADD": "elementwise unit",
    "MUL": "elementwise unit",
    **{op: "activation unit (256-entry table)" for op in TABLE_OPS},
    **{op: "DMA copy (no compute)" for op in COPY_OPS},
}

_FALLBACK = "another backend runs it (list cmsis-nn, tflm or reference after npu)"
_SRAM = "give the NPU more SRAM (option sram_bytes), or " + _FALLBACK

#: What a user can do when a check fails.
HINTS: dict[Check, str] = {
    check_not_extension: "run it on a backend that declares the extension operator, e.g. tflm",
    check_operator_listed: _FALLBACK,
    check_spec_valid: "fix the model so that it satisfies the spec (`tinyabi inspect` shows it)",
    check_int8_signature: "quantize the model fully to int8, or " + _FALLBACK,
    check_tensor_shapes: _FALLBACK,
    check_activation_quantization: "quantize activations per tensor with int8 zero points",
    check_activations_computed: "fold the constant computation into the model, or " + _FALLBACK,
    check_fits_sram: _SRAM,
    check_clamp_activation: _FALLBACK,
    check_constant_weights: "freeze the weights into the model as constants",
    check_kernel_size: "split the kernel, or " + _FALLBACK,
    check_stride_dilation: _FALLBACK,
    check_not_grouped: "split the convolution per group, or " + _FALLBACK,
    check_channels: "split the layer along its output channels, or " + _FALLBACK,
    check_requantization: "check the scales of the input, filter and output",
    check_pool_window: _FALLBACK,
    check_pool_quantization: "give the pooling output the input's scale and zero point",
    check_same_shape_inputs: "broadcast the inputs explicitly beforehand, or " + _FALLBACK,
    check_elementwise_parameters: "check the scales of the inputs and the output",
    check_table: "check the input and output quantization the operator requires",
}


def checks_for(op: str) -> tuple[Check, ...]:
    """The checks a node of ``op`` must pass, in order."""
    return (*COMMON, *CHECKS.get(op, ()))


def first_failure(
    node: Node, graph: Graph, config: NpuConfig, spec: NodeCheck | None = None
) -> tuple[Check, str] | None:
    """The first check ``node`` fails and its reason, or ``None`` when it passes them all."""
    ctx = Context(check_node(node, graph) if spec is None else spec, config)
    for check in checks_for(node.op):
        try:
            reason = check(node, graph, ctx)
        except (TinyABIError, BackendError, ValueError, IndexError) as exc:
            reason = f"{check.__name__}: {exc}"
        if reason is not None:
            return check, reason
    return None


def supports(node: Node, graph: Graph, config: NpuConfig, spec: NodeCheck | None = None) -> Verdict:
    """Whether the NPU runs ``node`` (``spec``: its spec check, computed when not given)."""
    failure = first_failure(node, graph, config, spec)
    if failure is None:
        return Verdict.yes()
    check, reason = failure
    return Verdict.no(reason, HINTS.get(check, ""))


def support_table() -> str:
    """The support table as Markdown: per operator the unit and every rule."""
    lines = [
        "# NPU backend: what it runs",
        "",
        "Generated from `tinyabi_npu/constraints.py` by "
        "`python -m tinyabi_npu.constraints --write`; a test keeps it up to date. A node runs on "
        "the `npu` backend when it passes every check of its operator; otherwise the first "
        "failing check is the reason it is declined, with the hint shown. The SRAM check "
        "depends on the configured `sram_bytes`.",
        "",
        "## Checks for every operator",
        "",
        *TABLE_HEADER,
        *check_rows(COMMON, HINTS),
        "",
        "## Operators",
        "",
    ]
    for op in sorted(CHECKS):
        lines += [f"### {op}", "", f"Unit: {UNITS[op]}.", ""]
        if CHECKS[op]:
            lines += TABLE_HEADER
            lines += check_rows(CHECKS[op], HINTS)
        else:
            lines.append("No checks beyond those for every operator.")
        lines.append("")
    lines += [
        "## Not supported",
        "",
        "Every other operator (SOFTMAX among them), the float32, hybrid and int16 signatures and "
        'extension operators are declined; with `backends=["npu", "cmsis-nn"]` a session runs '
        "them on the next backend that takes them, else on the fallback.",
        "",
        "## Partitions",
        "",
        "`accept()` refuses a partition that is not worth the hand-over: one that only moves "
        "bytes (RESHAPE, SQUEEZE) or has fewer MACs than the option `min_macs`.",
        "",
    ]
    return "\n".join(lines)


#: Where the rendered table lives in the plugin's distribution.
SUPPORT_DOC = Path(__file__).resolve().parents[1] / "docs" / "npu-support.md"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the support table, or write it to ``docs/npu-support.md`` with ``--write``."""
    return support_doc_main(support_table, SUPPORT_DOC, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
