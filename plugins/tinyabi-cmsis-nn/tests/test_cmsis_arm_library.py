"""Arm's CMSIS-NN as the library: the shared int8 models and random single-operator graphs on the
host, on Cortex-M4 and on Cortex-M55 (QEMU), byte-identical with TensorFlow Lite Micro, with
every node on cmsis-nn (``strict=True``, no fallback).

The library is ``$CMSIS_NN_PATH`` or ``../shared/third_party/CMSIS-NN`` beside the repository;
without it these tests fail in CI and skip elsewhere. Random single-operator graphs come
from the plugin's generators (:mod:`random_cases`): a test graph per operator family (6 of them)
and seed holds independent single-operator cases, and the session compiles each case as a
partition of its own. By default the host runs 2 seeds per family (12 test graphs, about 225
single-operator partitions) and each Cortex-M core 1 seed per family with 2 cases (12
single-operator firmware builds per core); besides, each core runs every case of every family
for 2 seeds (224 single-operator graphs) in one firmware per family (the backend's own
``compile`` of the whole family graph). ``TINYABI_ARM_HOST_SEEDS``, ``TINYABI_ARM_BATCH_SEEDS``,
``TINYABI_ARM_QEMU_SEEDS`` (seeds per family) and ``TINYABI_ARM_QEMU_CASES`` (cases per family
graph on QEMU) ask for more; ``TINYABI_RAM_GOALS_ALL=1`` runs the RAM-goal test on every
model, library, core and ``optimise`` value (:data:`RAM_CASES`), not only the default twelve.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from random_cases import FAMILIES, Cases, assert_identical, family_graph, random_feeds
from tinyabi_cmsis_nn import constraints, cost
from tinyabi_cmsis_nn.build import cortexm, host
from tinyabi_cmsis_nn.build.host import HostPartition
from tinyabi_cmsis_nn.build.library import cmsis_nn_tree, portable_library
from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition
from tinyabi_cmsis_nn.codegen.banding import OPTIMISE
from tinyabi_cmsis_nn.codegen.emit import GeneratedModel, generate
from tinyabi_cmsis_nn.codegen.templates import CORE_FLAGS

import tinyabi
from tests.conftest import INT8_MODELS, ROOT, shared_model, unavailable
from tests.runtimes import run_tflm
from tinyabi.backends.registry import default_registry
from tinyabi.feeds import random_inputs
from tinyabi.ir.shapes.conv import conv_output_size
from tinyabi.ir.validate import check_node
from tinyabi.tflite.exporter import export_tflite

ARM_TREE = ROOT.parent / "shared" / "third_party" / "CMSIS-NN"
HOST_SEEDS = int(os.environ.get("TINYABI_ARM_HOST_SEEDS", "2"))
QEMU_SEEDS = int(os.environ.get("TINYABI_ARM_QEMU_SEEDS", "1"))
QEMU_CASES = int(os.environ.get("TINYABI_ARM_QEMU_CASES", "2"))
BATCH_SEEDS = int(os.environ.get("TINYABI_ARM_BATCH_SEEDS", "2"))
TARGETS = ["host", "cortex-m4", "cortex-m55"]


@pytest.fixture(scope="module")
def arm_tree() -> Path:
    """Arm's CMSIS-NN source tree (not the portable library laid out as one)."""
    tree = Path(os.environ.get("CMSIS_NN_PATH") or ARM_TREE)
    if not (tree / "Source" / "ConvolutionFunctions" / "arm_convolve_s8.c").is_file():
        unavailable(f"Arm's CMSIS-NN is not at {tree} (set CMSIS_NN_PATH)")
    return tree


def _require(target: str) -> None:
    if target != "host" and cortexm.missing_tools():
        unavailable(f"{', '.join(cortexm.missing_tools())} missing ({cortexm.DEBIAN_PACKAGES})")


def _session(graph: tinyabi.Graph, tree: Path, target: str) -> tinyabi.Session:
    options = {"cmsis_nn_path": str(tree), "target": target}
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", options)], fallback="error", strict=True
    )
    assert {p.backend for p in session.plan.partitions} == {"cmsis-nn"}
    return session


def _linked_members(partition: CortexMPartition) -> set[str]:
    """The library objects linked into a Cortex-M partition's firmware (from its map)."""
    text = (partition.elf.parent / "firmware.map").read_text(encoding="utf-8", errors="replace")
    return set(re.findall(r"libmodel\.a\((\w+)\.o\)", text))


def _assert_built_from(session: tinyabi.Session, tree: Path, target: str) -> set[str]:
    """The partitions were built from Arm's sources (a partition of RESHAPEs calls none);
    returns the names of those sources."""
    names: set[str] = set()
    for compiled in session.compiled:
        if target == "host":
            assert isinstance(compiled, HostPartition)
            sources = compiled.model.generated.sources
            assert all(tree.resolve() in s.parents for s in sources), sources
            names |= {s.stem for s in sources}
        else:
            assert isinstance(compiled, CortexMPartition)
            names |= _linked_members(compiled) - {"model", "model_data"}
    assert names and all(n.startswith("arm_") for n in names), names
    return names


# --- the shared models -------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", INT8_MODELS)
def test_shared_model_with_arms_library_matches_tflm(
    arm_tree: Path, name: str, target: str
) -> None:
    _require(target)
    path = shared_model(name)
    graph = tinyabi.load(str(path))
    session = _session(graph, arm_tree, target)
    used = _assert_built_from(session, arm_tree, target)
    for seed in range(2 if target == "host" else 1):
        feeds = random_inputs(graph, seed)
        got = session.run(feeds)
        expected = run_tflm(path.read_bytes(), [feeds[n] for n in graph.inputs])
        for (key, value), want in zip(got.items(), expected):
            assert value.tobytes() == want.tobytes(), f"{name} on {target}: {key} differs"
    # The kernel sums (MVE's alone) are computed at generation time: const data, no call.
    assert "arm_vector_sum_s8" not in used, used
    if name == "ad01_int8" and target != "host":  # fully connected only
        (compiled,) = session.compiled
        assert isinstance(compiled, CortexMPartition)
        text = (compiled.elf.parent / "firmware.map").read_text(errors="replace")
        in_flash = re.findall(r"\.rodata\.model_layer\d+_kernel_sums", text)
        assert bool(in_flash) == (target == "cortex-m55"), in_flash


# --- random single-operator graphs ---------------------------------------------------------------


def _random_params() -> list[tuple[str, str, int]]:
    params = [("host", f, seed) for seed in range(1, HOST_SEEDS + 1) for f in sorted(FAMILIES)]
    for core in TARGETS[1:]:
        params += [(core, f, seed) for seed in range(1, QEMU_SEEDS + 1) for f in sorted(FAMILIES)]
    return params


@pytest.mark.parametrize(("target", "family", "seed"), _random_params())
def test_random_single_operator_graphs_with_arms_library(
    arm_tree: Path, target: str, family: str, seed: int
) -> None:
    _require(target)
    graph = family_graph(family, seed + 1000, None if target == "host" else QEMU_CASES)
    session = _session(graph, arm_tree, target)
    _assert_built_from(session, arm_tree, target)
    assert_identical(graph, session, runs=2 if target == "host" else 1, seed=seed)


def _in_one_firmware(
    arm_tree: Path, core: str, graph: tinyabi.Graph, seed: int
) -> tuple[CortexMPartition, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``graph`` built whole by the backend's own ``compile`` against Arm's library for
    ``core`` (one firmware, whatever the graph's partitions would be) and run once on random
    inputs of ``seed``: the partition, its outputs and TFLM's."""
    backend = default_registry().create(
        "cmsis-nn", {"cmsis_nn_path": str(arm_tree), "target": core}
    )
    compiled = backend.compile(graph)
    assert isinstance(compiled, CortexMPartition)
    feeds = random_feeds(graph, np.random.default_rng(seed))
    got = compiled.run(dict(zip(graph.inputs, feeds)))
    return compiled, got, dict(zip(graph.outputs, run_tflm(export_tflite(graph), feeds)))


def _single_operator_batches() -> list[tuple[str, int]]:
    return [(core, seed) for core in TARGETS[1:] for seed in range(1, BATCH_SEEDS + 1)]


@pytest.mark.parametrize(("core", "seed"), _single_operator_batches())
def test_random_single_operator_graphs_in_one_firmware(
    arm_tree: Path, core: str, seed: int
) -> None:
    """Every case of every family (over a hundred single-operator graphs per seed) built
    against Arm's library into one firmware per family and run under QEMU: the backend's own
    ``compile`` of the whole family graph, so nothing can fall back; each case's bytes equal
    TFLM's. (A session gives each unconnected case a partition, i.e. a firmware, of its own.)"""
    _require(core)
    backend = default_registry().create(
        "cmsis-nn", {"cmsis_nn_path": str(arm_tree), "target": core}
    )
    single = 0
    for family in sorted(FAMILIES):
        graph = family_graph(family, seed + 2000)
        for node in graph.nodes:
            verdict = backend.supports(node, graph, check_node(node, graph))
            assert verdict.supported, f"{family}: {node.name}: {verdict.reason}"
        compiled, got, truth = _in_one_firmware(arm_tree, core, graph, seed)
        assert _linked_members(compiled) - {"model", "model_data"}, "no Arm source linked"
        for name, want in truth.items():
            assert got[name].tobytes() == want.tobytes(), f"{family}: {name} differs from TFLM"
        if family != "chain":
            single += len(graph.outputs)
    assert single >= 100, single


def _one_row_convolutions(seed: int, count: int) -> tuple[tinyabi.Graph, list[str]]:
    """``count`` int8 CONV_2D cases on one input row with a one-row filter wider than one and
    ``stride_w * channels`` a multiple of 4 (what Arm's wrapper sends to its 1xN kernel), and
    their output names."""
    cases = Cases(seed)
    rng = cases.rng
    while cases.count < 4 * count:
        width, kw, sw = int(rng.integers(3, 20)), int(rng.integers(2, 5)), int(rng.integers(1, 3))
        cin, cout = int(rng.choice([4, 8, 12])), int(rng.integers(1, 9))
        padding = str(rng.choice(["SAME", "VALID"]))
        ow = conv_output_size(width, kw, sw, 1, padding)
        if ow < 1:
            continue
        s_in, zp = cases.quant()
        x = cases.input((1, 1, width, cin), (s_in, zp))
        w, scales = cases.weights((cout, 1, kw, cin), 0, True)
        bias = cases.bias(cout, s_in, scales)
        y = cases.output((1, 1, ow, cout), cases.out_quant(s_in, scales, kw * cin))
        attrs = {"padding": padding, "stride_h": 1, "stride_w": sw, "fused_activation": "NONE"}
        cases.b.node("CONV_2D", [x, w, bias], [y], dilation_h=1, dilation_w=1, **attrs)
    return cases.build(), cases.outputs


def test_one_row_convolutions_on_arms_mve_kernel(
    arm_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One-row convolutions on Cortex-M55 with Arm's library (its 1xN kernel): every case
    ``check_conv_one_row_padding`` accepts equals TFLM; among those it declines (built here
    all the same, with the check taken out) some differ, so the check is needed."""
    _require("cortex-m55")
    graph, outputs = _one_row_convolutions(11, 40)
    kept = [
        c for c in constraints.CHECKS["CONV_2D"] if c is not constraints.check_conv_one_row_padding
    ]
    monkeypatch.setitem(constraints.CHECKS, "CONV_2D", tuple(kept))
    compiled, got, truth = _in_one_firmware(arm_tree, "cortex-m55", graph, 3)
    assert "arm_convolve_1_x_n_s8" in _linked_members(compiled)
    producer = {str(o): n for n in graph.nodes for o in n.outputs}
    declined_differ = accepted = 0
    for name in outputs:
        same = got[name].tobytes() == truth[name].tobytes()
        if constraints.check_conv_one_row_padding(producer[name], graph) is None:
            assert same, f"{name}: accepted but differs from TFLM"
            accepted += 1
        else:
            declined_differ += not same
    assert accepted >= 20 and declined_differ >= 1, (accepted, declined_differ)


# --- what is compiled, and how -------------------------------------------------------------------


def test_only_the_sources_a_model_calls_are_compiled(arm_tree: Path) -> None:
    library = host.find_library(arm_tree)
    floats = [s for s in library.sources if re.search(r"_f(16|32)\.c$", s.name)]
    assert floats, "this tree has no float sources: the test would prove nothing"
    graph = tinyabi.load(str(shared_model("kws_ref_model")))
    session = _session(graph, arm_tree, "host")
    (partition,) = session.compiled
    assert isinstance(partition, HostPartition)
    sources = partition.model.generated.sources
    names = {s.name for s in sources}
    assert {"arm_convolve_wrapper_s8.c", "arm_depthwise_conv_wrapper_s8.c"} <= names
    assert {"arm_softmax_s8.c", "arm_avgpool_s8.c", "arm_fully_connected_s8.c"} <= names
    assert not names & {s.name for s in floats}
    assert len(sources) < len(library.sources) // 4


@pytest.mark.parametrize(
    ("core", "defined", "undefined"),
    [("cortex-m4", "ARM_MATH_DSP", "ARM_MATH_MVEI"), ("cortex-m55", "ARM_MATH_MVEI", None)],
)
def test_core_flags_select_cmsis_nns_dsp_and_mve_code(
    arm_tree: Path, tmp_path: Path, core: str, defined: str, undefined: str | None
) -> None:
    """The flags the firmware build and the generated Makefile use make CMSIS-NN's own header
    pick the core's code: DSP on Cortex-M4, MVE on Cortex-M55."""
    _require(core)
    assert " ".join(cortexm.target(core).cflags).startswith(CORE_FLAGS[core])
    probe = tmp_path / "probe.c"
    lines = ['#include "arm_nn_math_types.h"', f"#if !defined({defined})", "#error missing"]
    lines += ["#endif"]
    if undefined:
        lines += [f"#if defined({undefined})", "#error unexpected", "#endif"]
    probe.write_text("\n".join([*lines, "int probe;", ""]))
    command = ["arm-none-eabi-gcc", *cortexm.target(core).cflags, f"-I{arm_tree / 'Include'}"]
    result = subprocess.run(
        [*command, "-c", str(probe), "-o", str(tmp_path / "probe.o")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_codegen_makefile_compiles_the_same_sources(arm_tree: Path, tmp_path: Path) -> None:
    """``tinyabi codegen --cmsis-nn PATH`` lists exactly the selected sources; ``make`` builds
    them on the host and for both cores."""
    from tinyabi.cli import main

    model = shared_model("kws_ref_model")
    out = tmp_path / "project"
    args = ["codegen", str(model), "--backend", "cmsis-nn", "--cmsis-nn", str(arm_tree)]
    assert main([*args, "-o", str(out)]) == 0
    makefile = (out / "Makefile").read_text()
    listed = re.search(
        r"LIB_SRCS := \$\(addprefix \$\(CMSIS_NN_PATH\)/, \\\n(.*?)\)\n", makefile, re.S
    )
    assert listed is not None, makefile
    files = [line.strip(" \\") for line in listed.group(1).splitlines()]
    library = host.find_library(arm_tree)
    selected = library.select(code=(out / "model.c").read_text())
    assert files == [library.relative(s) for s in selected]
    assert not (out / "cmsis_nn").exists()
    builds = [("cc", "-O2")]
    if not cortexm.missing_tools():
        builds += [
            ("arm-none-eabi-gcc", f"{CORE_FLAGS[c]} -O2") for c in ("cortex-m4", "cortex-m55")
        ]
    elif os.environ.get("CI"):
        pytest.fail(f"{cortexm.DEBIAN_PACKAGES} missing")
    for cc, cflags in builds:
        shutil.rmtree(out / "build", ignore_errors=True)
        result = subprocess.run(
            ["make", "-s", f"CC={cc}", f"CFLAGS={cflags}"], cwd=out, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        objects = {p.stem for p in (out / "build").glob("*.o")}
        assert objects == {"model", "model_data", *(s.stem for s in selected)}
        (out / "libmodel.a").unlink()


# --- per-layer profile ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("library", "core"), [("portable", "cortex-m4"), ("arm", "cortex-m4"), ("arm", "cortex-m55")]
)
def test_profile_counts_every_layer(arm_tree: Path, library: str, core: str) -> None:
    """``profile`` of a Cortex-M partition: the same outputs as TFLM, one LayerCost per node
    (in order, by name) whose instructions add up to what the unprofiled ``model_run``
    executes; the production firmware carries no profiling code."""
    _require(core)
    path = shared_model("kws_ref_model")
    graph = tinyabi.load(str(path))
    options = {"target": core, **({"cmsis_nn_path": str(arm_tree)} if library == "arm" else {})}
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", options)], fallback="error", strict=True
    )
    (partition,) = session.compiled
    assert isinstance(partition, CortexMPartition)
    feeds = random_inputs(graph, 3)
    plain = partition.run(feeds)
    assert partition.last_run is not None
    total = partition.last_run.instructions
    result = partition.profile(feeds)
    assert result is not None
    outputs, costs = result
    expected = run_tflm(path.read_bytes(), [feeds[n] for n in graph.inputs])
    for (key, value), want in zip(outputs.items(), expected):
        assert value.tobytes() == want.tobytes() == plain[key].tobytes(), key
    assert [c.node for c in costs] == [n.name for n in graph.nodes]
    counts = [c.instructions for c in costs]
    assert all(isinstance(n, int) and n >= 0 for n in counts), counts
    assert all(c.seconds is None and c.cycles is None for c in costs)
    # Each count is good to a few instructions (the counter's alignment error).
    assert abs(sum(counts) - total) <= 16 * len(counts), (sum(counts), total)
    convs = [n for n, node in zip(counts, graph.nodes) if node.op == "CONV_2D"]
    assert min(convs) > 100 * max(n for n, node in zip(counts, graph.nodes) if node.op == "RESHAPE")
    text = (partition.elf.parent / "firmware.map").read_text(errors="replace")
    assert "model_profile_layer" not in text
    # The cost model was fitted to such counts: its total is within 15% of them.
    estimate = sum(cost.layer_instructions(n, graph, core, library) for n in graph.nodes)
    assert abs(estimate - sum(counts)) <= 0.15 * sum(counts), (estimate, sum(counts))


# --- RAM below the layer-by-layer bound ----------------------------------------------------------

#: TFLM + CMSIS-NN's arena on Cortex-M4 as quoted in the issue, and the goals for the RAM
#: (arena + peak stack + static data) of the generated code as a share of it.
TFLM_ARENA = {"kws_ref_model": 22_820, "vww_96_int8": 100_708, "ad01_int8": 2_580}
RAM_GOALS = {"kws_ref_model": 0.60, "vww_96_int8": 0.45, "ad01_int8": 0.65}
#: The ``optimise`` values whose arena meets the goal: both, except with Arm's library on
#: Cortex-M55, whose MVE depthwise convolution asks 4,464 bytes of scratch: there
#: "performance" leaves kws at 0.73x and vww at 0.46x, and only "size" meets it (finer bands,
#: and the depthwise layers whose buffer sets the peak through the buffer-free
#: ``arm_depthwise_conv_s8``: kws 0.42x at 4.9 times the instructions, vww 0.38x at +35%).
MEETS_GOAL: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("kws_ref_model", "arm", "cortex-m55"): ("size",),
    ("vww_96_int8", "arm", "cortex-m55"): ("size",),
}


#: Every model x library x core x ``optimise`` value; by default only Arm's library on
#: Cortex-M55 (where the goals are hardest) and the portable library on Cortex-M4 (the
#: backend's default library; "size" runs depthwise layers without a buffer with either):
#: ``TINYABI_RAM_GOALS_ALL=1`` asks for all 24.
RAM_CASES = [
    (name, library, core, optimise)
    for name in INT8_MODELS
    for library in ("portable", "arm")
    for core in TARGETS[1:]
    for optimise in OPTIMISE
]
DEFAULT_RAM_CASES = [
    case for case in RAM_CASES if case[1:3] in (("arm", "cortex-m55"), ("portable", "cortex-m4"))
]


@pytest.mark.parametrize(
    ("name", "library", "core", "optimise"),
    [
        pytest.param(*case, id="-".join(case))
        for case in (
            RAM_CASES if os.environ.get("TINYABI_RAM_GOALS_ALL") == "1" else DEFAULT_RAM_CASES
        )
    ],
)
def test_ram_goals_with_banded_layers(
    arm_tree: Path, name: str, library: str, core: str, optimise: str
) -> None:
    """Generated for each core with either library and either ``optimise`` value, the shared
    models run byte-identical with TFLM (strict) in an arena below the layer-by-layer bound
    on kws and vww, and their RAM measured on the core meets the issue's goals in the modes
    :data:`MEETS_GOAL` names."""
    _require(core)
    path = shared_model(name)
    graph = tinyabi.load(str(path))
    options = {
        "target": core,
        "optimise": optimise,
        **({"cmsis_nn_path": str(arm_tree)} if library == "arm" else {}),
    }
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", options)], fallback="error", strict=True
    )
    (partition,) = session.compiled
    assert isinstance(partition, CortexMPartition)
    feeds = random_inputs(graph, 5)
    got = partition.run(feeds)
    expected = run_tflm(path.read_bytes(), [feeds[n] for n in graph.inputs])
    for (key, value), want in zip(got.items(), expected):
        assert value.tobytes() == want.tobytes(), key
    lib = cmsis_nn_tree(arm_tree) if library == "arm" else portable_library()
    generated = generate(graph, host.size_oracle(lib, target=core), lib, optimise)
    layout = generated.layout
    assert layout.optimise == optimise
    sizes = cortexm.size_report(partition.elf)
    assert sizes["arena"] == layout.total
    if name != "ad01_int8":  # fully connected layers only: nothing to band
        assert layout.total < layout.bound
    assert partition.last_run is not None
    ram = sizes["arena"] + partition.last_run.stack_bytes + sizes["model_static_ram"]
    goal = RAM_GOALS[name]
    if optimise in MEETS_GOAL.get((name, library, core), OPTIMISE):
        assert ram <= goal * TFLM_ARENA[name], (ram, ram / TFLM_ARENA[name])
    _check_buffer_free(generated, partition, library, optimise)
    if (name, library, core, optimise) == ("kws_ref_model", "arm", "cortex-m55", "size"):
        # The MVE depthwise wrapper's buffer sets the peak: these layers go without it.
        assert layout.buffer_free and layout.total < layout.buffered_total


def _check_buffer_free(
    generated: GeneratedModel, partition: CortexMPartition, library: str, optimise: str
) -> None:
    """The depthwise layers the plan runs without a buffer (only when optimised for size)
    call ``arm_depthwise_conv_s8`` with none, the README says which, and a firmware built on
    Arm's library whose depthwise layers all go without links no wrapper."""
    layout = generated.layout
    if optimise == "performance":
        assert not layout.buffer_free
    depthwise = [layer for layer in generated.layers if layer.op == "DEPTHWISE_CONV_2D"]
    for layer in depthwise:
        free = layer.index in layout.buffer_free
        assert layer.entry == ("arm_depthwise_conv_s8" if free else "arm_depthwise_conv_wrapper_s8")
        if free:
            assert layer.index not in layout.scratch_buffers
            assert "&model_no_buffer" in "\n".join(layer.body)
    if layout.buffer_free:
        names = ", ".join(map(str, layout.buffer_free))
        assert f"layers {names} (`arm_depthwise_conv_s8`)" in generated.files["README.md"]
    if library == "arm" and depthwise and all(d.index in layout.buffer_free for d in depthwise):
        members = _linked_members(partition)
        assert "arm_depthwise_conv_s8" in members
        assert "arm_depthwise_conv_wrapper_s8" not in members
