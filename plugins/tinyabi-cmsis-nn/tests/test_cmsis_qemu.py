"""Cortex-M firmware under QEMU: the instruction counter, the build and the shared int8 models.

The instruction counter is checked on a stand-in model (``qemu_calibration/``) whose
``model_run()`` is an assembly loop of exactly N iterations of 5 instructions: the count must
be 5·N plus the same small constant for every N. Then every shared int8 model is generated,
built for Cortex-M4 (``mps2-an386``) and Cortex-M55 (``mps3-an547``), run under QEMU on random
inputs, and its output bytes must equal TensorFlow Lite Micro's.

Needs the Arm toolchain, newlib and QEMU (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi
qemu-system-arm): skipped without them, failed when ``CI`` is set.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from tinyabi_cmsis_nn.build import cortexm

import tinyabi
from tests.conftest import shared_model
from tests.runtimes import run_tflm
from tinyabi.errors import BackendError
from tinyabi.feeds import random_inputs
from tinyabi.ir.graph import Graph, numpy_dtype

HERE = Path(__file__).resolve().parent
CALIBRATION = HERE / "qemu_calibration"
INT8_MODELS = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
CORES = ["cortex-m4", "cortex-m55"]
#: Instructions per iteration of the calibration loop (LOOP_INSTRUCTIONS in its model.h).
LOOP_INSTRUCTIONS = 5


def _require_arm() -> None:
    missing = cortexm.missing_tools()
    if missing:
        message = (
            f"{', '.join(missing)} not found: install the Debian packages {cortexm.DEBIAN_PACKAGES}"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh firmware cache, so that this file really builds what it runs."""
    return tmp_path_factory.mktemp("firmware-cache")


@pytest.fixture(scope="module", params=CORES)
def calibration_elf(request: pytest.FixtureRequest, cache: Path) -> tuple[str, Path]:
    _require_arm()
    core: str = request.param
    return core, cortexm.build_firmware(CALIBRATION, core, cache_dir=cache)


def _count(core: str, elf: Path, iterations: int) -> int:
    data = struct.pack("<I", iterations)
    output, instructions = cortexm.run_on_qemu(elf, core, data, timeout=60)
    assert output == data
    return instructions


def test_instruction_count_matches_a_loop_of_known_length(
    calibration_elf: tuple[str, Path],
) -> None:
    core, elf = calibration_elf
    base = _count(core, elf, 0)
    # The call, three loads, cbz, movs and the return: 7 instructions, plus at most a few of
    # the counter's own alignment error.
    assert 4 <= base <= 12, base
    for iterations in (1, 10, 1000, 100_000, 4_000_000):
        measured = _count(core, elf, iterations)
        assert abs(measured - base - LOOP_INSTRUCTIONS * iterations) <= 4, (iterations, measured)


def test_instruction_count_survives_systick_wrapping(calibration_elf: tuple[str, Path]) -> None:
    # 750 M instructions: more than one period of the 24-bit SysTick counter on both boards
    # (2^24 ticks = 671 M instructions at 25 MHz, 524 M at 32 MHz). Each wrap adds the few
    # instructions of the interrupt handler that counts it.
    core, elf = calibration_elf
    base = _count(core, elf, 0)
    iterations = 150_000_000
    measured = _count(core, elf, iterations)
    assert 0 <= measured - base - LOOP_INSTRUCTIONS * iterations <= 16, measured


def test_instruction_count_is_repeatable(calibration_elf: tuple[str, Path]) -> None:
    core, elf = calibration_elf
    assert len({_count(core, elf, 12_345) for _ in range(3)}) == 1


def test_firmware_errors_become_backend_errors(calibration_elf: tuple[str, Path]) -> None:
    core, elf = calibration_elf
    with pytest.raises(BackendError, match="input file is shorter"):
        cortexm.run_on_qemu(elf, core, b"\x01\x02", timeout=60)
    with pytest.raises(BackendError, match="input file is longer"):
        cortexm.run_on_qemu(elf, core, b"\x01\x02\x03\x04\x05", timeout=60)


def test_a_run_that_never_ends_times_out(calibration_elf: tuple[str, Path]) -> None:
    core, elf = calibration_elf
    start = time.perf_counter()
    with pytest.raises(BackendError, match="timed out"):
        cortexm.run_on_qemu(elf, core, struct.pack("<I", 0xFFFFFFFF), timeout=1)
    assert time.perf_counter() - start < 10


def test_size_report_and_cache(calibration_elf: tuple[str, Path], cache: Path) -> None:
    core, elf = calibration_elf
    sizes = cortexm.size_report(elf)
    assert sizes["arena"] == 16
    assert sizes["stack"] == 32 * 1024
    assert sizes["flash"] == sizes["text"] + sizes["rodata"] + sizes["data"] + 8  # .ARM.exidx
    assert sizes["ram"] == (
        sizes["data"] + sizes["bss"] + sizes["arena"] + sizes["stack"] + sizes["heap"]
    )
    # model.c alone: its code and one pointer of static data.
    assert 0 < sizes["model_flash"] < 400
    assert sizes["model_static_ram"] == 4
    start = time.perf_counter()
    assert cortexm.build_firmware(CALIBRATION, core, cache_dir=cache) == elf
    assert time.perf_counter() - start < 2


def test_the_cache_key_follows_the_sources(tmp_path: Path, cache: Path) -> None:
    _require_arm()
    project = tmp_path / "project"
    shutil.copytree(CALIBRATION, project)
    first = cortexm.build_firmware(project, "cortex-m4", cache_dir=cache)
    source = project / "model.c"
    source.write_text(source.read_text().replace("return 0;\n}\n", "return 0 * 2;\n}\n"))
    second = cortexm.build_firmware(project, "cortex-m4", cache_dir=cache)
    assert first != second
    assert not list(project.glob("*.a")), "the build must not write into the project"


@pytest.mark.parametrize("core", CORES)
def test_a_crash_reports_the_fault(core: str, tmp_path: Path, cache: Path) -> None:
    _require_arm()
    project = tmp_path / "project"
    shutil.copytree(CALIBRATION, project)
    source = project / "model.c"
    text = source.read_text()
    body = text.index("    uint32_t count;\n", text.index("int model_run(void)"))
    source.write_text(text[:body] + '    __asm__ volatile("udf #0");\n    return 0;\n}\n')
    elf = cortexm.build_firmware(project, core, cache_dir=cache)
    with pytest.raises(BackendError, match=r"TINYABI_FAULT UsageFault pc=0x"):
        cortexm.run_on_qemu(elf, core, bytes(4), timeout=60)


def test_compiler_errors_become_backend_errors(tmp_path: Path, cache: Path) -> None:
    _require_arm()
    project = tmp_path / "project"
    shutil.copytree(CALIBRATION, project)
    (project / "model.c").write_text("int model_run(void) { return undeclared; }\n")
    with pytest.raises(BackendError, match="undeclared"):
        cortexm.build_firmware(project, "cortex-m4", cache_dir=cache)
    with pytest.raises(BackendError, match="unknown Cortex-M core"):
        cortexm.build_firmware(CALIBRATION, "cortex-m7", cache_dir=cache)


# --- the shared models ---------------------------------------------------------------------


def _split_outputs(graph: Graph, data: bytes) -> list[np.ndarray]:
    arrays = []
    offset = 0
    for name in graph.outputs:
        t = graph.tensor(name)
        dtype = np.dtype(numpy_dtype(t.dtype))
        count = int(np.prod(t.shape))
        arrays.append(
            np.frombuffer(data, dtype, count, offset).reshape(tuple(int(d) for d in t.shape))
        )
        offset += count * dtype.itemsize
    assert offset == len(data), "the firmware wrote more bytes than the model's outputs"
    return arrays


@pytest.fixture(scope="module")
def generated() -> dict[str, Path]:
    """Generated projects by model name (generated once for both cores)."""
    return {}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", INT8_MODELS)
def test_shared_model_on_qemu_matches_tflm(
    name: str,
    core: str,
    generated: dict[str, Path],
    cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _require_arm()
    from tinyabi_cmsis_nn.backend import CmsisNNBackend

    data = shared_model(name).read_bytes()
    graph = tinyabi.load(data)
    if name not in generated:
        project = tmp_path_factory.mktemp(name)
        CmsisNNBackend().generate_code(graph, project, measure=False)
        generated[name] = project
    elf = cortexm.build_firmware(generated[name], core, cache_dir=cache)
    counts = set()
    for seed in (0, 1):
        feeds = random_inputs(graph, seed)
        values = [feeds[n] for n in graph.inputs]
        output, instructions = cortexm.run_on_qemu(
            elf, core, b"".join(v.tobytes() for v in values), timeout=60
        )
        expected = run_tflm(data, values)
        for got, want in zip(_split_outputs(graph, output), expected):
            np.testing.assert_array_equal(got, want.reshape(got.shape))
        counts.add(instructions)
    # Convolution work does not depend on the values: the counts of two inputs stay close.
    assert max(counts) < 1.05 * min(counts)


def test_cortex_m_partition_runs_a_graph_under_qemu() -> None:
    _require_arm()
    from tinyabi_cmsis_nn.backend import CmsisNNBackend
    from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition

    data = shared_model("ad01_int8").read_bytes()
    graph = tinyabi.load(data)
    generate = partial(CmsisNNBackend().generate_code, measure=False)
    partition = CortexMPartition(graph, "cortex-m4", generate)
    feeds = random_inputs(graph, 2)
    outputs = partition.run(feeds)
    expected = run_tflm(data, [feeds[n] for n in graph.inputs])
    for name, want in zip(graph.outputs, expected):
        np.testing.assert_array_equal(outputs[name], want.reshape(outputs[name].shape))
    assert partition.last_run is not None and partition.last_run.instructions > 100_000
    with pytest.raises(BackendError, match="unknown Cortex-M core"):
        CortexMPartition(graph, "cortex-m0", CmsisNNBackend().generate_code)
