"""``tinyabi inspect``, ``run``, ``plan``, ``codegen`` and ``convert`` read .onnx files through
the plugin, as a user runs them (a subprocess)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx_models import make_model, run_onnxruntime, single_op, small_cnn

from tests.conftest import assert_one_line_error, tinyabi_cli
from tests.runtimes import run_tflm


def test_inspect_lists_the_spec_operators(tmp_path: Path) -> None:
    path = tmp_path / "cnn.onnx"
    onnx.save(small_cnn(), path)
    result = tinyabi_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"):
        assert op in result.stdout
    assert "1, 16, 16, 3" in result.stdout  # the NHWC input


def test_run_gives_onnxruntimes_result(tmp_path: Path) -> None:
    model = small_cnn()
    path = tmp_path / "cnn.onnx"
    onnx.save(model, path)
    x = np.random.default_rng(4).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x.transpose(0, 2, 3, 1))
    out = tmp_path / "out.npz"
    result = tinyabi_cli(
        "run",
        str(path),
        "--backends",
        "reference",
        "--input",
        str(tmp_path / "x.npy"),
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "probs: float32[1, 5]" in result.stdout
    (want,) = run_onnxruntime(model, {"input": x})
    np.testing.assert_allclose(np.load(out)["probs"], want, atol=1e-5, rtol=1e-4)


def test_a_broken_onnx_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(small_cnn().SerializeToString()[:500])
    assert_one_line_error(tinyabi_cli("run", str(path)), "not an ONNX model")
    assert_one_line_error(tinyabi_cli("inspect", str(path)), "does not parse")


def test_convert_writes_a_tflite_file_tflm_runs(tmp_path: Path) -> None:
    model = small_cnn()
    path, out = tmp_path / "cnn.onnx", tmp_path / "cnn.tflite"
    onnx.save(model, path)
    result = tinyabi_cli("convert", str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    x = np.random.default_rng(6).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    (want,) = run_onnxruntime(model, {"input": x})
    (got,) = run_tflm(out.read_bytes(), [x.transpose(0, 2, 3, 1).copy()])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_convert_refuses_operators_without_a_tflite_form(tmp_path: Path) -> None:
    path = tmp_path / "erf.onnx"
    onnx.save(single_op("Erf", [[2, 3]], [2, 3]), path)
    result = tinyabi_cli("convert", str(path), "-o", str(tmp_path / "erf.tflite"))
    assert_one_line_error(result, "no TFLite form", "onnx.Erf")
    assert not (tmp_path / "erf.tflite").exists()


def test_plan_shows_who_runs_an_onnx_model(tmp_path: Path) -> None:
    path = tmp_path / "cnn.onnx"
    onnx.save(small_cnn(), path)
    result = tinyabi_cli("plan", str(path), "--backends", "litert,reference")
    assert result.returncode == 0, result.stderr
    assert "litert" in result.stdout and "CONV_2D" in result.stdout


def int8_conv_model() -> onnx.ModelProto:
    """An int8 QDQ model with int8 input and output: DequantizeLinear, Conv (int8 weights,
    int32 bias), QuantizeLinear; it folds into one int8 CONV_2D."""
    rng = np.random.default_rng(8)
    s_in, s_w, s_out = 0.02, 0.01, 0.05
    inits = [
        numpy_helper.from_array(np.array(s_in, np.float32), "s_in"),
        numpy_helper.from_array(np.array(0, np.int8), "z_in"),
        numpy_helper.from_array(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "w_q"),
        numpy_helper.from_array(np.array(s_w, np.float32), "s_w"),
        numpy_helper.from_array(np.array(0, np.int8), "z_w"),
        numpy_helper.from_array(rng.integers(-500, 500, 4).astype(np.int32), "b_q"),
        numpy_helper.from_array(np.array(s_in * s_w, np.float32), "s_b"),
        numpy_helper.from_array(np.array(0, np.int32), "z_b"),
        numpy_helper.from_array(np.array(s_out, np.float32), "s_out"),
        numpy_helper.from_array(np.array(-128, np.int8), "z_out"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s_in", "z_in"], ["xf"]),
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["w"]),
        helper.make_node("DequantizeLinear", ["b_q", "s_b", "z_b"], ["b"]),
        helper.make_node("Conv", ["xf", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "s_out", "z_out"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "int8_conv",
        [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 4, 8, 8])],
        inits,
    )
    return make_model(graph)


def test_codegen_writes_a_project_for_an_onnx_model(tmp_path: Path) -> None:
    path, out = tmp_path / "conv.onnx", tmp_path / "project"
    onnx.save(int8_conv_model(), path)
    result = tinyabi_cli("codegen", str(path), "--backend", "cmsis-nn", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "Makefile").is_file()
    build = subprocess.run(["make", "-C", str(out)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert (out / "libmodel.a").is_file()
