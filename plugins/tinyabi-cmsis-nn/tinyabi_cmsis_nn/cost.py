"""A cost estimate for cmsis-nn partitions on the Cortex-M core they target, for cost mode.

Each node is one generated layer; its instructions are estimated from its kind (the CMSIS-NN
function family it calls: 1x1 or other convolution, depthwise, fully connected, pooling, ...)
as ``per_mac * MACs + per_output * output elements + per_pixel * output positions +
per_layer`` (an output position: one element of every dimension but the last, channels). The
coefficients were fitted per core and kernel library (tinyabi's portable copy or Arm's
CMSIS-NN) to per-layer instruction counts measured under QEMU (``CortexMPartition.profile``)
on kws, vww and ad01 by ``benchmarks/bench_cmsis_layers.py``, which also reports the
estimate's error per layer (``benchmarks/RESULTS.md``, section ``cmsis-nn-layers``). Kinds
those models do not contain (ADD, MUL, MAX_POOL_2D) fall back to a generic per-element rate.
Instructions are taken as cycles (one per cycle: an estimate, not a measurement) at a typical
clock of each core. A host build is estimated as the Cortex-M55 it stands in for (the
generated code is the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinyabi.ir import Graph, Node

__all__ = [
    "CLOCK_HZ",
    "COEFFICIENTS",
    "LayerFeatures",
    "estimate_seconds",
    "layer_features",
    "layer_instructions",
    "node_macs",
]

#: Instructions per output element of the kinds without fitted coefficients.
INSTRUCTIONS_PER_ELEMENT = {"cortex-m4": 8.0, "cortex-m55": 4.0}
#: Instructions per layer call of the kinds without fitted coefficients.
INSTRUCTIONS_PER_LAYER = 200
#: Assumed clocks: a Cortex-M4 at 168 MHz (STM32F4 class), a Cortex-M55 at 400 MHz (high-end
#: microcontrollers that pair it with an NPU).
CLOCK_HZ = {"cortex-m4": 168e6, "cortex-m55": 400e6}
#: The kernel libraries the coefficients were fitted for.
LIBRARIES = ("portable", "arm")

#: (core, library) -> layer kind -> (per MAC, per output element, per output position, per
#: layer), fitted by ``benchmarks/bench_cmsis_layers.py --fit`` (its output, pasted).
COEFFICIENTS: dict[tuple[str, str], dict[str, tuple[float, float, float, float]]] = {
    ("cortex-m4", "arm"): {
        "average_pool_2d": (6.8584, 0.0, 0.0, 0.0),
        "conv": (4.1461, 0.0, 0.0, 0.0),
        "conv_1x1": (1.5455, 24.834, 223.4218, 109300.9991),
        "depthwise_conv_2d": (7.3928, 0.8214, 120.9896, 0.0),
        "fully_connected": (1.878, 49.1255, 72.5036, 72.5036),
        "softmax": (0.0, 299.7578, 0.0, 0.0),
    },
    ("cortex-m4", "portable"): {
        "average_pool_2d": (4.2046, 0.0, 0.0, 0.0),
        "conv": (2.3626, 0.0, 0.0, 0.0),
        "conv_1x1": (1.3616, 0.0, 218.7534, 90662.9254),
        "depthwise_conv_2d": (5.8559, 0.6507, 0.0, 15137.0032),
        "fully_connected": (1.6206, 38.9, 216.2991, 216.2991),
        "softmax": (0.0, 232.435, 0.0, 0.0),
    },
    ("cortex-m55", "arm"): {
        "average_pool_2d": (1.9481, 0.0, 0.0, 0.0),
        "conv": (1.153, 0.0, 0.0, 0.0),
        "conv_1x1": (0.1703, 11.358, 67.3653, 12826.8645),
        "depthwise_conv_2d": (1.8806, 0.209, 202.7769, 19486.8045),
        "fully_connected": (0.4453, 14.1278, 124.5018, 124.5018),
        "softmax": (0.0, 305.5598, 0.0, 0.0),
    },
    ("cortex-m55", "portable"): {
        "average_pool_2d": (3.6924, 0.0, 0.0, 0.0),
        "conv": (1.0482, 0.0, 0.0, 0.0),
        "conv_1x1": (0.1524, 2.9415, 157.6993, 33248.6196),
        "depthwise_conv_2d": (2.009, 0.2232, 0.0, 21542.2229),
        "fully_connected": (0.2748, 18.699, 79.7147, 79.7147),
        "softmax": (0.0, 237.0143, 0.0, 0.0),
    },
}


@dataclass(frozen=True)
class LayerFeatures:
    """What a layer's cost is estimated from."""

    kind: str
    macs: int
    outputs: int
    pixels: int


def node_macs(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of one node: the conv family's (TRANSPOSE_CONV and SVDF too), and
    a pool's window reads."""
    outputs = graph.tensor(node.outputs[0]).size
    if node.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return outputs * int(node.attrs["filter_h"]) * int(node.attrs["filter_w"])
    tensors = graph.node_inputs(node)
    if node.op == "TRANSPOSE_CONV" and tensors[1] is not None and tensors[2] is not None:
        # Every input pixel scatters one filter-sized product per output channel.
        pixels = tensors[2].size // max(int(tensors[2].shape[-1]), 1)
        return pixels * math.prod(tensors[1].shape)
    if node.op == "tflite.SVDF" and len(tensors) == 5 and tensors[0] and tensors[2]:
        # Feature products for every filter, then each filter's state row times its weights.
        batches, filters = tensors[0].shape[0], tensors[2].shape[0]
        return batches * filters * (tensors[0].shape[-1] + tensors[2].shape[-1])
    if node.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return 0
    w = graph.node_inputs(node)[1]
    if w is None:
        return 0
    if node.op == "CONV_2D":
        return outputs * math.prod(w.shape[1:])
    if node.op == "DEPTHWISE_CONV_2D":
        return outputs * w.shape[1] * w.shape[2]
    return outputs * w.shape[-1]


def _kind(node: Node, graph: Graph) -> str:
    if node.op == "CONV_2D":
        w = graph.node_inputs(node)[1]
        one_by_one = w is not None and tuple(w.shape[1:3]) == (1, 1)
        return "conv_1x1" if one_by_one else "conv"
    return node.op.lower()


def layer_features(node: Node, graph: Graph) -> LayerFeatures:
    """The kind, MACs, output elements and output positions of the layer generated for
    ``node``."""
    out = graph.tensor(node.outputs[0])
    outputs = sum(graph.tensor(name).size for name in node.outputs)
    pixels = out.size // max(int(out.shape[-1]), 1) if out.shape else 1
    return LayerFeatures(_kind(node, graph), node_macs(node, graph), outputs, pixels)


def _core(target: str) -> str:
    return target if target in CLOCK_HZ else "cortex-m55"


def layer_instructions(node: Node, graph: Graph, target: str, library: str = "arm") -> float:
    """Estimated instructions of the layer generated for ``node`` on ``target`` (``host`` =
    Cortex-M55) with ``library`` (``"portable"`` or ``"arm"``)."""
    core = _core(target)
    f = layer_features(node, graph)
    fitted = COEFFICIENTS.get((core, library), {}).get(f.kind)
    if fitted is not None:
        per_mac, per_output, per_pixel, per_layer = fitted
        return per_mac * f.macs + per_output * f.outputs + per_pixel * f.pixels + per_layer
    if f.kind in ("reshape", "squeeze"):
        return 0.0
    return INSTRUCTIONS_PER_ELEMENT[core] * max(f.macs, f.outputs) + INSTRUCTIONS_PER_LAYER


def estimate_seconds(graph: Graph, target: str, library: str = "arm") -> float:
    """Estimated seconds per inference of ``graph`` on ``target`` (``host`` = Cortex-M55)."""
    core = _core(target)
    total = sum(layer_instructions(node, graph, target, library) for node in graph.nodes)
    return total / CLOCK_HZ[core]
