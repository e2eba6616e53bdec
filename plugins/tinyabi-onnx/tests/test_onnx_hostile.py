"""Malformed and hostile ONNX files give a ModelError that names the problem, never a crash,
a hang, an unbounded allocation or a read outside the model's folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import small_cnn
from tinyabi_onnx import load_onnx

import tinyabi
from tinyabi.errors import ModelError


def _model(nodes, inputs, outputs, inits=(), opset: int = 13) -> onnx.ModelProto:
    """A model as given, not checked by onnx (the point is that it may be wrong)."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _vi(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _load_file(tmp_path: Path, data: bytes) -> tinyabi.Graph:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return tinyabi.load(str(path))


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\xff\xfe garbage that is not a protobuf \x00\x01", "does not parse"),
        (b"", "no graph"),
        (small_cnn().SerializeToString()[:700], "does not parse"),
    ],
    ids=["garbage", "empty", "truncated"],
)
def test_not_a_model(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(ModelError, match=words):
        _load_file(tmp_path, data)


def test_old_opset_is_refused() -> None:
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])], opset=12
    )
    with pytest.raises(ModelError, match="opset 12 is not supported"):
        load_onnx(model)


def test_too_many_nodes() -> None:
    model = _model([], [_vi("x", [1])], [_vi("x", [1])])
    for i in range(65_537):
        node = model.graph.node.add()
        node.op_type = "Identity"
        node.input.append("x")
        node.output.append(f"y{i}")
    with pytest.raises(ModelError, match="65537 nodes, over the limit of 65536"):
        load_onnx(model.SerializeToString())


def test_huge_input_dimensions() -> None:
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [1 << 20, 1 << 20])], [_vi("y", [1])]
    )
    with pytest.raises(ModelError, match="over the 268435456 byte limit"):
        load_onnx(model)


def test_huge_initializer_without_data() -> None:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 30, 1 << 30])
    model = _model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [2])], [_vi("y", [2])], [w]
    )
    with pytest.raises(ModelError, match=r"initializer 0 \('w'\).*byte limit"):
        load_onnx(model)


def test_initializer_data_shorter_than_its_shape() -> None:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], raw_data=b"\0" * 12)
    model = _model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [4])], [_vi("y", [4])], [w]
    )
    with pytest.raises(ModelError, match=r"raw_data has 12 bytes.*needs 16"):
        load_onnx(model)


def test_negative_dimension_and_unsupported_type() -> None:
    bad = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-3])
    strings = helper.make_tensor("w", TensorProto.STRING, [1], [b"a"])
    for init, words in ((bad, "negative dimension"), (strings, "STRING is not supported")):
        model = _model(
            [helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [1])], [_vi("y", [1])], [init]
        )
        with pytest.raises(ModelError, match=words):
            load_onnx(model)


def test_missing_initializer() -> None:
    model = _model(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        [_vi("x", [1, 1, 3, 3])],
        [_vi("y", [1, 1, 3, 3])],
    )
    with pytest.raises(ModelError, match=r"reads 'w'.*missing initializer"):
        load_onnx(model)


def test_cycle() -> None:
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(ModelError, match="cycle"):
        load_onnx(model)


def test_value_written_twice() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Tanh", ["x"], ["y"])]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(ModelError, match="'y' is written twice"):
        load_onnx(model)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_deeply_nested_subgraphs() -> None:
    """Graphs nested in If attributes deeper than the protobuf runtime parses (written by hand:
    onnx's own helpers refuse to build them)."""
    graph = b""
    for _ in range(300):
        attribute = _field(1, b"then_branch") + _varint(20 << 3) + _varint(5) + _field(6, graph)
        node = _field(4, b"If") + _field(5, attribute)
        graph = _field(1, node)
    model = _varint(1 << 3) + _varint(8) + _field(8, _varint(2 << 3) + _varint(13))
    model += _field(7, graph)
    with pytest.raises(ModelError, match="does not parse"):
        load_onnx(model)


def _external_model(location: str) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    return _model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [4])], [_vi("y", [4])], [w]
    )


def test_external_data_is_read_only_from_the_models_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(np.full(4, 2.0, np.float32).tobytes())
    (tmp_path / "secret.bin").write_bytes(np.full(4, 7.0, np.float32).tobytes())
    os.symlink(tmp_path / "secret.bin", folder / "link.bin")

    good = folder / "good.onnx"
    onnx.save(_external_model("weights.bin"), good)
    graph = load_onnx(str(good))
    (add,) = graph.nodes
    np.testing.assert_array_equal(graph.tensor(add.inputs[1]).data, [2, 2, 2, 2])

    for source in (good.read_bytes(), str(good)):
        # tinyabi.load hands plugins the file's bytes only: no folder to read from.
        with pytest.raises(ModelError, match="external data is refused when the model is given"):
            (load_onnx if isinstance(source, bytes) else tinyabi.load)(source)
    for location, words in (
        ("../secret.bin", "outside the model's folder"),
        ("link.bin", "outside the model's folder"),
        (str(tmp_path / "secret.bin"), "not a relative path"),
        ("missing.bin", "cannot read external data"),
    ):
        path = folder / "bad.onnx"
        onnx.save(_external_model(location), path)
        with pytest.raises(ModelError, match=words):
            load_onnx(str(path))


def test_external_data_range_beyond_the_file(tmp_path: Path) -> None:
    (tmp_path / "short.bin").write_bytes(b"\0" * 8)
    path = tmp_path / "m.onnx"
    onnx.save(_external_model("short.bin"), path)
    with pytest.raises(ModelError, match="beyond the end"):
        load_onnx(path)


def test_random_corruption_never_escapes_as_another_error() -> None:
    """Flipped bytes anywhere in a valid model: a graph or a ModelError, nothing else."""
    data = bytearray(small_cnn().SerializeToString())
    rng = np.random.default_rng(0)
    outcomes = {"graph": 0, "error": 0}
    for _ in range(300):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(data), int(rng.integers(1, 4))):
            corrupt[position] = int(rng.integers(0, 256))
        try:
            load_onnx(bytes(corrupt))
            outcomes["graph"] += 1
        except ModelError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and outcomes["graph"] > 0, outcomes
