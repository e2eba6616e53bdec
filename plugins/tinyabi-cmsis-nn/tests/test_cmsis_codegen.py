"""The CMSIS-NN code generator: names, parameters, constraints, the arena, the generated project
(plain `make`, arm-none-eabi-gcc for Cortex-M4/M55 with -Werror) and a sanitized host run."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tinyabi_cmsis_nn import constraints
from tinyabi_cmsis_nn.backend import CmsisNNBackend
from tinyabi_cmsis_nn.build import host
from tinyabi_cmsis_nn.codegen import params
from tinyabi_cmsis_nn.codegen.emit import c_float, generate
from tinyabi_cmsis_nn.codegen.names import c_comment_text, c_string_literal

import tinyabi
from tests.conftest import shared_model
from tinyabi.cli import main as cli_main
from tinyabi.dispatch.memory import plan_memory
from tinyabi.errors import BackendError, UnsupportedOperatorError
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Node, Quantization
from tinyabi.ir.shapes.conv import conv_output_size, same_padding
from tinyabi.ir.validate import check_node
from tinyabi.quantization.fixed_point import quantize_multiplier

ARM_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi"


def need_tool(name: str, packages: str) -> str:
    """The tool's path; a failure in CI, a skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian packages: {packages})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


HOSTILE_NAMES = [
    'quote"inside',
    "back\\slash\\",
    "comment */ end /* start",
    "new\nline\r\ttab",
    "trigraph ??= ??/ ??' ??(",
    "non-ascii: ünïcödé 🙂 \u2028",
    "percent %s %n and $dollar",
    "",
]


def small_conv_graph(names: tuple[str, ...] = ("x", "c", "s", "y"), seed: int = 0) -> Graph:
    """A 3x3 CONV_2D (needs scratch), a RELU-clamped ADD of its output with itself and a
    RESHAPE; the tensors are called ``names`` and both the ADD and the RESHAPE are outputs."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("small")
    x = b.input(names[0], "int8", (1, 6, 5, 3), quant=(0.05, -3))
    w_scales = rng.uniform(0.002, 0.02, size=4)
    w = b.const(
        "w",
        rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8),
        Quantization(w_scales, np.zeros(4, np.int64), axis=0),
    )
    bias = b.const(
        "bias",
        rng.integers(-500, 500, size=4).astype(np.int32),
        Quantization(0.05 * w_scales, np.zeros(4, np.int64), axis=0),
    )
    c = b.tensor(names[1], "int8", (1, 6, 5, 4), quant=(0.1, 5))
    b.node("CONV_2D", [x, w, bias], [c], padding="SAME", stride_h=1, stride_w=1)
    s = b.tensor(names[2], "int8", (1, 6, 5, 4), quant=(0.15, -10))
    b.node("ADD", [c, c], [s], fused_activation="RELU")
    y = b.tensor(names[3], "int8", (1, 120), quant=(0.15, -10))
    b.node("RESHAPE", [s], [y], new_shape=[1, 120])
    return b.build(outputs=[s, y])


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_string_literals_are_inert(name: str) -> None:
    literal = c_string_literal(name)
    body = literal[1:-1]
    assert literal.startswith('"') and literal.endswith('"')
    assert all(0x20 <= ord(c) < 0x7F for c in literal)
    assert "??" not in literal and "*/" not in body and "/*" not in body and "\n" not in literal
    # No unescaped quote ends the literal early.
    assert '"' not in body.replace('\\"', "")
    text = c_comment_text(name)
    assert "*/" not in text and "/*" not in text and "??" not in text and "\n" not in text


@pytest.mark.parametrize("first", [0, 4])
def test_hostile_tensor_names_survive_the_c_compiler(tmp_path: Path, first: int) -> None:
    """Hostile names go through gcc -std=c99 -trigraphs -Werror and come back byte for byte
    from the generated tensor table; the model still computes what the reference does."""
    names = tuple(HOSTILE_NAMES[first : first + 4])
    graph = small_conv_graph(names)
    partition = host.compile_host(graph)
    model = partition.model
    got_names = [t.name for t in model.inputs + model.outputs]
    assert got_names == [n.encode("utf-8") for n in graph.inputs + graph.outputs]
    x = np.random.default_rng(1).integers(-128, 128, size=(1, 6, 5, 3)).astype(np.int8)
    got = partition.run({graph.inputs[0]: x})
    want = tinyabi.Session(graph, backends=["reference"]).run([x])
    assert all(np.array_equal(got[k], want[k]) for k in want)
    project = tmp_path / "project"
    CmsisNNBackend().generate_code(graph, project, measure=False)
    _make(project, "cc", "-O2 -Werror -trigraphs")


def test_c_float_literals_read_back_exactly() -> None:
    for value in (1.0, 0.00390625, 0.584702909, 3.0e-5, 1e-10, 12345.678):
        text = c_float(value)
        assert text.endswith("f") and ("." in text or "e" in text)
        assert np.float32(float(text[:-1])) == np.float32(value)


# --- parameters ----------------------------------------------------------------------------------


def test_padding_is_tflites() -> None:
    # Hand-worked cases: (in, kernel, stride, dilation, out) -> top/left padding.
    assert params.padding(10, 3, 2, 1, 5) == 0  # total 1: the odd pixel goes after
    assert params.padding(9, 4, 1, 1, 9) == 1  # total 3
    assert params.padding(7, 3, 1, 2, 7) == 2  # dilated: extent 5, total 4
    assert params.padding(8, 3, 2, 1, 3) == 0  # VALID: total negative
    rng = np.random.default_rng(3)
    for _ in range(300):
        size, k, stride, dilation = (int(v) for v in rng.integers(1, 12, size=4))
        for kind in ("SAME", "VALID"):
            out = conv_output_size(size, k, stride, dilation, kind)
            if out < 1:
                continue
            expected = same_padding(size, k, stride, dilation, out)[0] if kind == "SAME" else 0
            assert params.padding(size, k, stride, dilation, out) == expected


def _conv_with_filter_scales(scales: np.ndarray) -> tuple[Node, Graph]:
    b = GraphBuilder("conv")
    x = b.input("x", "int8", (1, 3, 3, 2), quant=(0.05, 0))
    quant = Quantization(scales, np.zeros(scales.size, np.int64), axis=0)
    w = b.const("w", np.ones((4, 1, 1, 2), np.int8), quant=quant)
    y = b.tensor("y", "int8", (1, 3, 3, 4), quant=(0.1, 0))
    node = b.node("CONV_2D", [x, w, None], [y], padding="VALID")
    return node, b.build(outputs=[y])


def test_requantization_is_tflite_double_rounding() -> None:
    scales = np.array([0.0031, 0.02, 1e-12, 0.5], dtype=np.float32)
    p = params.conv_params(*_conv_with_filter_scales(scales))
    s_in, s_out = float(np.float32(0.05)), float(np.float32(0.1))
    for scale, m, s in zip(scales, p.multipliers, p.shifts):
        assert (int(m), int(s)) == quantize_multiplier(s_in * float(scale) / s_out)
    assert (int(p.multipliers[2]), int(p.shifts[2])) == (0, 0)  # tiny ones become zero (TFLite)
    # One per-tensor scale covers every channel.
    p = params.conv_params(*_conv_with_filter_scales(np.array([0.01], np.float32)))
    assert p.multipliers.tolist() == [p.multipliers[0]] * 4


def test_softmax_parameters() -> None:
    b = GraphBuilder("sm")
    x = b.input("x", "int8", (2, 10), quant=(0.1, 3))
    y = b.tensor("y", "int8", (2, 10), quant=(1 / 256, -128))
    node = b.node("SOFTMAX", [x], [y], beta=1.0)
    p = params.softmax_params(node, b.build(outputs=[y]))
    assert (p.num_rows, p.row_size) == (2, 10)
    assert (p.multiplier, p.shift) == quantize_multiplier(float(np.float32(0.1)) * 2**26)
    assert p.diff_min == -((31 * 2**26) >> p.shift)


# --- constraints ---------------------------------------------------------------------------------


def _declines(graph: Graph, check_name: str, words: str = "") -> None:
    node = graph.nodes[-1]
    verdict = constraints.supports(node, graph)
    failure = constraints.first_failure(node, graph)
    assert not verdict and failure is not None, verdict
    assert failure[0].__name__ == check_name, (failure, verdict)
    assert words in verdict.reason + verdict.hint
    assert verdict.hint


def _binary(shape1: tuple[int, ...], shape2: tuple[int, ...], op: str = "ADD") -> Graph:
    b = GraphBuilder("bin")
    x1 = b.input("a", "int8", shape1, quant=(0.1, 0))
    x2 = b.input("b", "int8", shape2, quant=(0.2, 1))
    out = np.broadcast_shapes(shape1, shape2)
    y = b.tensor("y", "int8", out, quant=(0.3, -2))
    b.node(op, [x1, x2], [y])
    return b.build(outputs=[y])


def test_broadcasting_elementwise_is_declined_with_a_hint() -> None:
    _declines(_binary((1, 4, 4, 8), (1, 1, 1, 8)), "check_same_shape_inputs", "broadcast")
    _declines(_binary((2, 3), (1, 3), "MUL"), "check_same_shape_inputs", "broadcast")
    assert constraints.supports(_binary((2, 3), (2, 3)).nodes[0], _binary((2, 3), (2, 3)))


def test_float_hybrid_and_extension_nodes_are_declined() -> None:
    b = GraphBuilder("f")
    x = b.input("x", "float32", (1, 4))
    w = b.const("w", np.ones((3, 4), np.float32))
    y = b.tensor("y", "float32", (1, 3))
    b.node("FULLY_CONNECTED", [x, w, None], [y])
    _declines(b.build(outputs=[y]), "check_signature", "float32")

    b = GraphBuilder("h")
    x = b.input("x", "float32", (1, 4))
    w = b.const("w", np.ones((3, 4), np.int8), quant=(0.1, 0))
    y = b.tensor("y", "float32", (1, 3))
    b.node("FULLY_CONNECTED", [x, w, None], [y])
    _declines(b.build(outputs=[y]), "check_signature", "hybrid")

    b = GraphBuilder("e")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(0.1, 0))
    b.node("tflite.ABS", [x], [y])
    _declines(b.build(outputs=[y]), "check_not_extension")

    b = GraphBuilder("t")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(0.1, 0))
    b.node("RELU", [x], [y])
    _declines(b.build(outputs=[y]), "check_operator_listed")

    # LOGISTIC is listed for its 16x8 signature only.
    b = GraphBuilder("t")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(1 / 256, -128))
    b.node("LOGISTIC", [x], [y])
    _declines(b.build(outputs=[y]), "check_signature", "int8")


def test_invalid_and_unusual_nodes_are_declined() -> None:
    # The spec check: a shape that does not match the shape rule.
    b = GraphBuilder("bad")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    w = b.const("w", np.ones((3, 4), np.int8), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 5), quant=(0.1, 0))
    b.node("FULLY_CONNECTED", [x, w, None], [y])
    _declines(b.build(outputs=[y]), "check_spec_valid", "shape")

    # Per-channel FULLY_CONNECTED weights.
    b = GraphBuilder("pc")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    q = Quantization(np.array([0.1, 0.2, 0.3]), np.zeros(3, np.int64), axis=0)
    w = b.const("w", np.ones((3, 4), np.int8), quant=q)
    y = b.tensor("y", "int8", (1, 3), quant=(0.1, 0))
    b.node("FULLY_CONNECTED", [x, w, None], [y])
    _declines(b.build(outputs=[y]), "check_fc_per_tensor_filter", "per tensor")

    # SOFTMAX with another output quantization.
    b = GraphBuilder("sm")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(1 / 128, 0))
    b.node("SOFTMAX", [x], [y], beta=1.0)
    _declines(b.build(outputs=[y]), "check_softmax_output_quantization")

    # Pooling that requantizes.
    b = GraphBuilder("pool")
    x = b.input("x", "int8", (1, 4, 4, 2), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 2, 2, 2), quant=(0.2, 0))
    b.node("MAX_POOL_2D", [x], [y], padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2)
    graph = b.build(outputs=[y])
    assert not constraints.supports(graph.nodes[0], graph)  # the spec says so first
    assert constraints.check_pool_same_quantization(graph.nodes[0], graph)

    # Weights computed at run time.
    b = GraphBuilder("dyn")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    w = b.input("w", "int8", (3, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 3), quant=(0.1, 0))
    b.node("FULLY_CONNECTED", [x, w, None], [y])
    _declines(b.build(outputs=[y]), "check_constant_weights")

    # An ADD of a constant.
    b = GraphBuilder("const")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    c = b.const("c", np.ones((1, 4), np.int8), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(0.2, 0))
    b.node("ADD", [x, c], [y])
    _declines(b.build(outputs=[y]), "check_activations_in_arena")


def test_supports_never_raises_on_broken_graphs() -> None:
    b = GraphBuilder("broken")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(0.1, 0))
    node = b.node("ADD", [x, "missing"], [y])
    graph = Graph(dict(b._tensors), [node], ["x"], ["y"])
    verdict = CmsisNNBackend().supports(node, graph, check_node(node, graph))
    assert not verdict and "missing" in verdict.reason


def test_every_check_is_documented_and_the_support_table_is_current() -> None:
    every = {c for op in constraints.CHECKS for c in constraints.checks_for(op)}
    for check in every:
        assert check.__name__.startswith("check_") and check.__doc__, check
        assert check in constraints.HINTS, check.__name__
    assert constraints.SUPPORT_DOC.read_text(encoding="utf-8") == constraints.support_table(), (
        "docs/cmsis-nn-support.md is stale: run python -m tinyabi_cmsis_nn.constraints --write"
    )
    assert set(CmsisNNBackend().claims()) == set(constraints.CHECKS)


# --- the generated project ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kws") / "project"
    graph = tinyabi.load(str(shared_model("kws_ref_model")))
    written = CmsisNNBackend().generate_code(graph, directory, measure=False)
    assert {p.name for p in written} >= {"model.h", "model.c", "model_data.c", "Makefile"}
    return directory


def _make(directory: Path, cc: str, cflags: str) -> Path:
    build = directory.parent / f"make-{cc.replace('/', '_')}-{abs(hash(cflags))}"
    shutil.copytree(directory, build)
    result = subprocess.run(
        ["make", "-s", f"CC={cc}", f"CFLAGS={cflags}"], cwd=build, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr  # no warnings either
    library = build / "libmodel.a"
    assert library.is_file()
    return library


def test_generated_files_follow_the_rules(kws_project: Path) -> None:
    model_c = (kws_project / "model.c").read_text()
    data_c = (kws_project / "model_data.c").read_text()
    header = (kws_project / "model.h").read_text()
    assert "__attribute__((aligned(16)))" in data_c and "#if defined(__GNUC__)" in data_c
    assert data_c.count("MODEL_DATA_ALIGNED = {") == data_c.count("const ")
    for text in (model_c, data_c, header):
        assert "malloc" not in text and "free(" not in text
    library = "".join(p.read_text() for p in (kws_project / "cmsis_nn").rglob("*.[ch]"))
    assert "malloc" not in library
    # The 1x1 convolutions take the fast path; the rest the wrappers.
    assert "arm_convolve_1x1_s8_fast(" in model_c and "arm_convolve_wrapper_s8(" in model_c
    assert "arm_depthwise_conv_wrapper_s8(" in model_c and "arm_softmax_s8(" in model_c
    for name in ("MODEL_ARENA_SIZE", "MODEL_NUM_INPUTS", "MODEL_NUM_OUTPUTS", "model_run"):
        assert name in header


def test_arena_layout_follows_the_memory_plan() -> None:
    """Without layers to run in bands (ad01: fully connected only) the activations are at
    tinyabi's plan's offsets; kws's banded layers shrink them (``test_cmsis_banding.py``)."""
    ad01 = tinyabi.load(str(shared_model("ad01_int8")))
    library = host.portable_library()
    generated = generate(ad01, host.size_oracle(library), library)
    plan = plan_memory(ad01, alignment=16)
    assert generated.layout.activations == plan.arena_bytes
    assert generated.offsets == {p.tensor: p.offset for p in plan.tensors}
    graph = tinyabi.load(str(shared_model("kws_ref_model")))
    generated = generate(graph, host.size_oracle(library), library)
    layout = generated.layout
    assert layout.activations < plan_memory(graph, alignment=16).arena_bytes
    assert all(o + n <= layout.total for o, n in layout.scratch_buffers.values())
    assert layout.total % 16 == 0
    # The scratch is the largest buffer a layer asks for: the non-1x1 convolution of kws.
    conv = next(layer for layer in generated.layers if layer.entry == "arm_convolve_wrapper_s8")
    assert conv.scratch is not None
    dims, filt = conv.scratch.py_args[1], conv.scratch.py_args[2]
    assert isinstance(dims, params.Dims) and isinstance(filt, params.Dims)
    assert layout.scratch >= 2 * filt.h * filt.w * dims.c  # the portable library's rule
    assert f"#define MODEL_ARENA_SIZE {layout.total}" in generated.files["model.h"]


def test_model_init_checks_the_reserved_scratch(tmp_path: Path) -> None:
    """The generated init asks the library again: shrink the reserved scratch and it refuses."""
    graph = small_conv_graph()
    library = host.portable_library()
    generated = generate(graph, host.size_oracle(library), library)
    assert generated.layout.scratch > 0
    text = generated.files["model.c"]
    (layer,) = [i for i, (_, size) in generated.layout.scratch_buffers.items() if size]
    line = f"#define LAYER{layer}_SCRATCH_SIZE {generated.layout.scratch_buffers[layer][1]}"
    assert line in text
    generated.files["model.c"] = text.replace(line, f"#define LAYER{layer}_SCRATCH_SIZE 1")
    path = host.build_model(generated, library, what="shrunk model")
    model = host.HostModel(path, generated, "shrunk model")
    with pytest.raises(BackendError, match=r"model_init returned -2"):
        model.run([np.zeros((1, 6, 5, 3), np.int8)])


def test_plain_make_builds_the_library(kws_project: Path) -> None:
    need_tool("make", "make")
    _make(kws_project, "gcc", "-O2 -Werror")


@pytest.mark.parametrize(
    "cflags",
    [
        "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -Werror",
        "-mcpu=cortex-m55 -mthumb -mfloat-abi=hard -O2 -Werror -fno-if-conversion "
        "-fno-if-conversion2",
    ],
    ids=["cortex-m4", "cortex-m55"],
)
def test_make_cross_compiles_for_cortex_m(kws_project: Path, cflags: str) -> None:
    need_tool("make", "make")
    cc = need_tool("arm-none-eabi-gcc", ARM_PACKAGES)
    library = _make(kws_project, cc, cflags)
    symbols = subprocess.run(
        [cc.replace("gcc", "nm"), str(library)], capture_output=True, text=True, check=True
    ).stdout
    assert " T model_run" in symbols and " T model_init" in symbols


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

int main(int argc, char **argv)
{
    void *arena = malloc(MODEL_ARENA_SIZE);
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    int runs = atoi(argv[3]);
    if (argc != 4 || arena == NULL || in == NULL || out == NULL ||
        model_init(arena, MODEL_ARENA_SIZE) != 0) {
        return 3;
    }
    for (int r = 0; r < runs; r++) {
        for (int i = 0; i < MODEL_NUM_INPUTS; i++) {
            const model_tensor_t *t = model_input(i);
            if (fread(model_tensor_data(t), 1, t->size, in) != t->size) return 4;
        }
        if (model_run() != 0) return 5;
        for (int i = 0; i < MODEL_NUM_OUTPUTS; i++) {
            const model_tensor_t *t = model_output(i);
            fwrite(model_tensor_data(t), 1, t->size, out);
        }
    }
    fclose(in);
    fclose(out);
    free(arena);
    return 0;
}
"""


def test_sanitized_host_build_runs_kws_cleanly(kws_project: Path, tmp_path: Path) -> None:
    """The generated code and the portable library under AddressSanitizer and UBSan: two runs
    on random inputs, no reports, outputs equal to the reference (an arena of exactly
    MODEL_ARENA_SIZE bytes on the heap, so any overrun is caught)."""
    cc = need_tool("gcc", "gcc")
    (tmp_path / "driver.c").write_text(DRIVER)
    exe = tmp_path / "driver"
    sources = [
        kws_project / "model.c",
        kws_project / "model_data.c",
        *sorted((kws_project / "cmsis_nn" / "src").glob("*.c")),
        tmp_path / "driver.c",
    ]
    flags = ["-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror"]
    flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    include = [f"-I{kws_project}", f"-I{kws_project / 'cmsis_nn' / 'include'}"]
    subprocess.run([cc, *flags, *include, *map(str, sources), "-o", str(exe)], check=True)
    graph = tinyabi.load(str(shared_model("kws_ref_model")))
    rng = np.random.default_rng(11)
    feeds = [rng.integers(-128, 128, size=(1, 49, 10, 1)).astype(np.int8) for _ in range(2)]
    (tmp_path / "in.bin").write_bytes(b"".join(f.tobytes() for f in feeds))
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": ""}
    result = subprocess.run(
        [str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), "2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "runtime error" not in result.stderr and "Sanitizer" not in result.stderr
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.int8).reshape(2, -1)
    reference = tinyabi.Session(graph, backends=["reference"])
    for row, feed in zip(got, feeds):
        want = next(iter(reference.run([feed]).values()))
        assert np.array_equal(row, want.reshape(-1))


def test_codegen_cli_and_run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(shared_model("kws_ref_model"))
    assert cli_main(["run", model, "--backends", "cmsis-nn"]) == 0
    assert "Identity" in capsys.readouterr().out
    assert cli_main(["codegen", model, "--backend", "cmsis-nn", "-o", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k" / "cmsis_nn" / "include" / "arm_nnfunctions.h").is_file()


def test_generate_code_refuses_unsupported_graphs(tmp_path: Path) -> None:
    graph = _binary((1, 4, 4, 8), (1, 1, 1, 8))
    with pytest.raises(UnsupportedOperatorError, match="broadcast"):
        CmsisNNBackend().generate_code(graph, tmp_path)


def test_tensor_table_matches_ctypes_layout() -> None:
    fields = [f[0] for f in host.ModelTensor._fields_]
    assert ctypes.sizeof(host.ModelTensor) >= 4 * 9 + 2 * ctypes.sizeof(ctypes.c_size_t)
    assert list(fields) == [
        "name",
        "dtype",
        "ndim",
        "shape",
        "scale",
        "zero_point",
        "size",
        "arena_offset",
    ]
