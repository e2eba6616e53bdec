"""ONNX models the onnxruntime backend's tests build with ``onnx.helper`` (nothing is
downloaded), onnxruntime's quantizer, and running a model on onnxruntime directly.

(Not a conftest: the repository's own ``tests/conftest.py`` shares one pytest run with these.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
#: The MobileNet-style model's input, NCHW.
MOBILENET_SHAPE = (1, 3, 32, 32)


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def mobilenet_style(seed: int = 0, classes: int = 10) -> onnx.ModelProto:
    """A float MobileNet-style classifier in NCHW: a strided 3x3 convolution, two
    depthwise-separable blocks (depthwise 3x3 then pointwise 1x1, each followed by ReLU6 as
    ``Clip(0, 6)``), global average pooling, a fully connected layer and softmax."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    inits = [_init("zero", np.array(0.0, f32)), _init("six", np.array(6.0, f32))]
    nodes = []

    def conv(name: str, x: str, shape: tuple[int, ...], **attrs: object) -> str:
        fan_in = shape[1] * shape[2] * shape[3]
        inits.append(_init(f"{name}_w", rng.normal(0, 1.5 / np.sqrt(fan_in), shape).astype(f32)))
        inits.append(_init(f"{name}_b", rng.normal(0, 0.1, shape[0]).astype(f32)))
        nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [name], **attrs))
        nodes.append(helper.make_node("Clip", [name, "zero", "six"], [f"{name}_relu6"]))
        return f"{name}_relu6"

    x = conv("stem", "input", (8, 3, 3, 3), pads=[1, 1, 1, 1], strides=[2, 2])
    channels = 8
    for i, (out, stride) in enumerate([(16, 1), (32, 2)]):
        x = conv(
            f"dw{i}", x, (channels, 1, 3, 3), group=channels, pads=[1, 1, 1, 1],
            strides=[stride, stride],
        )  # fmt: skip
        x = conv(f"pw{i}", x, (out, channels, 1, 1))
        channels = out
    inits.append(_init("fc_w", rng.normal(0, 0.4, (classes, channels)).astype(f32)))
    inits.append(_init("fc_b", rng.normal(0, 0.1, classes).astype(f32)))
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mobilenet_style",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(MOBILENET_SHAPE))],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, classes])],
        inits,
    )
    return make_model(graph)


def make_model(graph: onnx.GraphProto, opset: int = OPSET) -> onnx.ModelProto:
    """A model around ``graph`` with the default domain at ``opset``, checked by onnx."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def images(count: int, shape: Sequence[int] = MOBILENET_SHAPE, seed: int = 1) -> list[np.ndarray]:
    """Random NCHW images with values in [-1, 1] (calibration and test inputs)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, tuple(shape)).astype(np.float32) for _ in range(count)]


def quantize_qdq(
    model: onnx.ModelProto, folder: Path, calibration: list[np.ndarray]
) -> onnx.ModelProto:
    """``model`` quantized by onnxruntime's ``quantize_static`` in the QDQ format: int8
    activations, per-channel symmetric int8 weights, after onnxruntime's pre-processing."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{name: image} for image in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    source, prepared, quantized = (folder / n for n in ("f.onnx", "p.onnx", "q.onnx"))
    onnx.save(model, source)
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(quantized),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )
    return onnx.load(quantized)


def run_onnxruntime(model: onnx.ModelProto | bytes, feeds: dict[str, np.ndarray]) -> list:
    """Run ``model`` once on onnxruntime's CPU provider, directly."""
    import onnxruntime

    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return [np.asarray(v) for v in session.run(None, feeds)]


def nhwc(x: np.ndarray) -> np.ndarray:
    """An NCHW array as the NHWC array tinyabi's imported graphs take."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
