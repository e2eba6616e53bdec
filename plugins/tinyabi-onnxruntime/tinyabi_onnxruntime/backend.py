"""The ``onnxruntime`` backend: partitions exported to ONNX and run on onnxruntime's CPU
execution provider.

It claims float spec nodes and ``onnx.*`` extension nodes (of ONNX's default domain). Spec
nodes with quantized integer tensors are declined unless the option ``int8=True`` accepts
onnxruntime's rounding: it requantizes with one float multiply and rounds half to even, where
the spec (like TensorFlow Lite Micro) requantizes in fixed point with two roundings, so its
int8 results differ from the spec's by a least significant bit here and there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import Field, PositiveInt

from tinyabi.backends import Backend, BackendOptions, CompiledPartition, NameList, Verdict
from tinyabi.errors import BackendError, TinyABIError
from tinyabi.ir import Graph, Node, NodeCheck, check_node
from tinyabi.spec import SPEC_VERSION, load_spec
from tinyabi_onnxruntime import __version__
from tinyabi_onnxruntime.export import export_partition, is_quantized
from tinyabi_onnxruntime.lower import LOWERINGS, lowering_problem
from tinyabi_onnxruntime.session import OnnxRuntimePartition, create_session


class OnnxRuntimeOptions(BackendOptions):
    """The ``onnxruntime`` backend's options."""

    int8: bool = Field(
        False,
        description="also claim spec nodes with quantized integer tensors, accepting "
        "onnxruntime's rounding (float requantization, round half to even: not bit-exact with "
        "the spec or TFLM)",
    )
    threads: PositiveInt | None = Field(
        None, description="onnxruntime's intra-op thread count (default: onnxruntime's choice)"
    )
    ops: NameList | None = Field(
        None,
        description="claim only nodes of these operators (e.g. CONV_2D, onnx.Erf); on the "
        "command line join them with +",
    )


class OnnxRuntimeBackend(Backend):
    """onnxruntime (CPU): float spec operators and ONNX's own operators."""

    name = "onnxruntime"
    version = __version__
    spec_version = SPEC_VERSION
    profile = "float32"
    Options: ClassVar[type[BackendOptions]] = OnnxRuntimeOptions
    options: OnnxRuntimeOptions

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        ops = self.options.ops
        if ops is not None and node.op not in ops:
            return Verdict.no(
                f"{node.op} is not among the operators this onnxruntime backend is limited to "
                f"(option ops={sorted(ops)})"
            )
        if not check.valid:
            return Verdict.no(f"the node breaks the spec: {check.problem}")
        if check.signature == "hybrid":
            return Verdict.no(
                "hybrid nodes (float activations, int8 weights) quantize their input on the "
                "fly as TFLite does; an ONNX model would compute another thing"
            )
        problem = lowering_problem(node, graph)
        if problem:
            return Verdict.no(problem)
        if (
            not node.is_extension
            and not self.options.int8
            and node.op != "DEQUANTIZE"
            and any(is_quantized(graph.tensor(n)) for n in [*node.inputs, *node.outputs] if n)
        ):
            return Verdict.no(
                "onnxruntime requantizes with a float multiply and rounds half to even, not "
                "with the spec's fixed-point double rounding, so its integer results are not "
                "bit-exact",
                "run integer nodes on tflm, cmsis-nn or the reference backend, or pass the "
                "onnxruntime option int8=True to accept onnxruntime's rounding",
            )
        return Verdict.yes()

    def claims(self) -> Mapping[str, Sequence[str]]:
        spec = load_spec().operators
        claims: dict[str, list[str]] = {}
        for op in LOWERINGS:
            if op not in spec or (self.options.ops is not None and op not in self.options.ops):
                continue
            names = [s.name for s in spec[op].signatures]
            if not self.options.int8:
                names = [n for n in names if n.startswith("float")]
            if op == "DEQUANTIZE":  # its output is float: exact on onnxruntime too
                names = [s.name for s in spec[op].signatures if s.name in ("int8", "uint8")]
            if names:
                claims[op] = names
        claims["onnx.*"] = ["ONNX's default domain"]
        return claims

    def compile(self, subgraph: Graph) -> CompiledPartition:
        for node in subgraph.nodes:
            verdict = self.supports(node, subgraph, check_node(node, subgraph))
            if not verdict:
                raise self.error(subgraph, f"cannot take {node.describe()}: {verdict.reason}")
        try:
            exported = export_partition(subgraph)
        except TinyABIError as exc:
            raise self.error(subgraph, f"cannot be exported to ONNX: {exc}") from None
        try:
            session = create_session(exported.model, self.options.threads)
        except BackendError as exc:
            raise self.error(subgraph, str(exc)) from None
        return OnnxRuntimePartition(session, subgraph, exported)

    def error(self, subgraph: Graph, message: str) -> BackendError:
        """A :class:`BackendError` naming this backend and the partition."""
        return BackendError(f"onnxruntime backend, partition {subgraph.name!r}: {message}")
