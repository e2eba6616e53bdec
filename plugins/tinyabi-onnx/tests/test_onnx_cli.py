"""``tinyabi inspect`` and ``tinyabi run`` read .onnx files through the plugin, as a user runs
them (a subprocess)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx_models import run_onnxruntime, small_cnn

from tests.conftest import assert_one_line_error, tinyabi_cli


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
