"""The ``tflm`` backend: partitions run on TensorFlow Lite Micro, tinyabi's int8 ground truth.

Compiling a partition exports it, finds the arena it needs in the worker process
(:mod:`tinyabi_tflm.arena`: a run with a generous arena, then a search from TFLM's allocation
record), and only then creates the in-process interpreter with exactly that arena, once. The
arena is the partition's ``MemoryNeeds.persistent``. Each run writes every input (TFLM may reuse
input memory for activations, as on a microcontroller), invokes, and reads the outputs: one copy
in and one copy out per tensor, which is what TFLM's Python API allows. Variable (state)
tensors keep their values across runs as in TFLM; :meth:`TFLMPartition.reset` zeroes them. An
interpreter used from several threads at once gives wrong outputs without an error, so a
partition holds a lock for the whole of a run and of a reset (one interpreter per thread would
multiply the arena for no gain: TFLM runs with the GIL held).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from tinyabi.backends import CompiledPartition, MemoryNeeds
from tinyabi.errors import BackendError
from tinyabi.ir import Graph
from tinyabi_tflm import runtimes
from tinyabi_tflm.arena import Arena, ArenaError, find_arena
from tinyabi_tflm.backend import RuntimeBackend
from tinyabi_tflm.export import Exported
from tinyabi_tflm.jobs import probe_inputs


class TFLMPartition(CompiledPartition):
    """A partition with its own TFLM interpreter and arena; runs from several threads take
    turns."""

    def __init__(self, interpreter: Any, graph: Graph, arena: Arena, exported: Exported) -> None:
        self.memory = MemoryNeeds(persistent=arena.size)
        self.arena = arena
        self.exported = exported
        self.interpreter = interpreter
        self._where = f"tflm backend, partition {graph.name!r}"
        self._inputs = list(enumerate(graph.inputs))
        self._outputs = list(enumerate(graph.outputs))
        self._set = interpreter.set_input
        self._invoke = interpreter.invoke
        self._get = interpreter.get_output
        self._reset = interpreter.reset if exported.reset_each_run else None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Reset the state (variable tensors) as TFLM's ``reset()`` does."""
        if self.exported.stateful:
            try:
                with self._lock:
                    self.interpreter.reset()
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"{self._where}: TensorFlow Lite Micro failed: {exc}") from None

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            with self._lock:
                if self._reset is not None:
                    self._reset()  # constant state: it starts from zero on every run
                set_input = self._set
                for index, name in self._inputs:
                    set_input(inputs[name], index)
                self._invoke()
                get = self._get
                return {name: get(index) for index, name in self._outputs}
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"{self._where}: TensorFlow Lite Micro failed: {exc}") from None


class TFLMBackend(RuntimeBackend):
    """TensorFlow Lite Micro (``tflite-micro``): bit-exact int8, float32, many ops outside the
    spec; no hybrid models."""

    name = "tflm"
    profile = "int8+float32"
    runtime = runtimes.TFLM

    def prepare(self, subgraph: Graph, exported: Exported) -> CompiledPartition:
        try:
            arena = find_arena(
                exported.model, exported.digest, probe_inputs(subgraph), len(subgraph.outputs)
            )
        except ArenaError as exc:
            raise self.error(subgraph, f"TensorFlow Lite Micro refused it: {exc}") from None
        try:
            interpreter = runtimes.tflm_interpreter(exported.model, arena.size)
        except (RuntimeError, ValueError) as exc:
            raise self.error(subgraph, f"TensorFlow Lite Micro refused it: {exc}") from None
        return TFLMPartition(interpreter, subgraph, arena, exported)
