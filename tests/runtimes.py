"""The real runtimes the tests compare against: TensorFlow Lite Micro and LiteRT.

Every call loads the model afresh; these are for tests, not for speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyabi.tflite.importer import unpack_model


def tflm_arena_size(model: bytes) -> int:
    """An arena comfortably larger than any single-operator test model needs.

    TFLM can crash the process when the arena is too small, so this errs on the large side.
    """
    return 4 * len(model) + (1 << 20)


def run_tflm(
    model: bytes, inputs: Sequence[np.ndarray], arena_size: int | None = None
) -> list[np.ndarray]:
    """Run ``model`` once on TensorFlow Lite Micro (the int8 ground truth)."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(
        model, arena_size=arena_size or tflm_arena_size(model)
    )
    for i, value in enumerate(inputs):
        interpreter.set_input(value, i)
    interpreter.invoke()
    count = len(unpack_model(model).subgraphs[0].outputs)
    return [np.array(interpreter.get_output(i)) for i in range(count)]


def run_litert(model: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run ``model`` once on LiteRT (the float ground truth), with its default CPU kernels."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]
