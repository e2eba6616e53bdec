"""The importer's state: IR tensors and nodes made so far, ONNX values, and undo.

Lowering a node may fail half-way (a parameter the spec cannot express, an int8 form whose
quantization the spec refuses); everything it did is journaled so that the importer can undo it
and try the next form: int8, then float32, then an ``onnx.<OpType>`` extension node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from tinyabi_onnx.api import (
    Graph,
    GraphError,
    Node,
    Quantization,
    Tensor,
    infer_shapes,
    validate_node,
)
from tinyabi_onnx.layout import Perm, between, identity, inverse, permute
from tinyabi_onnx.values import NotMapped, QuantizedConstant, Value

#: ONNX domains whose operators the importer maps.
DEFAULT_DOMAINS = ("", "ai.onnx")

#: int8 outputs the spec fixes (its notes; TFLite Micro checks or assumes them): scale, zero point.
FIXED_INT8_OUTPUT = {
    "SOFTMAX": (1.0 / 256, -128),
    "LOGISTIC": (1.0 / 256, -128),
    "TANH": (1.0 / 128, 0),
}


class Converter:
    """IR under construction for one ONNX graph."""

    def __init__(self, graph: onnx.GraphProto, opset: int, folder: Path | None) -> None:
        self.graph = graph
        self.opset = opset
        self.folder = folder
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.values: dict[str, Value] = {}
        self.declared: dict[str, tuple[int, tuple[int, ...]]] = {}
        self.outputs = [o.name for o in graph.output]
        self.reserved = set(self.outputs)
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        self.absorbed: set[int] = set()
        self.graph_inputs: set[str] = set()
        self.journal: list[Callable[[], object]] = []
        # The form being tried: int8 when q_outputs is set (one quantization per output, and
        # the QuantizeLinear nodes it absorbs).
        self.q_outputs: list[Quantization] | None = None
        self.q_nodes: list[list[onnx.NodeProto]] = []
        self._suffixes: dict[str, int] = {}
        self.onnx_name = ""  # the name of the ONNX node being lowered
        self.node_names: set[str] = set()
        self._view = Graph(self.tensors, [], [], [], graph.name or "main")

    # -- undo ---------------------------------------------------------------------------------

    def mark(self) -> int:
        """A point :meth:`rollback` can return to."""
        return len(self.journal)

    def rollback(self, mark: int) -> None:
        """Undo everything done since ``mark``."""
        while len(self.journal) > mark:
            self.journal.pop()()

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        """``setattr`` that can be undone."""
        old = getattr(obj, name)
        setattr(obj, name, value)
        self.journal.append(lambda: setattr(obj, name, old))

    def set_value(self, name: str, value: Value) -> None:
        """Bind the ONNX value ``name``."""
        old = self.values.get(name)
        self.values[name] = value
        if old is None:
            self.journal.append(lambda: self.values.pop(name, None))
        else:
            self.journal.append(lambda: self.values.__setitem__(name, old))

    def absorb(self, node: onnx.NodeProto) -> None:
        """Mark an ONNX node as done by another node's lowering."""
        self.absorbed.add(id(node))
        self.journal.append(lambda: self.absorbed.discard(id(node)))

    # -- IR tensors and nodes -----------------------------------------------------------------

    def fresh(self, base: str) -> str:
        """An IR tensor name not used yet, based on ``base``."""
        base = re.sub(r"\s+", "_", base) or "t"
        name, n = base, self._suffixes.get(base, 1)
        # The counter per base keeps many tensors of one base name linear, not quadratic.
        while name in self.tensors or name in self.reserved:
            name, n = f"{base}#{n}", n + 1
        self._suffixes[base] = n
        return name

    def add_tensor(self, tensor: Tensor) -> str:
        """Add an IR tensor."""
        self.tensors[tensor.name] = tensor
        self.journal.append(lambda: self.tensors.pop(tensor.name, None))
        return tensor.name

    def const(
        self, data: np.ndarray, base: str, quant: Quantization | None = None, dtype: str = ""
    ) -> str:
        """A new constant IR tensor."""
        array = np.array(data, order="C")
        dtype = dtype or ("bool" if array.dtype == np.bool_ else array.dtype.name)
        array = array.astype(np.bool_ if dtype == "bool" else dtype, copy=False)
        array.setflags(write=False)
        return self.add_tensor(Tensor(self.fresh(base), dtype, array.shape, quant, array))

    def node(
        self,
        op: str,
        inputs: Sequence[str | None],
        dtype: str,
        quant: Quantization | None = None,
        base: str = "",
        main: bool = False,
        **attrs: Any,
    ) -> str:
        """Append a spec node with one new output tensor, its shape by the spec's shape rule;
        the node is validated against the spec (a :class:`GraphError` when it does not fit).
        Returns the output tensor's name."""
        out = self.fresh(base or op.lower())
        node = Node(self.node_name(op, main), op, list(inputs), [out], dict(attrs))
        (shape,) = infer_shapes(node, self._view)
        self.add_tensor(Tensor(out, dtype, tuple(shape), quant))
        self.nodes.append(node)
        self.journal.append(lambda: self.nodes.pop())
        validate_node(node, self._view)
        return out

    def node_name(self, op: str, main: bool = True) -> str:
        """A unique IR node name: the name of the ONNX node being lowered, when it has one, for
        the node that computes its result; with the spec operator added for helper nodes."""
        base = self.onnx_name
        name = base if main and base else f"{base}/{op.lower()}" if base else op.lower()
        if name in self.node_names:
            name = f"{name}_{len(self.nodes)}"
        self.node_names.add(name)
        self.journal.append(lambda: self.node_names.discard(name))
        return name

    def raw_node(self, node: Node) -> None:
        """Append a node as it is (extension nodes)."""
        self.nodes.append(node)
        self.journal.append(lambda: self.nodes.pop())

    # -- reading values -----------------------------------------------------------------------

    def value(self, name: str) -> Value:
        """The value of an ONNX name."""
        value = self.values.get(name)
        if value is None:
            raise NotMapped(f"value {name!r} is not available")
        return value

    def optional(self, node: onnx.NodeProto, index: int) -> Value | None:
        """Input ``index`` of ``node``, or ``None`` when it is absent or empty."""
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.value(node.input[index])

    def held(self, value: Value, perm: Perm, base: str = "") -> str:
        """An IR tensor holding ``value`` (as ONNX computes it: dequantized) in ``perm``."""
        key = ("held", tuple(perm))
        if key in value.cache:
            return value.cache[key]
        if value.is_constant:
            data = np.transpose(value.real(), perm)
            name = self.const(data, base or "const")
        else:
            if value.ir is None and value.source is not None:
                source = value.source
                ir = self.node("DEQUANTIZE", [source.ir], "float32", base=(source.ir or "") + "_f")
                self.set_attr(value, "ir", ir)
                self.set_attr(value, "perm", source.perm)
            name = self._transposed(value, perm)
        self._cache(value, key, name)
        return name

    def int8(self, value: Value, perm: Perm) -> str:
        """The int8 IR tensor behind ``DequantizeLinear`` ``value``, in ``perm``."""
        source = value.source
        if source is None or source.dtype != "int8":
            raise NotMapped("the input is not a dequantized int8 activation")
        key = ("int8", tuple(perm))
        if key not in source.cache:
            self._cache(source, key, self._transposed(source, perm))
        return source.cache[key]

    def input_quant(self, value: Value) -> Quantization:
        """The quantization of the int8 activation behind ``value``."""
        if value.source is None or value.source.quant is None:
            raise NotMapped("the input is not a dequantized int8 activation")
        return value.source.quant

    def _cache(self, value: Value, key: tuple[str, Perm], name: str) -> None:
        value.cache[key] = name
        self.journal.append(lambda: value.cache.pop(key, None))

    def _transposed(self, value: Value, perm: Perm) -> str:
        if value.ir is None:
            raise NotMapped("the value has no IR tensor")
        if tuple(value.perm) == tuple(perm):
            return value.ir
        order = np.array(between(value.perm, perm), dtype=np.int32)
        mark = self.mark()
        try:
            perm_const = self.const(order, value.ir + "_perm")
            return self.node(
                "TRANSPOSE",
                [value.ir, perm_const],
                value.dtype,
                value.quant,
                base=f"{value.ir}_t",
            )
        except GraphError:
            self.rollback(mark)
        # An element type or rank the spec's TRANSPOSE lacks: ONNX's own Transpose, as an
        # extension node (a backend that runs ONNX operators takes it).
        shape = tuple(self.tensors[value.ir].shape[int(a)] for a in order)
        out = self.add_tensor(Tensor(self.fresh(f"{value.ir}_t"), value.dtype, shape, value.quant))
        attrs = {"perm": [int(a) for a in order]}
        self.raw_node(
            Node(self.node_name("transpose", False), "onnx.Transpose", [value.ir], [out], attrs,
                 version=self.opset)
        )  # fmt: skip
        return out

    def weight(self, value: Value | None) -> QuantizedConstant:
        """A dequantized constant (int8 weights, int32 biases)."""
        if value is None or value.qconst is None:
            raise NotMapped("the weight is not a dequantized constant")
        return value.qconst

    # -- the node's outputs -------------------------------------------------------------------

    @property
    def quantized(self) -> bool:
        """Whether the int8 form is being tried."""
        return self.q_outputs is not None

    def finish(
        self,
        node: onnx.NodeProto,
        op: str,
        inputs: Sequence[str | None],
        perm: Perm,
        index: int = 0,
        dtype: str = "float32",
        quant: Quantization | None = None,
        **attrs: Any,
    ) -> None:
        """Emit the node computing ONNX output ``index`` of ``node`` (held in ``perm``): in
        the int8 form with the quantization of the QuantizeLinear it absorbs, otherwise of
        ``dtype`` and ``quant``."""
        name = node.output[index]
        if self.q_outputs is not None:
            quant, dtype = self.q_outputs[index], "int8"
            name = self.q_nodes[index][0].output[0]
            fixed = FIXED_INT8_OUTPUT.get(op)
            if fixed is not None and (
                float(quant.scale[0]) != fixed[0] or int(quant.zero_point[0]) != fixed[1]
            ):
                raise NotMapped(f"int8 {op} needs output scale {fixed[0]}, zero point {fixed[1]}")
        out = self.node(op, inputs, dtype, quant, base=name, main=True, **attrs)
        self.bind(node, index, out, perm)

    def bind(self, node: onnx.NodeProto, index: int, ir: str, perm: Perm) -> None:
        """Bind ONNX output ``index`` of ``node`` to IR tensor ``ir`` held in ``perm``."""
        tensor = self.tensors[ir]
        shape = tuple(tensor.shape[i] for i in inverse(perm))
        names = [node.output[index]]
        if self.q_outputs is not None:
            names = [q.output[0] for q in self.q_nodes[index]]
            for q in self.q_nodes[index]:
                self.absorb(q)
        for name in names:
            self.check_declared(name, shape)
            self.set_value(name, Value(tensor.dtype, shape, ir, tuple(perm), quant=tensor.quant))

    def check_declared(self, name: str, shape: tuple[int, ...]) -> None:
        """Refuse a lowering whose shape differs from the one the model declares."""
        declared = self.declared.get(name)
        if declared is not None and declared[1] != shape:
            raise NotMapped(
                f"{name!r} would have shape {list(shape)}, the model says {list(declared[1])}"
            )

    def onnx_shape(self, ir_shape: Sequence[int], perm: Perm) -> tuple[int, ...]:
        """The ONNX shape of a value held in ``perm`` by a tensor of ``ir_shape``."""
        return permute(ir_shape, inverse(perm))

    def identity_of(self, value: Value) -> Perm:
        """ONNX order for ``value``."""
        return identity(value.rank)

    # -- int8 forms ---------------------------------------------------------------------------

    def add_reader(self, node: onnx.NodeProto) -> None:
        """Record that ``node`` reads its inputs."""
        for name in node.input:
            self.consumers.setdefault(name, []).append(node)

    def quantized_form(
        self, node: onnx.NodeProto
    ) -> tuple[list[Quantization], list[list[onnx.NodeProto]]] | None:
        """The int8 form of ``node``, when it reads a dequantized int8 activation and every
        reader of its one output is a QuantizeLinear to the same int8 parameters: those
        parameters and those QuantizeLinear nodes."""
        outputs = [o for o in node.output if o]
        if len(outputs) != 1 or node.output[0] != outputs[0] or outputs[0] in self.reserved:
            return None
        if not any(n in self.values and self.values[n].source is not None for n in node.input):
            return None
        readers = self.consumers.get(outputs[0], [])
        if not readers:
            return None
        quants = []
        for reader in readers:
            if reader.op_type != "QuantizeLinear" or reader.domain not in DEFAULT_DOMAINS:
                return None
            if reader.input[0] != outputs[0] or len(reader.input) < 3:
                return None
            quant = self._int8_parameters(reader)
            if quant is None:
                return None
            quants.append(quant)
        if any(q != quants[0] for q in quants):
            return None
        return [quants[0]], [readers]

    def _int8_parameters(self, node: onnx.NodeProto) -> Quantization | None:
        scale = self.values.get(node.input[1])
        zero_point = self.values.get(node.input[2])
        if scale is None or zero_point is None or scale.const is None or zero_point.const is None:
            return None
        if scale.const.size != 1 or zero_point.const.size != 1:
            return None
        if zero_point.const.dtype != np.int8 or scale.const.dtype != np.float32:
            return None
        value = float(scale.const.reshape(-1)[0])
        if not (np.isfinite(value) and value > 0):
            return None
        return Quantization(scale.const.reshape(-1), zero_point.const.reshape(-1))
