"""The ``litert`` backend: partitions run on LiteRT (``ai-edge-litert``, else ``tflite-runtime``).

Options besides ``ops`` and ``nodes`` (:class:`LiteRTOptions`): ``kernels`` chooses LiteRT's
kernels, ``threads`` its thread count, and ``int8`` accepts LiteRT's integer rounding.

Compiling a partition exports it and runs it once in the worker process (cached by the model's
hash), then creates the in-process interpreter once. A run copies each input in, invokes and
copies each output out, calling the interpreter's native wrapper directly: the public methods
add a safety check (no numpy views into LiteRT's buffers may be alive) that costs as much as a
small model's inference, and this backend never creates such views. An interpreter used from
several threads at once gives wrong outputs without an error, so a partition holds a lock for
the whole of a run (the ``threads`` option is how LiteRT uses more cores on one inference).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from tinyabi.backends import CompiledPartition, MemoryNeeds, Verdict
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, Node
from tinyabi_tflm import cache, runtimes
from tinyabi_tflm.backend import RuntimeBackend, RuntimeOptions
from tinyabi_tflm.export import Exported
from tinyabi_tflm.jobs import probe_inputs, run_isolated


class LiteRTPartition(CompiledPartition):
    """A partition with its own LiteRT interpreter; runs from several threads take turns."""

    def __init__(self, interpreter: Any, graph: Graph, exported: Exported) -> None:
        held = sum(t.nbytes for t in graph.tensors.values() if not t.is_constant)
        #: LiteRT reports no arena size: this counts the partition's non-constant tensors,
        #: which it keeps in its own buffers (not its bookkeeping or XNNPACK's packed weights).
        self.memory = MemoryNeeds(persistent=held)
        self.exported = exported
        self.interpreter = interpreter
        self._where = f"litert backend, partition {graph.name!r}"
        native = getattr(interpreter, "_interpreter", None)
        inputs = [d["index"] for d in interpreter.get_input_details()]
        outputs = [d["index"] for d in interpreter.get_output_details()]
        self._inputs = list(zip(inputs, graph.inputs))
        self._outputs = list(zip(outputs, graph.outputs))
        if native is not None and all(
            hasattr(native, m) for m in ("SetTensor", "Invoke", "GetTensor")
        ):
            self._set = native.SetTensor
            self._invoke = native.Invoke
            self._get = native.GetTensor
        else:  # pragma: no cover - an interpreter without the native wrapper attribute
            self._set, self._invoke, self._get = (
                interpreter.set_tensor,
                interpreter.invoke,
                interpreter.get_tensor,
            )
        self._reset = interpreter.reset_all_variables if exported.reset_each_run else None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Reset the state (variable tensors) as LiteRT's ``reset_all_variables()`` does."""
        if self.exported.stateful:
            try:
                with self._lock:
                    self.interpreter.reset_all_variables()
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"{self._where}: LiteRT failed: {exc}") from None

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            with self._lock:
                if self._reset is not None:
                    self._reset()  # constant state: it starts from zero on every run
                set_tensor = self._set
                for index, name in self._inputs:
                    set_tensor(index, inputs[name])
                self._invoke()
                get = self._get
                return {name: get(index) for index, name in self._outputs}
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"{self._where}: LiteRT failed: {exc}") from None


class LiteRTOptions(RuntimeOptions):
    """The ``litert`` backend's options."""

    kernels: Literal["default", "builtin", "reference"] = Field(
        "default",
        description="LiteRT's kernels: default (builtin kernels with the XNNPACK delegate, the "
        "fast path, not bit-exact with TFLM for int8), builtin (without XNNPACK) or reference "
        "(TFLite's reference kernels)",
    )
    threads: PositiveInt | None = Field(
        None, description="LiteRT's thread count (default: LiteRT's own choice)"
    )
    int8: bool = Field(
        False,
        description="also claim spec nodes with quantized integer outputs, accepting LiteRT's "
        "rounding (not bit-exact with TFLM)",
    )


class LiteRTBackend(RuntimeBackend):
    """LiteRT, the TFLite interpreter: float32 and hybrid models and most TFLite operators.

    Its integer kernels (XNNPACK's, and in places even its builtin ones) round differently from
    TFLM, while the spec's integer signatures are exact; so spec nodes with quantized integer
    outputs are declined unless the option ``int8=True`` accepts LiteRT's rounding (operators
    outside the spec have no exactness rule and are claimed as the capability lists say).
    """

    name = "litert"
    profile = "float32"
    runtime = runtimes.LITERT
    Options = LiteRTOptions
    options: LiteRTOptions

    #: Operators LiteRT refuses (CONV_2D) or crashes on (DEPTHWISE_CONV_2D) without a bias.
    NEEDS_BIAS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})

    def refine(self, node: Node, graph: Graph) -> Verdict:
        if node.op in self.NEEDS_BIAS and (len(node.inputs) < 3 or node.inputs[2] is None):
            return Verdict.no(
                f"LiteRT needs a bias for {node.op} (it refuses or crashes without one)",
                "give the node a zero bias, or let tflm or the reference backend run it",
            )
        if (
            not node.is_extension
            and not self.options.int8
            and any(
                graph.tensor(name).quant is not None and graph.tensor(name).dtype != "float32"
                for name in node.outputs
            )
        ):
            return Verdict.no(
                "LiteRT's integer kernels are not bit-exact with TFLM, and the spec's integer "
                "signatures are exact",
                "run integer nodes on tflm, or pass the litert option int8=True to accept "
                "LiteRT's rounding",
            )
        return Verdict.yes()

    @property
    def kernels(self) -> str:
        """The ``kernels`` option: a key of :data:`tinyabi_tflm.runtimes.LITERT_KERNELS`."""
        return self.options.kernels

    @property
    def threads(self) -> int | None:
        """The ``threads`` option."""
        return self.options.threads

    def prepare(self, subgraph: Graph, exported: Exported) -> CompiledPartition:
        key = (
            f"{exported.digest} {runtimes.runtime_version(runtimes.LITERT)} "
            f"{self.kernels} {self.threads}"
        )
        if cache.load("litert-ran", key) is None:
            result = run_isolated(
                runtimes.LITERT,
                exported.model,
                probe_inputs(subgraph),
                len(subgraph.outputs),
                kernels=self.kernels,
                threads=self.threads,
            )
            if not result.ok:
                raise self.error(subgraph, f"LiteRT refused it: {result.describe()}")
            cache.store("litert-ran", key, {"ok": True})
        try:
            interpreter = runtimes.litert_interpreter(exported.model, self.kernels, self.threads)
        except (RuntimeError, ValueError) as exc:
            raise self.error(subgraph, f"LiteRT refused it: {exc}") from None
        return LiteRTPartition(interpreter, subgraph, exported)
