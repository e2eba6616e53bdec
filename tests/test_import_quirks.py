"""Files whose metadata is inconsistent but that TFLM runs: the importer normalizes them the way
TFLM reads them, notes what it did, and they run byte-identical with TFLM on the original file.
What TFLM itself would refuse or misread stays a ModelError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flatbuffers
import numpy as np
import pytest

import tinyabi
from tests.runtimes import run_tflm
from tinyabi.errors import ModelError
from tinyabi.feeds import random_inputs
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite
from tinyabi.tflite.schema import FILE_IDENTIFIER, schema

BACKENDS = ["reference", "tflm"]


def conv_model() -> bytes:
    """int8 CONV_2D (per-channel filter, int32 bias) then FULLY_CONNECTED, as tinyabi exports."""
    rng = np.random.default_rng(21)
    b = GraphBuilder("quirks")
    x = b.input("x", "int8", (1, 6, 6, 3), quant=(0.05, -3))
    w_scale = rng.uniform(0.005, 0.02, 4).astype(np.float32)
    w = b.const(
        "w",
        rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8),
        Quantization(w_scale, np.zeros(4, np.int64), axis=0),
    )
    bias = b.const(
        "bias",
        rng.integers(-900, 900, 4).astype(np.int32),
        Quantization(0.05 * w_scale.astype(np.float64), np.zeros(4, np.int64), axis=0),
    )
    conv = b.tensor("conv", "int8", (1, 6, 6, 4), quant=(0.08, 4))
    b.node("CONV_2D", [x, w, bias], [conv], padding="SAME", stride_h=1, stride_w=1)
    flat = b.tensor("flat", "int8", (1, 144), quant=(0.08, 4))
    shape = b.const("shape", np.array([1, 144], np.int32))
    b.node("RESHAPE", [conv, shape], [flat])
    fw = b.const("fc_w", rng.integers(-127, 128, (5, 144)).astype(np.int8), (0.004, 0))
    fb = b.const("fc_b", rng.integers(-3000, 3000, 5).astype(np.int32), (0.08 * 0.004, 0))
    y = b.tensor("y", "int8", (1, 5), quant=(0.15, -7))
    b.node("FULLY_CONNECTED", [flat, fw, fb], [y])
    return export_tflite(b.build([y]))


def float_model() -> bytes:
    """float32 FULLY_CONNECTED."""
    rng = np.random.default_rng(22)
    b = GraphBuilder("float_quirks")
    x = b.input("x", "float32", (1, 6))
    w = b.const("fc_w", rng.uniform(-1, 1, (3, 6)).astype(np.float32))
    bias = b.const("fc_b", rng.uniform(-1, 1, 3).astype(np.float32))
    y = b.tensor("y", "float32", (1, 3))
    b.node("FULLY_CONNECTED", [x, w, bias], [y])
    return export_tflite(b.build([y]))


def rewrite(model: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """``model`` with ``change`` applied to its tensors (object API ``TensorT`` by name)."""
    tree = schema.ModelT.InitFromPackedBuf(model, 0)
    tensors = {t.name.decode(): t for t in tree.subgraphs[0].tensors}
    change(tensors)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _bias_axis_3(t: dict[str, Any]) -> None:
    t["bias"].quantization.quantizedDimension = 3


def _one_zero_point(t: dict[str, Any]) -> None:
    t["w"].quantization.zeroPoint = [0]


def _unquantized_biases(t: dict[str, Any]) -> None:
    t["bias"].quantization = None
    t["fc_b"].quantization = None


def _bias_without_zero_points(t: dict[str, Any]) -> None:
    t["bias"].quantization.zeroPoint = None


def _empty_shape_signature(t: dict[str, Any]) -> None:
    t["x"].shapeSignature = []
    t["conv"].shapeSignature = [1, 6, 6, 5]


def _per_tensor_axis(t: dict[str, Any]) -> None:
    t["x"].quantization.quantizedDimension = 7


def _float_scales_without_zero_points(t: dict[str, Any]) -> None:
    t["x"].quantization = schema.QuantizationParametersT()
    t["x"].quantization.scale = [0.1]


Change = Callable[[dict[str, Any]], None]

#: Rule -> the model, the change that writes the quirk, and the tensors the rule's notes name.
QUIRKS: dict[str, tuple[Callable[[], bytes], Change, set[str]]] = {
    "rank-1-axis": (conv_model, _bias_axis_3, {"bias"}),
    "zero-point-broadcast": (conv_model, _one_zero_point, {"w"}),
    "bias-quantization": (conv_model, _unquantized_biases, {"bias", "fc_b"}),
    "bias-zero-points": (conv_model, _bias_without_zero_points, {"bias"}),
    "shape-signature": (conv_model, _empty_shape_signature, {"x", "conv"}),
    "per-tensor-axis": (conv_model, _per_tensor_axis, {"x"}),
    "unread-quantization": (float_model, _float_scales_without_zero_points, {"x"}),
}


def noted(graph: Graph, rule: str) -> set[str]:
    """The tensors the import notes of ``rule`` name."""
    return {n.split("'")[1] for n in graph.import_notes if n.endswith(f"[{rule}]")}


@pytest.fixture(scope="module")
def clean() -> bytes:
    return conv_model()


@pytest.mark.parametrize("rule", sorted(QUIRKS))
def test_quirk_is_normalized_noted_and_runs_like_tflm_on_the_original(rule: str) -> None:
    make, change, tensors = QUIRKS[rule]
    clean = make()
    original = rewrite(clean, change)
    assert original != clean
    graph = load_tflite(original)
    assert noted(graph, rule) == tensors, graph.import_notes
    assert load_tflite(clean).import_notes == []

    x = random_inputs(graph, seed=5)["x"]
    (expected,) = run_tflm(original, [x])
    for backend in BACKENDS:
        session = tinyabi.Session(graph, backends=[backend], fallback="error", strict=True)
        assert {n.backend for n in session.plan.nodes} == {backend}
        got = session.run({"x": x})["y"]
        assert got.dtype == expected.dtype, backend
        if backend == "reference" and got.dtype.kind == "f":  # the spec's float tolerance
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        else:
            assert np.array_equal(got, expected), backend

    # Exporting writes the normalized form: it imports without notes and runs the same.
    exported = export_tflite(graph)
    again = load_tflite(exported)
    assert again.import_notes == []
    (rerun,) = run_tflm(exported, [x])
    assert np.array_equal(rerun, expected)


def test_bias_scale_filled_in_is_input_scale_times_filter_scale(clean: bytes) -> None:
    graph = load_tflite(rewrite(clean, _unquantized_biases))
    x, w, bias = graph.tensor("x"), graph.tensor("w"), graph.tensor("bias")
    assert bias.quant is not None and w.quant is not None and x.quant is not None
    product = w.quant.scale.astype(np.float64) * float(x.quant.scale[0])
    assert np.array_equal(bias.quant.scale, product.astype(np.float32))
    assert bias.quant.per_axis and bias.quant.axis == 0


def test_inspect_lists_the_notes(clean: bytes, tmp_path: Any) -> None:
    from tests.conftest import tinyabi_cli

    path = tmp_path / "quirky.tflite"
    path.write_bytes(rewrite(clean, _bias_axis_3))
    result = tinyabi_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "import notes (1):" in result.stdout
    assert "tensor 'bias':" in result.stdout and "[rank-1-axis]" in result.stdout
    result = tinyabi_cli("inspect", "--json", str(path))
    assert "[rank-1-axis]" in result.stdout


def _activation_without_zero_points(t: dict[str, Any]) -> None:
    t["conv"].quantization.zeroPoint = None


def _bias_scales_not_per_element(t: dict[str, Any]) -> None:
    t["bias"].quantization.quantizedDimension = 3
    t["bias"].quantization.scale = [0.001, 0.002, 0.003]
    t["bias"].quantization.zeroPoint = [0, 0, 0]


def _two_zero_points_for_four_scales(t: dict[str, Any]) -> None:
    t["w"].quantization.zeroPoint = [0, 0]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_activation_without_zero_points, "no zero points"),
        (_bias_scales_not_per_element, "3 per-axis scales do not match axis 3 of shape [4]"),
        (_two_zero_points_for_four_scales, "4 scales but 2 zero points"),
    ],
)
def test_what_tflm_would_refuse_or_misread_stays_an_error(
    clean: bytes, change: Callable[[dict[str, Any]], None], words: str
) -> None:
    with pytest.raises(ModelError) as info:
        load_tflite(rewrite(clean, change))
    assert words in str(info.value)
