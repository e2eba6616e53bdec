"""Import an ONNX model into the graph IR.

The nodes are lowered in dependency order. Each node is tried in up to three forms: int8 spec
operators when it sits between DequantizeLinear and QuantizeLinear nodes whose quantization the
spec accepts (the QDQ format of onnxruntime's ``quantize_static``), float32 spec operators, and
an ``onnx.<OpType>`` extension node keeping its attributes. Rank-4 activations are held in NHWC;
ONNX Transpose nodes move no data, and a TRANSPOSE is made only where a reader needs other axes.
Rank-4 graph inputs and outputs are NHWC.
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from tinyabi_onnx.api import Graph, GraphError, ModelError, Node, Tensor
from tinyabi_onnx.attributes import plain_attributes
from tinyabi_onnx.converter import DEFAULT_DOMAINS, Converter
from tinyabi_onnx.folding import fold_constant
from tinyabi_onnx.fuse import fold_batch_norm, fuse_activations, fuse_bias_add
from tinyabi_onnx.handlers import HANDLERS, MIN_INPUTS, QUANTIZABLE
from tinyabi_onnx.layout import NHWC, identity
from tinyabi_onnx.qoperator import expand_qoperators
from tinyabi_onnx.reader import (
    check_shape,
    element_type,
    opset_version,
    tensor_array,
)
from tinyabi_onnx.values import NotMapped, Value


def import_model(model: onnx.ModelProto, folder: Path | None) -> Graph:
    """The IR graph of a checked ONNX model (``folder``: where external data may be read)."""
    try:
        return _Importer(model, folder).graph()
    except (RecursionError, MemoryError) as exc:
        raise ModelError(f"model is too large or too deeply nested: {type(exc).__name__}") from None


class _Importer:
    def __init__(self, model: onnx.ModelProto, folder: Path | None) -> None:
        self.model = model
        self.c = Converter(model.graph, opset_version(model), folder)

    def graph(self) -> Graph:
        c = self.c
        initializers = self._initializers()
        self._declared()
        self._inputs(initializers)
        order = self._order(initializers)
        order = expand_qoperators(fold_batch_norm(order, c), c)
        for node in order:
            c.add_reader(node)
        for node in order:
            if id(node) not in c.absorbed:
                self._lower(node)
        c.onnx_name = ""
        self._outputs()
        graph = Graph(dict(c.tensors), list(c.nodes), list(self.inputs), list(c.outputs), self.name)
        graph = fuse_activations(fuse_bias_add(graph))
        try:
            graph.nodes = [graph.nodes[i] for i in graph.topological_order()]
        except GraphError as exc:
            raise ModelError(str(exc)) from None
        _note_layout(graph)
        return _pruned(graph)

    @property
    def name(self) -> str:
        return self.model.graph.name or "main"

    # -- what the graph starts from ---------------------------------------------------------

    def _initializers(self) -> set[str]:
        names = set()
        for i, t in enumerate(self.model.graph.initializer):
            where = f"initializer {i} ({t.name!r})"
            data = tensor_array(t, where, self.c.folder)
            self.c.values[t.name] = Value(_dtype_name(data), tuple(data.shape), const=data)
            names.add(t.name)
        return names

    def _declared(self) -> None:
        graph = self.model.graph
        for info in [*graph.value_info, *graph.output]:
            typed = _static_type(info)
            if typed is not None:
                self.c.declared[info.name] = typed

    def _inputs(self, initializers: set[str]) -> None:
        c = self.c
        self.inputs: list[str] = []
        for i, info in enumerate(self.model.graph.input):
            if info.name in initializers:
                continue
            where = f"graph input {i} ({info.name!r})"
            if not info.type.HasField("tensor_type"):
                raise ModelError(f"{where}: only tensor inputs are supported")
            dtype = element_type(where, info.type.tensor_type.elem_type)
            dims = []
            for k, dim in enumerate(info.type.tensor_type.shape.dim):
                if dim.HasField("dim_value"):
                    dims.append(int(dim.dim_value))
                elif k == 0:
                    dims.append(1)  # a symbolic batch dimension: one sample
                else:
                    raise ModelError(f"{where}: dimension {k} is not static")
            shape = check_shape(where, dims, dtype)
            perm = NHWC if len(shape) == 4 else identity(len(shape))
            held = tuple(shape[p] for p in perm)
            if info.name in c.tensors:
                raise ModelError(f"{where}: the name is used twice")
            c.add_tensor(Tensor(info.name, dtype, held))
            c.values[info.name] = Value(dtype, shape, info.name, perm)
            c.graph_inputs.add(info.name)
            self.inputs.append(info.name)
        c.journal.clear()

    def _order(self, initializers: set[str]) -> list[onnx.NodeProto]:
        """The nodes in dependency order; refuses reads of missing values, values written
        twice and cycles."""
        nodes = list(self.model.graph.node)
        available = set(self.c.values) | {""}
        producer: dict[str, int] = {}
        for i, node in enumerate(nodes):
            for out in node.output:
                if not out:
                    continue
                if out in producer or out in available:
                    raise ModelError(f"value {out!r} is written twice (node {_label(node, i)})")
                producer[out] = i
        waiting: dict[int, list[int]] = {}
        pending = [0] * len(nodes)
        for i, node in enumerate(nodes):
            for name in set(node.input):
                if name in available:
                    continue
                if name not in producer:
                    raise ModelError(
                        f"node {_label(node, i)} reads {name!r}, which is neither a graph "
                        "input, an initializer nor any node's output (a missing initializer?)"
                    )
                pending[i] += 1
                waiting.setdefault(producer[name], []).append(i)
        ready = [i for i, n in enumerate(pending) if n == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for j in waiting.get(i, ()):
                pending[j] -= 1
                if pending[j] == 0:
                    heapq.heappush(ready, j)
        if len(order) != len(nodes):
            stuck = [_label(nodes[i], i) for i, n in enumerate(pending) if n][:5]
            raise ModelError(f"the graph has a cycle through nodes {stuck}")
        for name in self.c.outputs:
            if name not in producer and name not in available:
                raise ModelError(f"graph output {name!r} is never written")
        return [nodes[i] for i in order]

    # -- lowering ---------------------------------------------------------------------------

    def _lower(self, node: onnx.NodeProto) -> None:
        c = self.c
        attrs = plain_attributes(node, c.folder)
        c.onnx_name = node.name
        if fold_constant(c, node, attrs):
            return
        handler = HANDLERS.get(node.op_type) if node.domain in DEFAULT_DOMAINS else None
        if handler is not None:
            needed = MIN_INPUTS.get(node.op_type, 1)
            if len(node.input) < needed or not all(node.input[:needed]) or not node.output:
                raise ModelError(
                    f"node {_label(node)} has {len(node.input)} inputs and "
                    f"{len(node.output)} outputs; {node.op_type} needs {needed} inputs and one "
                    "output"
                )
            forms: list[Any] = [None]
            if node.op_type in QUANTIZABLE:
                quantized = c.quantized_form(node)
                if quantized is not None:
                    forms.insert(0, quantized)
            for form in forms:
                mark = c.mark()
                c.q_outputs, c.q_nodes = form if form is not None else (None, [])
                try:
                    handler(c, node, dict(attrs))
                    return
                except (NotMapped, GraphError):
                    c.rollback(mark)
                except (IndexError, KeyError, ValueError, TypeError, ArithmeticError) as exc:
                    # Inconsistent attributes or operands the checks above did not foresee.
                    raise ModelError(
                        f"node {_label(node)}: malformed operands or attributes "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
                finally:
                    c.q_outputs, c.q_nodes = None, []
        self._extension(node, attrs)

    def _extension(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        c = self.c
        inputs: list[str | None] = []
        for name in node.input:
            if not name:
                inputs.append(None)
                continue
            value = c.values.get(name)
            if value is None:
                raise ModelError(f"node {_label(node)} reads {name!r} before it is computed")
            try:
                inputs.append(c.held(value, identity(value.rank), base=name))
            except (NotMapped, GraphError) as exc:
                raise ModelError(f"node {_label(node)}: input {name!r}: {exc}") from None
        outputs = []
        for name in node.output:
            if not name:
                continue
            typed = c.declared.get(name)
            if typed is None:
                raise ModelError(
                    f"node {_label(node)}: {node.op_type} has no spec operator and the model "
                    f"does not declare the shape of its output {name!r} (run "
                    "onnx.shape_inference.infer_shapes on the model first)"
                )
            code, shape = typed
            dtype = element_type(f"value {name!r}", code)
            check_shape(f"value {name!r}", shape, dtype)
            ir = c.add_tensor(Tensor(c.fresh(name), dtype, shape))
            c.values[name] = Value(dtype, shape, ir)
            outputs.append(ir)
        domain = "" if node.domain in DEFAULT_DOMAINS else node.domain + "."
        op = f"onnx.{domain}{node.op_type}"
        # The version is the opset the node's meaning is defined in (default domain only).
        version = c.opset if not domain else 1
        c.raw_node(Node(c.node_name(node.op_type), op, inputs, outputs, attrs, version=version))

    def _outputs(self) -> None:
        """Graph outputs: as ONNX computes them (dequantized), rank 4 in NHWC, under their
        ONNX names."""
        c = self.c
        final = []
        renames: dict[str, str] = {}
        taken: set[str] = set(self.inputs)
        for name in c.outputs:
            value = c.values.get(name)
            if value is None:
                raise ModelError(f"graph output {name!r} is never computed")
            perm = NHWC if value.rank == 4 else identity(value.rank)
            try:
                ir = c.held(value, perm, base=name)
            except (NotMapped, GraphError) as exc:
                raise ModelError(f"graph output {name!r}: {exc}") from None
            tensor = c.tensors[ir]
            if ir in taken or ir in renames or tensor.is_constant:
                # A tensor can carry one output name: the others get a copy.
                ir = _copy(c, ir, name)
            if ir != name and name not in c.tensors:
                renames[ir] = name
                ir = name
            taken.add(ir)
            final.append(ir)
        _rename(c, renames)
        c.outputs = final


def _copy(c: Converter, ir: str, name: str) -> str:
    """A copy of IR tensor ``ir`` (a RESHAPE to its own shape; ONNX's Identity as an extension
    node where the spec's RESHAPE does not take the element type)."""
    tensor = c.tensors[ir]
    mark = c.mark()
    try:
        shape = c.const(np.array(tensor.shape, np.int32), name + "_shape")
        return c.node("RESHAPE", [ir, shape], tensor.dtype, tensor.quant)
    except GraphError:
        c.rollback(mark)
    out = c.add_tensor(Tensor(c.fresh(name), tensor.dtype, tensor.shape, tensor.quant))
    c.raw_node(Node(c.node_name("identity", False), "onnx.Identity", [ir], [out], version=c.opset))
    return out


def _note_layout(graph: Graph) -> None:
    """Say in the graph's import notes (where this tinyabi's Graph has them) which inputs and
    outputs were transposed from NCHW to NHWC."""
    notes = getattr(graph, "import_notes", None)
    transposed = [n for n in [*graph.inputs, *graph.outputs] if len(graph.tensor(n).shape) == 4]
    if isinstance(notes, list) and transposed:
        notes.append(
            f"rank-4 inputs and outputs {transposed} are NHWC: ONNX's NCHW transposed "
            "(feed x.transpose(0, 2, 3, 1))"
        )


def _rename(c: Converter, renames: dict[str, str]) -> None:
    """Give IR tensors new names (graph outputs take their ONNX names)."""
    if not renames:
        return
    for old, new in renames.items():
        tensor = c.tensors.pop(old)
        tensor.name = new
        c.tensors[new] = tensor
    for node in c.nodes:
        node.inputs = [None if n is None else renames.get(n, n) for n in node.inputs]
        node.outputs = [renames.get(n, n) for n in node.outputs]


def _pruned(graph: Graph) -> Graph:
    """Drop tensors no node, input or output refers to."""
    used = set(graph.inputs) | set(graph.outputs)
    for node in graph.nodes:
        used.update(n for n in node.inputs if n is not None)
        used.update(node.outputs)
    graph.tensors = {n: t for n, t in graph.tensors.items() if n in used}
    return graph


def _static_type(info: onnx.ValueInfoProto) -> tuple[int, tuple[int, ...]] | None:
    if not info.type.HasField("tensor_type"):
        return None
    tensor_type = info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims = []
    for dim in tensor_type.shape.dim:
        if not dim.HasField("dim_value") or dim.dim_value < 0:
            return None
        dims.append(int(dim.dim_value))
    if len(dims) > 8 or math.prod(dims) > 2**31:
        return None
    return int(tensor_type.elem_type), tuple(dims)


def _dtype_name(data: np.ndarray) -> str:
    return "bool" if data.dtype == np.bool_ else data.dtype.name


def _label(node: onnx.NodeProto, index: int | None = None) -> str:
    name = node.name or (f"#{index}" if index is not None else "")
    return f"{name!r} ({node.op_type})"
