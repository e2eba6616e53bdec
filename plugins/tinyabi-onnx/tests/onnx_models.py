"""ONNX models the tests build with ``onnx.helper`` (nothing is downloaded).

(Not a conftest: the repository's own ``tests/conftest.py`` shares one pytest run with these.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def small_cnn(seed: int = 0) -> onnx.ModelProto:
    """A small float CNN in NCHW: Conv+BN+Relu, depthwise Conv+Relu (stride 2), MaxPool,
    a residual Add, AveragePool, GlobalAveragePool, Flatten, Gemm and Softmax."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    inits = [
        _init("w1", rng.normal(0, 0.4, (8, 3, 3, 3)).astype(f32)),
        _init("b1", rng.normal(0, 0.1, 8).astype(f32)),
        _init("bn_scale", rng.uniform(0.5, 1.5, 8).astype(f32)),
        _init("bn_bias", rng.normal(0, 0.1, 8).astype(f32)),
        _init("bn_mean", rng.normal(0, 0.1, 8).astype(f32)),
        _init("bn_var", rng.uniform(0.5, 1.5, 8).astype(f32)),
        _init("wd", rng.normal(0, 0.4, (8, 1, 3, 3)).astype(f32)),
        _init("bd", rng.normal(0, 0.1, 8).astype(f32)),
        _init("w2", rng.normal(0, 0.3, (8, 8, 1, 1)).astype(f32)),
        _init("b2", rng.normal(0, 0.1, 8).astype(f32)),
        _init("wfc", rng.normal(0, 0.3, (5, 8)).astype(f32)),
        _init("bfc", rng.normal(0, 0.1, 5).astype(f32)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node(
            "BatchNormalization",
            ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
            ["bn1"],
            epsilon=1e-3,
        ),
        helper.make_node("Relu", ["bn1"], ["r1"]),
        helper.make_node(
            "Conv", ["r1", "wd", "bd"], ["d1"], group=8, pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["d1"], ["r2"]),
        helper.make_node("Conv", ["r2", "w2", "b2"], ["c2"]),
        helper.make_node("Add", ["c2", "r2"], ["sum"]),
        helper.make_node("MaxPool", ["sum"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["mp"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["ap"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "wfc", "bfc"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"]),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    return make_model(graph)


def make_model(graph: onnx.GraphProto, opset: int = OPSET) -> onnx.ModelProto:
    """A model around ``graph`` with the default domain at ``opset``, checked by onnx."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def single_op(
    op: str,
    input_shapes: Sequence[Sequence[int]],
    output_shape: Sequence[int],
    initializers: Sequence[tuple[str, np.ndarray]] = (),
    *,
    opset: int = OPSET,
    **attrs: object,
) -> onnx.ModelProto:
    """A float model of one ``op`` node reading graph inputs ``x0, x1...`` and then the
    initializers, writing ``y``."""
    inputs = [
        helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, list(shape))
        for i, shape in enumerate(input_shapes)
    ]
    node = helper.make_node(
        op, [i.name for i in inputs] + [n for n, _ in initializers], ["y"], **attrs
    )
    graph = helper.make_graph(
        [node],
        op.lower(),
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))],
        [_init(n, a) for n, a in initializers],
    )
    return make_model(graph, opset)


def calibration_images(count: int, shape: Sequence[int], seed: int = 1) -> list[np.ndarray]:
    """Random images for calibration and test inputs (values in [-1, 1])."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, tuple(shape)).astype(np.float32) for _ in range(count)]


def quantize_qdq(model: onnx.ModelProto, folder: Path, images: list[np.ndarray]) -> onnx.ModelProto:
    """``model`` quantized by onnxruntime's ``quantize_static``: QDQ format, int8 activations
    and per-channel symmetric int8 weights, after onnxruntime's own pre-processing (which
    folds BatchNormalization into the convolution)."""
    return _quantize(model, folder, images, qdq=True)


def _quantize(
    model: onnx.ModelProto, folder: Path, images: list[np.ndarray], qdq: bool
) -> onnx.ModelProto:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": image} for image in images])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    source, prepared, quantized = (folder / n for n in ("f.onnx", "p.onnx", "q.onnx"))
    onnx.save(model, source)
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(quantized),
        Reader(),
        quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )
    return onnx.load(quantized)


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run ``model`` once on onnxruntime's CPU provider."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return [np.asarray(v) for v in session.run(None, feeds)]


def quantize_qoperator(
    model: onnx.ModelProto, folder: Path, images: list[np.ndarray]
) -> onnx.ModelProto:
    """``model`` quantized by ``quantize_static`` in the QOperator format (QLinearConv,
    QLinearAdd, QGemm, ...), int8 activations and per-channel symmetric int8 weights."""
    return _quantize(model, folder, images, qdq=False)


def op_zoo(seed: int = 0, hard_swish: bool = True) -> onnx.ModelProto:
    """A float model of many operators (opset 14): Conv, Sigmoid, Mul, LeakyRelu, Tanh,
    Concat, Pad, Slice, Sub, Clip, Reshape, Transpose, MatMul, HardSwish (optional: onnxruntime's
    pre-processing turns it into HardSigmoid, which has no spec operator), ReduceMean."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    inits = [
        _init("w", rng.normal(0, 0.3, (6, 4, 3, 3)).astype(f32)),
        _init("b", rng.normal(0, 0.1, 6).astype(f32)),
        _init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
        _init("starts", np.array([1, 1], np.int64)),
        _init("ends", np.array([9, 9], np.int64)),
        _init("axes", np.array([2, 3], np.int64)),
        _init("steps", np.array([2, 2], np.int64)),
        _init("offset", rng.normal(0, 0.2, (12, 1, 1)).astype(f32)),
        _init("shape", np.array([1, 12, 16], np.int64)),
        _init("wm", rng.normal(0, 0.3, (12, 5)).astype(f32)),
        _init("lo", np.array(0, f32)),
        _init("hi", np.array(6, f32)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c"], ["s"]),
        helper.make_node("Mul", ["c", "s"], ["m"]),
        helper.make_node("LeakyRelu", ["m"], ["l"], alpha=0.1),
        helper.make_node("Tanh", ["c"], ["t"]),
        helper.make_node("Concat", ["l", "t"], ["cat"], axis=1),
        helper.make_node("Pad", ["cat", "pads"], ["p"]),
        helper.make_node("Slice", ["p", "starts", "ends", "axes", "steps"], ["sl"]),
        helper.make_node("Sub", ["sl", "offset"], ["d"]),
        helper.make_node("Clip", ["d", "lo", "hi"], ["r6"]),
        helper.make_node("Reshape", ["r6", "shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["tr"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["tr", "wm"], ["mm"]),
        helper.make_node("HardSwish" if hard_swish else "Relu", ["mm"], ["hs"]),
        helper.make_node("ReduceMean", ["hs"], ["output"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "op_zoo",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    return make_model(graph, opset=14)
