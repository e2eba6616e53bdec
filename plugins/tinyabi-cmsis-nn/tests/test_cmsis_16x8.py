"""16x8 (int16 activations, int8 weights) on the cmsis-nn backend, byte-identical with TensorFlow
Lite Micro: random single-operator graphs of every claimed operator (conformance cases the
backend claims, merged per operator) and random 16x8 models, with tinyabi's portable library
and with Arm's CMSIS-NN, on the host and under QEMU (Cortex-M4 and Cortex-M55). Every session
is ``strict=True`` and its plan is checked: each node the backend claims runs on cmsis-nn.

By default the host runs every operator with both libraries, and each core builds one
firmware per library holding a few cases of every operator (4 QEMU builds in all).
``TINYABI_S16_CASES`` (cases per signature, default 6) and ``TINYABI_S16_QEMU_ALL=1`` (one
firmware per operator, core and library) ask for more.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cases16 import (
    OPS_16X8,
    assert_same_as_tflm,
    claimed_cases,
    merged_graph,
    random_int16_feeds,
)
from tinyabi_cmsis_nn import constraints
from tinyabi_cmsis_nn.backend import CmsisNNBackend, CmsisNNOptions
from tinyabi_cmsis_nn.build import cortexm

import tinyabi
from tests.conftest import ROOT, unavailable
from tests.modelgen import random_16x8_conv_model, random_16x8_model
from tests.runtimes import run_tflm
from tinyabi.feeds import random_inputs
from tinyabi.ir import Graph, GraphBuilder
from tinyabi.tflite.exporter import export_tflite

ARM_TREE = Path(os.environ.get("CMSIS_NN_PATH") or ROOT.parent / "shared/third_party/CMSIS-NN")
CASES = int(os.environ.get("TINYABI_S16_CASES", "6"))
QEMU_ALL = os.environ.get("TINYABI_S16_QEMU_ALL") == "1"
LIBRARIES = ["portable", "arm"]


def _options(library: str, target: str) -> dict[str, str]:
    if target != "host" and cortexm.missing_tools():
        unavailable(f"{', '.join(cortexm.missing_tools())} missing ({cortexm.DEBIAN_PACKAGES})")
    if library == "portable":
        return {"target": target}
    if not (ARM_TREE / "Source" / "ConvolutionFunctions" / "arm_convolve_s16.c").is_file():
        unavailable(f"Arm's CMSIS-NN is not at {ARM_TREE} (set CMSIS_NN_PATH)")
    return {"target": target, "cmsis_nn_path": str(ARM_TREE)}


def _session(graph: Graph, options: dict[str, str], fallback: str = "error") -> tinyabi.Session:
    """A strict cmsis-nn session whose plan puts every node cmsis-nn claims on cmsis-nn (and,
    with a reference fallback, only declined nodes elsewhere)."""
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", options)], fallback=fallback, strict=True
    )
    by_name = {n.name: n for n in graph.nodes}
    for partition in session.plan.partitions:
        for name in partition.nodes:
            claimed = constraints.first_failure(by_name[name], graph) is None
            assert claimed == (partition.backend == "cmsis-nn"), (name, partition.backend)
    return session


def _op_graph(op: str, count: int, seed: int) -> tuple[Graph, dict[str, np.ndarray]]:
    cases = claimed_cases(op, count, seed)
    assert cases, f"cmsis-nn claims none of the {op} 16x8 cases"
    return merged_graph(cases, f"s16_{op.lower()}")


# --- single operators --------------------------------------------------------------------------


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("op", sorted(OPS_16X8))
def test_single_operator_16x8_graphs_on_the_host(op: str, library: str) -> None:
    graph, feeds = _op_graph(op, CASES, seed=16)
    session = _session(graph, _options(library, "host"))
    assert_same_as_tflm(
        graph, session, [feeds, random_int16_feeds(graph, np.random.default_rng(7))]
    )


def _qemu_params() -> list[tuple[str, str, str]]:
    ops = sorted(OPS_16X8) if QEMU_ALL else ["all"]
    return [
        (core, library, op)
        for core in ("cortex-m4", "cortex-m55")
        for library in LIBRARIES
        for op in ops
    ]


@pytest.mark.parametrize(("target", "library", "op"), _qemu_params())
def test_single_operator_16x8_graphs_under_qemu(target: str, library: str, op: str) -> None:
    ops = sorted(OPS_16X8) if op == "all" else [op]
    count = CASES if op != "all" else 1
    cases = [case for name in ops for case in claimed_cases(name, count, seed=61)]
    graph, feeds = merged_graph(cases, f"s16_{op.lower()}_{target.replace('-', '_')}")
    session = _session(graph, _options(library, target))
    assert_same_as_tflm(graph, session, [feeds])


# --- random 16x8 models ------------------------------------------------------------------------

_MODELS = [("conv", seed) for seed in (1, 2, 5)] + [("mixed", seed) for seed in (0, 2, 4)]


def _model(kind: str, seed: int) -> Graph:
    return random_16x8_conv_model(seed) if kind == "conv" else random_16x8_model(seed)


def _assert_model_matches_tflm(graph: Graph, session: tinyabi.Session, seed: int) -> None:
    model = export_tflite(graph)
    for run in range(2):
        feeds = random_inputs(graph, seed + run)
        got = session.run(feeds)
        truth = run_tflm(model, [feeds[n] for n in graph.inputs])
        for (name, value), want in zip(got.items(), truth):
            assert value.tobytes() == want.tobytes(), f"{name} differs from TFLM"


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(("kind", "seed"), _MODELS)
def test_random_16x8_models_on_the_host(kind: str, seed: int, library: str) -> None:
    graph = _model(kind, seed)
    session = _session(graph, _options(library, "host"), fallback="reference")
    assert "cmsis-nn" in {p.backend for p in session.plan.partitions}
    _assert_model_matches_tflm(graph, session, seed)


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
def test_a_random_16x8_conv_model_under_qemu(target: str) -> None:
    """One whole 16x8 model on each core with Arm's library: every node on cmsis-nn."""
    graph = random_16x8_conv_model(2)
    session = _session(graph, _options("arm", target))
    _assert_model_matches_tflm(graph, session, 2)


# --- what is declined, and why -----------------------------------------------------------------


def _softmax(row: int) -> Graph:
    b = GraphBuilder("softmax16")
    x = b.input("x", "int16", (1, row), quant=(0.001, 0))
    y = b.tensor("y", "int16", (1, row), quant=(2.0**-15, 0))
    b.node("SOFTMAX", [x], [y], beta=1.0)
    return b.build(outputs=[y])


def _failure(graph: Graph) -> str | None:
    failure = constraints.first_failure(graph.nodes[0], graph)
    return None if failure is None else failure[0].__name__


def test_int16_softmax_rows_outside_what_arm_computes_exactly_are_declined() -> None:
    assert _failure(_softmax(1)) == "check_softmax_s16_row_size"
    assert _failure(_softmax(9)) == "check_softmax_s16_row_size"
    assert _failure(_softmax(8)) is None


def test_a_one_value_int16_softmax_is_where_arm_differs_from_tflm() -> None:
    """The reason for the row check: Arm's arm_softmax_s16 wraps 32768 to -32768 on a row of
    one value, which TFLM saturates to 32767 (the portable library saturates too)."""
    _options("arm", "host")
    graph = _softmax(1)
    feeds = {"x": np.array([[123]], np.int16)}
    truth = run_tflm(export_tflite(graph), [feeds["x"]])[0]
    from tinyabi_cmsis_nn.build import host

    partition = host.compile_host(graph, str(ARM_TREE))
    assert partition.run(feeds)["y"].tobytes() != truth.tobytes()
    assert host.compile_host(graph).run(feeds)["y"].tobytes() == truth.tobytes()


def _activation(op: str, scale: float) -> Graph:
    b = GraphBuilder("act16")
    x = b.input("x", "int16", (1, 4, 4, 2), quant=(scale, 0))
    y = b.tensor("y", "int16", (1, 4, 4, 2), quant=(2.0**-15, 0))
    b.node(op, [x], [y])
    return b.build(outputs=[y])


def test_int16_logistic_and_tanh_need_a_power_of_two_input_scale() -> None:
    assert _failure(_activation("LOGISTIC", 2.0**-12)) is None
    assert _failure(_activation("TANH", 2.0**-11)) is None
    assert _failure(_activation("LOGISTIC", 0.0003)) == "check_activation_s16_input_scale"


def test_int16_zero_points_other_than_zero_are_declined() -> None:
    b = GraphBuilder("add16")
    x1 = b.input("x1", "int16", (1, 8), quant=(0.001, 3))
    x2 = b.input("x2", "int16", (1, 8), quant=(0.001, 0))
    y = b.tensor("y", "int16", (1, 8), quant=(0.002, 0))
    b.node("ADD", [x1, x2], [y])
    assert _failure(b.build(outputs=[y])) == "check_int16_zero_points"


def test_16x8_sums_beyond_int32_are_declined() -> None:
    b = GraphBuilder("fc16")
    depth = 1024
    x = b.input("x", "int16", (1, depth), quant=(0.001, 0))
    w = b.const("w", np.full((2, depth), 127, np.int8), quant=(0.01, 0))
    y = b.tensor("y", "int16", (1, 2), quant=(1.0, 0))
    b.node("FULLY_CONNECTED", [x, w, None], [y], keep_num_dims=False)
    assert _failure(b.build(outputs=[y])) == "check_s16_sums_fit_int32"


# --- the generated project ---------------------------------------------------------------------

_CFLAGS = {
    "host": ("gcc", "-O2 -Werror"),
    "cortex-m4": (
        "arm-none-eabi-gcc",
        "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -Werror",
    ),
    "cortex-m55": (
        "arm-none-eabi-gcc",
        "-mcpu=cortex-m55 -mthumb -mfloat-abi=hard -O2 -Werror -fno-if-conversion "
        "-fno-if-conversion2",
    ),
}


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("target", sorted(_CFLAGS))
def test_a_16x8_project_makes_without_warnings(tmp_path: Path, target: str, library: str) -> None:
    """A project calling every s16 function the backend uses builds with plain ``make`` and
    ``-Werror`` for the host and both cores, with either library."""
    cc, cflags = _CFLAGS[target]
    if shutil.which(cc) is None or shutil.which("make") is None:
        unavailable(f"{cc} or make is missing")
    options = _options(library, "host")
    cases = [case for op in sorted(OPS_16X8) for case in claimed_cases(op, 1, seed=5)]
    graph, _ = merged_graph(cases, "s16_project")
    backend = CmsisNNBackend(CmsisNNOptions.model_validate(options))
    backend.generate_code(graph, tmp_path, target=None if target == "host" else target)
    model_c = (tmp_path / "model.c").read_text()
    entries = {"arm_convolve_wrapper_s16", "arm_depthwise_conv_wrapper_s16"}
    entries |= {"arm_fully_connected_s16", "arm_softmax_s16", "arm_nn_activation_s16"}
    entries |= {"arm_avgpool_s16", "arm_max_pool_s16", "arm_elementwise_add_s16"}
    entries |= {"arm_elementwise_mul_s16"}
    assert all(f"{entry}(" in model_c for entry in entries), model_c
    result = subprocess.run(
        ["make", "-s", f"CC={cc}", f"CFLAGS={cflags}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr
    assert (tmp_path / "libmodel.a").is_file()
