"""A model compiled by Vela for Ethos-U imports: its ``ethos-u`` custom operator becomes an
extension node that owns its scratch tensors, and planning names the node with a hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest

import tinyabi
from tests.conftest import assert_one_line_error, tinyabi_cli
from tinyabi.dispatch.memory import plan_memory
from tinyabi.errors import ModelError, UnsupportedOperatorError
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite
from tinyabi.tflite.schema import BUILTIN_CODES, FILE_IDENTIFIER, schema

SCRATCH = ["_split_1_scratch", "_split_1_scratch_fast"]
HINT = "compiled by Vela for Ethos-U: run the original, uncompiled model"


def _tensor(
    name: str, kind: int, shape: list[int], buffer: int, quant: tuple[float, int] | None
) -> Any:
    t = schema.TensorT()
    t.name, t.type, t.shape, t.buffer = name, kind, shape, buffer
    if quant is not None:
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
    return t


def _code(builtin: str, custom: str | None = None) -> Any:
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = BUILTIN_CODES[builtin]
    code.version = 1
    code.customCode = custom
    return code


def vela_model(relu_reads_scratch: bool = False) -> bytes:
    """The layout Vela writes: ``ethos-u`` reads its command stream and read-only weights
    (constant uint8 buffers), its scratch (no buffer) and fast scratch (an empty buffer, as
    older Vela versions wrote it), then the input feature map; a CPU operator follows."""
    rng = np.random.default_rng(0)
    model = schema.ModelT()
    model.version = 3
    empty, command, flash = schema.BufferT(), schema.BufferT(), schema.BufferT()
    command.data = rng.integers(0, 256, 64).astype(np.uint8)
    flash.data = rng.integers(0, 256, 128).astype(np.uint8)
    model.buffers = [schema.BufferT(), command, flash, empty]
    uint8, int8 = schema.TensorType.UINT8, schema.TensorType.INT8
    sub = schema.SubGraphT()
    sub.tensors = [
        _tensor("input", int8, [1, 8, 8, 3], 0, (0.05, -3)),
        _tensor("_split_1_command_stream", uint8, [64], 1, None),
        _tensor("_split_1_flash", uint8, [128], 2, None),
        _tensor(SCRATCH[0], uint8, [384], 0, None),
        _tensor(SCRATCH[1], uint8, [192], 3, None),
        _tensor("npu_out", int8, [1, 8, 8, 3], 0, (0.05, -3)),
        _tensor("output", int8, [1, 8, 8, 3], 0, (0.05, -3)),
    ]
    npu = schema.OperatorT()
    npu.opcodeIndex, npu.inputs, npu.outputs = 0, [1, 2, 3, 4, 0], [5]
    npu.customOptions = [1, 2, 3, 4]
    relu = schema.OperatorT()
    relu.opcodeIndex, relu.inputs, relu.outputs = 1, [3 if relu_reads_scratch else 5], [6]
    sub.operators = [npu, relu]
    sub.inputs, sub.outputs = [0], [6]
    model.subgraphs = [sub]
    model.operatorCodes = [_code("CUSTOM", "ethos-u"), _code("RELU")]
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def test_ethos_u_imports_as_an_extension_node_owning_its_scratch() -> None:
    graph = load_tflite(vela_model())
    npu = graph.nodes[0]
    assert npu.op == "tflite.custom.ethos-u" and npu.is_extension
    assert npu.inputs[2:4] == SCRATCH
    for name in SCRATCH:
        t = graph.tensor(name)
        assert t.scratch and not t.is_constant and not t.variable and name not in graph.inputs
        assert any(n.startswith(f"tensor {name!r}:") for n in graph.import_notes)
    assert [n for n in graph.import_notes if n.endswith("[scratch]")] == [
        n for n in graph.import_notes if n.split("'")[1] in SCRATCH
    ]
    # Scratch lives for the session outside the arena, like state.
    memory = plan_memory(graph)
    assert sorted(memory.persistent_tensors) == sorted(SCRATCH)
    assert not {t.tensor for t in memory.tensors} & set(SCRATCH)
    assert memory.persistent_bytes == 384 + 192

    again = load_tflite(export_tflite(graph))
    assert [again.tensor(n).scratch for n in SCRATCH] == [True, True]
    assert again.nodes[0].attrs["custom_options"] == bytes([1, 2, 3, 4])


@pytest.mark.parametrize("backends", [["reference"], ["tflm"]])
def test_planning_names_the_ethos_u_node_as_unassigned(backends: list[str]) -> None:
    with pytest.raises(UnsupportedOperatorError, match="custom_0") as info:
        tinyabi.Session(vela_model(), backends=backends)
    assert "tflite.custom.ethos-u" in str(info.value)
    if backends == ["tflm"]:  # tflm's reason says what the operator is
        assert "tflm declined (custom operator 'ethos-u'" in str(info.value)
        assert "compiled by Vela for Ethos-U" in str(info.value)


def test_plan_command_gives_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "model_vela.tflite"
    path.write_bytes(vela_model())
    for backends in ("reference", "tflm"):
        result = tinyabi_cli("plan", str(path), "--backends", backends)
        assert_one_line_error(result, "custom_0", "tflite.custom.ethos-u", HINT)
        # The plan is printed first, the node no backend takes marked.
        (row,) = [line for line in result.stdout.splitlines() if "custom_0" in line]
        assert "(none)" in row and "tflite.custom.ethos-u" in row
    result = tinyabi_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "[scratch]" in result.stdout


def test_a_builtin_reading_a_tensor_nothing_provides_is_still_an_error() -> None:
    with pytest.raises(ModelError, match="neither a graph input"):
        load_tflite(vela_model(relu_reads_scratch=True))
