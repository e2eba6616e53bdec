"""A partition of the IR as an ONNX model.

Spec operators become ONNX nodes that compute what the spec says; rank-4 activations flow in
NCHW between the nodes that want it (convolutions, pooling) and in whatever order they are held
in through the operators indifferent to it (elementwise, softmax, concatenation, pad, mean), so
``Transpose`` nodes appear only where a value enters or leaves in NHWC at the partition's
boundary, or where an operator really needs the other order. ``onnx.*`` extension nodes become
their original ONNX operator with their attributes; their operands are in ONNX order already.

Quantized tensors (only when the backend accepts integer nodes) stay integer in the model: an
integer spec node reads its operands through ``DequantizeLinear``, computes in float and writes
its result through ``QuantizeLinear``, the QDQ form onnxruntime fuses into its integer kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tinyabi.errors import GraphError
from tinyabi.ir import Graph, Tensor
from tinyabi_onnxruntime.layout import Perm, identity, relative

__all__ = ["BASE_OPSET", "Exported", "Exporter", "export_partition", "is_quantized"]

#: The default-domain opset of exported models without extension nodes (with them: theirs).
BASE_OPSET = 17

_ELEMENT = {
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "float64": TensorProto.DOUBLE,
    "int8": TensorProto.INT8,
    "uint8": TensorProto.UINT8,
    "int16": TensorProto.INT16,
    "uint16": TensorProto.UINT16,
    "int32": TensorProto.INT32,
    "uint32": TensorProto.UINT32,
    "int64": TensorProto.INT64,
    "uint64": TensorProto.UINT64,
    "bool": TensorProto.BOOL,
}


def element_type(dtype: str) -> int:
    """The ONNX element type of an IR element type."""
    try:
        return _ELEMENT[dtype]
    except KeyError:
        raise GraphError(f"element type {dtype!r} has no ONNX counterpart") from None


def is_quantized(t: Tensor) -> bool:
    """Whether the tensor holds integers standing for reals (it has quantization and is not
    float)."""
    return t.quant is not None and not t.dtype.startswith("float")


@dataclass(frozen=True)
class Exported:
    """An exported partition: the model's bytes, its input and output names in the order of
    the partition graph's."""

    model: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


class Exporter:
    """Builds the ONNX graph of one partition; :mod:`tinyabi_onnxruntime.lower` adds nodes."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        # Extension nodes keep the opset of the model they came from (their meaning may depend
        # on it); the spec lowerings work in every opset from 13 on.
        versions = [n.version for n in graph.nodes if n.op.startswith("onnx.")]
        self.opsets: dict[str, int] = {"": max(versions) if versions else BASE_OPSET}
        #: The ONNX values holding each IR tensor, by perm.
        self._held: dict[str, dict[Perm, str]] = {}
        self._floats: dict[tuple[str, Perm], str] = {}
        self._names: set[str] = set()
        for name in graph.inputs:
            self._held[name] = {identity(len(graph.tensor(name).shape)): self.fresh(name)}

    # -- names and nodes ----------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        """A value name not used yet, derived from ``base``."""
        name, n = base, 0
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    def emit(
        self, op: str, inputs: Sequence[str], base: str, domain: str = "", **attrs: Any
    ) -> str:
        """Append an ONNX node with one output; returns the output's name."""
        out = self.fresh(base)
        self.nodes.append(helper.make_node(op, list(inputs), [out], domain=domain, **attrs))
        return out

    def constant(self, array: np.ndarray, base: str) -> str:
        """An initializer holding ``array``."""
        name = self.fresh(base)
        # (np.ascontiguousarray would make a scalar one-dimensional)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def ints(self, values: Sequence[int], base: str) -> str:
        """An int64 initializer (shapes, axes, pads)."""
        return self.constant(np.asarray(list(values), dtype=np.int64), base)

    # -- reading IR tensors --------------------------------------------------------------------

    def perm_of(self, name: str) -> Perm:
        """The perm an IR tensor is first held in (its natural order for constants)."""
        held = self._held.get(name)
        if held:
            return next(iter(held))
        return identity(len(self.graph.tensor(name).shape))

    def value(self, name: str, perm: Perm) -> str:
        """The ONNX value holding IR tensor ``name`` (as stored: integers stay integers) in
        ``perm``, transposing at most once."""
        t = self.graph.tensor(name)
        held = self._held.setdefault(name, {})
        if perm in held:
            return held[perm]
        if t.data is not None:
            held[perm] = self.constant(np.asarray(t.data).transpose(perm), name)
            return held[perm]
        if not held:
            raise GraphError(f"tensor {name!r} is read before it is computed")
        source_perm, source = next(iter(held.items()))
        held[perm] = self.emit(
            "Transpose", [source], f"{name}_t", perm=list(relative(source_perm, perm))
        )
        return held[perm]

    def real(self, name: str, perm: Perm) -> str:
        """The ONNX value of the real numbers IR tensor ``name`` stands for, in ``perm``: a
        quantized tensor through ``DequantizeLinear`` (per axis where it is quantized per
        axis), any other as it is."""
        t = self.graph.tensor(name)
        if not is_quantized(t):
            return self.value(name, perm)
        key = (name, perm)
        if key not in self._floats:
            scale, zero, axis = self._quant_operands(t, perm)
            extra: dict[str, Any] = {"axis": axis} if axis is not None else {}
            self._floats[key] = self.emit(
                "DequantizeLinear", [self.value(name, perm), scale, zero], f"{name}_real", **extra
            )
        return self._floats[key]

    def _quant_operands(self, t: Tensor, perm: Perm) -> tuple[str, str, int | None]:
        q = t.quant
        assert q is not None
        scale = np.asarray(q.scale, dtype=np.float32)
        zero = np.asarray(q.zero_point).astype(np.dtype(t.dtype))
        if q.per_axis:
            return (
                self.constant(scale, f"{t.name}_scale"),
                self.constant(zero, f"{t.name}_zero"),
                perm.index(q.axis % len(perm)),
            )
        return (
            self.constant(scale.reshape(()), f"{t.name}_scale"),
            self.constant(zero.reshape(()), f"{t.name}_zero"),
            None,
        )

    # -- writing IR tensors --------------------------------------------------------------------

    def write(self, name: str, real: str, perm: Perm) -> None:
        """Record ``real`` (float, or the integers of an unquantized tensor) as IR tensor
        ``name`` held in ``perm``; a quantized tensor is quantized with its parameters."""
        t = self.graph.tensor(name)
        if is_quantized(t):
            scale, zero, axis = self._quant_operands(t, perm)
            extra: dict[str, Any] = {"axis": axis} if axis is not None else {}
            real = self.emit("QuantizeLinear", [real, scale, zero], f"{name}_q", **extra)
        self._held.setdefault(name, {})[perm] = real

    def alias(self, name: str, source: str, perm: Perm) -> None:
        """Record that IR tensor ``name`` is the stored value ``source`` held in ``perm``."""
        self._held.setdefault(name, {})[perm] = source

    # -- the model -----------------------------------------------------------------------------

    def finish(self) -> Exported:
        """The model: graph outputs in their natural order under their IR names."""
        graph = self.graph
        outputs = []
        for name in graph.outputs:
            t = graph.tensor(name)
            source = self.value(name, identity(len(t.shape)))
            out = f"{name}__out" if name in graph.inputs else name
            if source != out:
                if out in self._names:
                    out = self.fresh(out)
                self.nodes.append(helper.make_node("Identity", [source], [out]))
            outputs.append(out)
        proto = helper.make_graph(
            self.nodes,
            graph.name or "partition",
            [
                _info(self._held[n][identity(len(graph.tensor(n).shape))], graph.tensor(n))
                for n in graph.inputs
            ],
            [_info(out, graph.tensor(n)) for out, n in zip(outputs, graph.outputs)],
            self.initializers,
        )
        model = helper.make_model(
            proto,
            opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(self.opsets.items())],
            producer_name="tinyabi-onnxruntime",
        )
        model.ir_version = min(model.ir_version, 10)
        inputs = tuple(self._held[n][identity(len(graph.tensor(n).shape))] for n in graph.inputs)
        return Exported(model.SerializeToString(), inputs, tuple(outputs))


def _info(name: str, t: Tensor) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, element_type(t.dtype), list(t.shape))


def export_partition(graph: Graph) -> Exported:
    """The ONNX model of ``graph``; :class:`GraphError` naming the node that cannot be
    exported."""
    from tinyabi_onnxruntime.lower import lower_node  # the lowerings use the exporter

    exporter = Exporter(graph)
    for node in graph.nodes:
        lower_node(exporter, node)
    return exporter.finish()
