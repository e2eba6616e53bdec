"""A cost estimate for cmsis-nn partitions on the Cortex-M core they target, for cost mode.

The model is instructions per MAC plus instructions per element of the operators without MACs,
fitted to the instruction counts measured under QEMU (``benchmarks/RESULTS.md``, section
``cmsis-nn``: kws, vww and ad01 retire 2.2 to 2.6 instructions per MAC on Cortex-M4 and 1.0 to
1.1 on Cortex-M55), taken as cycles (one instruction per cycle: an estimate, not a
measurement) at a typical clock of each core. A host build is estimated as the Cortex-M55 it
stands in for (the generated code is the same).
"""

from __future__ import annotations

import math

from tinyabi.ir import Graph, Node

#: Instructions per MAC of the conv family, per core (from the measured counts).
INSTRUCTIONS_PER_MAC = {"cortex-m4": 2.5, "cortex-m55": 1.05}
#: Instructions per output element of operators without MACs (pooling, elementwise, softmax).
INSTRUCTIONS_PER_ELEMENT = {"cortex-m4": 8.0, "cortex-m55": 4.0}
#: Instructions per layer call (parameter set-up, function call).
INSTRUCTIONS_PER_LAYER = 200
#: Assumed clocks: a Cortex-M4 at 168 MHz (STM32F4 class), a Cortex-M55 at 400 MHz (high-end
#: microcontrollers that pair it with an NPU).
CLOCK_HZ = {"cortex-m4": 168e6, "cortex-m55": 400e6}


def node_macs(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of one conv-family node (0 for other operators)."""
    if node.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return 0
    w = graph.node_inputs(node)[1]
    if w is None:
        return 0
    outputs = graph.tensor(node.outputs[0]).size
    if node.op == "CONV_2D":
        return outputs * math.prod(w.shape[1:])
    if node.op == "DEPTHWISE_CONV_2D":
        return outputs * w.shape[1] * w.shape[2]
    return outputs * w.shape[-1]


def estimate_seconds(graph: Graph, target: str) -> float:
    """Estimated seconds per inference of ``graph`` on ``target`` (``host`` = Cortex-M55)."""
    core = target if target in CLOCK_HZ else "cortex-m55"
    instructions = 0.0
    for node in graph.nodes:
        macs = node_macs(node, graph)
        if macs:
            instructions += INSTRUCTIONS_PER_MAC[core] * macs
        elif node.op not in ("RESHAPE", "SQUEEZE"):
            elements = sum(graph.tensor(name).size for name in node.outputs)
            instructions += INSTRUCTIONS_PER_ELEMENT[core] * elements
        instructions += INSTRUCTIONS_PER_LAYER
    return instructions / CLOCK_HZ[core]
