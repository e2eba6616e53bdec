"""A partition as the ``.tflite`` bytes the runtimes get: tinyabi's exporter, plus state.

The runtimes only ever see what :func:`tinyabi.tflite.exporter.export_tflite` produced from a
graph tinyabi validated. TFLite's recurrent operators keep state between invocations in
*variable* tensors (:data:`STATE_INPUTS` lists where). A state input that is a variable tensor
of the graph, as converters write it, is exported as one: the runtime keeps it across runs
and zeroes it on reset, exactly as TFLM does. A state input given instead as a constant of
zeros (all zero points) is exported as a variable too, but a constant does not change between
runs, so the runtime resets it before every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import flatbuffers
import numpy as np

from tinyabi.ir import Graph, Node
from tinyabi.tflite import export_tflite
from tinyabi.tflite.schema import FILE_IDENTIFIER, schema

#: Custom operators that keep state inside the kernel across invocations (the signal library's
#: framer, stacker, delay, overlap-add and noise estimate); the runtime's reset clears it.
KERNEL_STATE_OPS = frozenset(
    f"tflite.custom.Signal{name}"
    for name in ("Framer", "Stacker", "Delay", "OverlapAdd", "FilterBankSpectralSubtraction")
)

#: TFLite operator -> the positions of its inputs that are variable (state) tensors.
STATE_INPUTS: dict[str, tuple[int, ...]] = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (18, 19),
    "SVDF": (4,),
}


@dataclass(frozen=True)
class Exported:
    """A partition's model bytes and what the backends need to know about them."""

    model: bytes
    #: sha256 of the bytes: the key of every cached fact about the model.
    digest: str
    #: Whether state given as constant zeros became variables (the runtime must reset them
    #: before each run).
    reset_each_run: bool
    #: Whether the model has state that persists across runs (variable tensors, or kernels
    #: that keep their own).
    stateful: bool


def state_problem(node: Node, graph: Graph) -> str | None:
    """Why ``node``'s state inputs cannot be exported as variables, or ``None`` when they can
    (or it has none)."""
    positions = STATE_INPUTS.get(node.op.removeprefix("tflite."), ())
    for position in positions:
        name = node.inputs[position] if position < len(node.inputs) else None
        if name is None:
            return f"{node.op} needs its state input {position}"
        t = graph.tensor(name)
        if t.variable:
            continue
        zero = 0 if t.quant is None else int(t.quant.zero_point[0])
        if t.data is None or not np.all(t.data == zero):
            return (
                f"state input {name!r} of {node.op} must be a variable tensor (or a constant "
                "initial state of zeros)"
            )
    return None


def _constant_states(graph: Graph) -> set[str]:
    """State inputs given as constants (variables need no marking)."""
    names: set[str] = set()
    for node in graph.nodes:
        for position in STATE_INPUTS.get(node.op.removeprefix("tflite."), ()):
            name = node.inputs[position] if position < len(node.inputs) else None
            if name is not None and not graph.tensor(name).variable:
                names.add(name)
    return names


def export_partition(graph: Graph) -> Exported:
    """Export ``graph`` for a runtime (constant state inputs become variables)."""
    model = export_tflite(graph, description="tinyabi-tflm")
    states = _constant_states(graph)
    if states:
        model = _mark_variables(model, states)
    stateful = (
        bool(states)
        or any(t.variable for t in graph.tensors.values())
        or any(node.op in KERNEL_STATE_OPS for node in graph.nodes)
    )
    return Exported(model, hashlib.sha256(model).hexdigest(), bool(states), stateful)


def _mark_variables(model: bytes, names: set[str]) -> bytes:
    tree = schema.ModelT.InitFromPackedBuf(model, 0)
    for subgraph in tree.subgraphs:
        for tensor in subgraph.tensors:
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
            if name in names:
                tensor.isVariable = True
                tensor.buffer = 0  # runtimes start variables from zero
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
