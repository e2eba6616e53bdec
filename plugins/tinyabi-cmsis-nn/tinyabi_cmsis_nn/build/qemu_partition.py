"""A compiled partition that runs generated code on an emulated Cortex-M (QEMU).

The backend hands over the partition graph and its code generator; the partition generates the
project once, builds the firmware for the core (:func:`~.cortexm.build_firmware`, cached) and
runs it under QEMU for every :meth:`CortexMPartition.run`. The instructions and stack of the
last run stay available as :attr:`CortexMPartition.last_run`. :meth:`CortexMPartition.profile`
runs a second build of the same project with ``-DMODEL_PROFILE`` (built on first use) that
counts each layer's instructions. Runs may come from several threads
at once: each is its own QEMU process in its own folder, and the firmware file is only read.

A model with state (an SVDF's memory, an LSTM's states) keeps it here, on the host, between
runs: each run hands the firmware the state the previous one ended with and takes back the
new one (runs of such a partition take turns), and :meth:`CortexMPartition.reset` drops it, so
the next run starts from the generated code's reset state, as TFLM's ``reset()`` does.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from tinyabi.backends import CompiledPartition, LayerCost
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, numpy_dtype

from .cortexm import QemuRun, build_firmware, run_firmware, target

#: Writes the project of a graph into a directory (the backend's ``generate_code``).
Generator = Callable[[Graph, Path], object]


class CortexMPartition(CompiledPartition):
    """Runs ``graph`` as firmware for ``core`` (``"cortex-m4"`` or ``"cortex-m55"``) under
    QEMU; ``generate`` writes the graph's C project. Raises
    :class:`~tinyabi.errors.BackendError` when the build or a run fails."""

    def __init__(
        self,
        graph: Graph,
        core: str,
        generate: Generator,
        *,
        timeout: float = 120,
        cmsis_nn_path: Path | str | None = None,
    ) -> None:
        target(core)  # an unknown core fails here, at compile time
        self.graph = graph
        self.core = core
        self.timeout = timeout
        self._generate = generate
        self._cmsis_nn_path = cmsis_nn_path
        self._profile_elf: Path | None = None
        self._profile_lock = threading.Lock()
        #: The state the last run ended with (``None``: the reset state), and its lock.
        self._state: bytes | None = None
        self._state_lock = threading.Lock()
        self._stateful = any(t.variable and t.data is None for t in graph.tensors.values())
        #: The last run to finish: outputs, instructions of ``model_run()``, peak stack, wall
        #: time.
        self.last_run: QemuRun | None = None
        with tempfile.TemporaryDirectory(prefix="tinyabi-cmsis-nn-") as tmp:
            generate(graph, Path(tmp))
            self.elf = build_firmware(tmp, core, cmsis_nn_path=cmsis_nn_path)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the firmware once on ``inputs`` (from the state the last run left); returns
        every graph output by name."""
        data = self._input_bytes(inputs)
        if not self._stateful:  # runs from several threads go on at once
            run = run_firmware(self.elf, self.core, data, self.timeout)
        else:
            with self._state_lock:
                run = run_firmware(self.elf, self.core, data, self.timeout, state=self._state)
                self._state = run.state
        self.last_run = run
        return self._outputs(run)

    def reset(self) -> None:
        """Set the model's state back (the next run starts from ``model_reset``'s state)."""
        with self._state_lock:
            self._state = None

    def profile(
        self, inputs: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[LayerCost]] | None:
        """Run once with every layer's instructions counted (SysTick under
        ``-icount shift=0``): the outputs, as :meth:`run` gives them, and one
        :class:`LayerCost` per node in execution order with its ``instructions`` (QEMU counts
        instructions, not cycles or time, so those stay ``None``)."""
        with self._profile_lock:
            if self._profile_elf is None:
                with tempfile.TemporaryDirectory(prefix="tinyabi-cmsis-nn-") as tmp:
                    self._generate(self.graph, Path(tmp))
                    self._profile_elf = build_firmware(
                        tmp, self.core, cmsis_nn_path=self._cmsis_nn_path, profile=True
                    )
            elf = self._profile_elf
        with self._state_lock:  # measured from the current state, which it leaves as it is
            state = self._state
        run = run_firmware(elf, self.core, self._input_bytes(inputs), self.timeout, state=state)
        if len(run.layers) != len(self.graph.nodes):
            raise BackendError(
                f"cmsis-nn: the profiling {self.core} firmware reported {len(run.layers)} "
                f"layers for {len(self.graph.nodes)} nodes"
            )
        costs = [
            LayerCost(node=node.name, instructions=count)
            for node, count in zip(self.graph.nodes, run.layers)
        ]
        return self._outputs(run), costs

    def _input_bytes(self, inputs: Mapping[str, np.ndarray]) -> bytes:
        return b"".join(
            np.ascontiguousarray(inputs[name], dtype=numpy_dtype(self.graph.tensor(name).dtype))
            .reshape(-1)
            .tobytes()
            for name in self.graph.inputs
        )

    def _outputs(self, run: QemuRun) -> dict[str, np.ndarray]:
        layout = []
        for name in self.graph.outputs:
            t = self.graph.tensor(name)
            shape = tuple(int(d) for d in t.shape)
            layout.append((name, np.dtype(numpy_dtype(t.dtype)), shape))
        expected = sum(dtype.itemsize * int(np.prod(shape)) for _, dtype, shape in layout)
        if len(run.output) != expected:
            raise BackendError(
                f"cmsis-nn: the {self.core} firmware wrote {len(run.output)} output bytes, "
                f"the graph's outputs take {expected}"
            )
        outputs: dict[str, np.ndarray] = {}
        offset = 0
        for name, dtype, shape in layout:
            count = int(np.prod(shape))
            flat = np.frombuffer(run.output, dtype, count, offset)
            outputs[name] = flat.reshape(shape).copy()
            offset += count * dtype.itemsize
        return outputs
