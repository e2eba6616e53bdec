"""``tinyabi codegen`` measures the generated project's flash and RAM with the Arm toolchain,
prints them and writes them into ``footprint.json`` and the README; the numbers agree with
``arm-none-eabi-size``'s own output on the firmware and on the objects. Without the cross
compiler it says what it did not measure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_cmsis_codegen import ARM_PACKAGES, need_tool
from tinyabi_cmsis_nn.build import cortexm, footprint, host
from tinyabi_cmsis_nn.codegen.banding import OPTIMISE, Optimise
from tinyabi_cmsis_nn.codegen.emit import generate, write_project

import tinyabi
from tests.conftest import ROOT, shared_model


def _size_a(path: Path) -> dict[str, int]:
    """``arm-none-eabi-size -A`` of an ELF or object: section -> bytes (run here, not via the
    plugin)."""
    done = subprocess.run(
        ["arm-none-eabi-size", "-A", str(path)], capture_output=True, text=True, check=True
    )
    sizes = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _sum(sizes: dict[str, int], *prefixes: str) -> int:
    return sum(v for k, v in sizes.items() if k.startswith(prefixes))


@pytest.mark.parametrize("optimise", [None, "size"])
def test_codegen_prints_and_writes_the_measured_footprint(
    tmp_path: Path, optimise: str | None
) -> None:
    """``tinyabi codegen`` with the default ``optimise`` (performance) and with size: the
    footprint it prints and writes, checked with the toolchain, and the plan's figures."""
    need_tool("arm-none-eabi-gcc", ARM_PACKAGES)
    need_tool("qemu-system-arm", "qemu-system-arm")
    out = tmp_path / "kws"
    model = str(shared_model("kws_ref_model"))
    backend = "cmsis-nn:target=cortex-m4" + (f":optimise={optimise}" if optimise else "")
    command = ["codegen", model, "--backend", backend, "-o", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "tinyabi", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads((out / footprint.FILE).read_text())
    measured = footprint.load(out)
    assert measured is not None and measured.measured and measured.core == "cortex-m4"
    table = footprint.table(measured)
    assert table in done.stdout and table in (out / "README.md").read_text()
    assert f"wrote {out / footprint.FILE}" in done.stdout

    # The same project, built again (a deterministic build), checked with arm-none-eabi-size.
    elf = cortexm.build_firmware(out, "cortex-m4")
    objects = elf.parent / "project" / "build"
    whole = _size_a(elf)
    assert data["arena"] == whole[".arena"] >= data["activations"]
    assert data["sections"] == {k: v for k, v in whole.items() if k in data["sections"]}
    model_data = _size_a(objects / "model_data.o")
    assert data["weights"] == _sum(model_data, ".rodata") > 0
    assert _sum(model_data, ".text", ".data", ".bss") == 0
    per_object = [_size_a(o) for o in sorted(objects.glob("*.o"))]
    model_o = _size_a(objects / "model.o")
    # --gc-sections keeps all of model.c and drops unused library functions.
    assert _sum(model_o, ".text") <= data["code"] <= sum(_sum(s, ".text") for s in per_object)
    assert data["tables"] <= sum(_sum(s, ".rodata", ".data") for s in per_object)
    assert data["static"] <= sum(_sum(s, ".data", ".bss") for s in per_object)
    assert data["flash"] == data["weights"] + data["code"] + data["tables"]
    assert data["flash"] <= whole[".text"] + whole[".rodata"] + whole.get(".data", 0)
    assert data["ram"] == data["arena"] + data["stack"] + data["static"]
    assert 0 < data["stack"] < whole[".stack"]
    # The memory plan: kws's banded layers take the arena below the layer-by-layer bound
    # (computed from the graph: tests/test_cmsis_banding.py), at no extra MACs.
    graph = tinyabi.load(model)
    mode: Optimise = "size" if optimise == "size" else "performance"
    oracle = host.size_oracle(host.portable_library(), target="cortex-m4")
    layout = generate(graph, oracle, optimise=mode).layout
    assert (data["bound"], data["macs"], data["extra_macs"], data["optimise"]) == (
        layout.bound,
        layout.macs,
        layout.extra_macs,
        mode,
    )
    assert data["arena"] == layout.total
    assert data["arena"] < data["bound"] and data["extra_macs"] == 0 < data["macs"]
    readme = (out / "README.md").read_text()
    assert (
        f"| memory plan: layer-by-layer bound (activations and scratch) | {layout.bound:,} |"
        in (table)
    )
    assert f"| {layout.bound} |" in readme and f"| achieved arena | {data['arena']} |" in readme
    assert f"| memory plan: optimised for (the `optimise` option) | {mode} |" in table
    assert f"| memory plan (optimised for {mode}) | |" in readme
    # Optimised for size, the depthwise layers whose buffer sets the peak go without it.
    assert data["buffer_free"] == list(layout.buffer_free)
    assert data["buffered_arena"] == layout.buffered_total >= layout.total
    row = "| memory plan: depthwise layers without a buffer |"
    if layout.buffer_free:
        names = ", ".join(map(str, layout.buffer_free))
        assert f"{row} layers {names} via `arm_depthwise_conv_s8`" in table
        assert f"| depthwise layers without a buffer | layers {names} (" in readme
    else:
        assert f"{row} none |" in table


def test_without_the_cross_compiler_the_footprint_says_not_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = tinyabi.load(str(shared_model("ad01_int8")))
    library = host.portable_library()
    generated = generate(graph, host.size_oracle(library), library)
    write_project(generated, tmp_path, library)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # nothing to find on PATH
    result = footprint.measure(tmp_path, generated, "cortex-m4")
    assert not result.measured and result.flash is None and result.ram is None
    assert result.arena == generated.layout.total
    footprint.write(result, tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "Not measured for cortex-m4" in readme and "arm-none-eabi-gcc" in readme
    assert readme.count("## Footprint") == 1
    footprint.write(result, tmp_path)  # written again: still one section
    assert (tmp_path / "README.md").read_text().count("## Footprint") == 1


def test_benchmark_footprint_rows_carry_the_memory_plan() -> None:
    """``bench_cmsis_nn.py``'s footprint rows for kws on Cortex-M4 in both ``optimise`` modes
    (built, run under QEMU and checked against TFLM by the benchmark's own code): the mode,
    the bound, achieved arena and extra MACs of the plan, a RAM of arena + stack + static
    data, and the RAM goal's cell naming each mode's ratio."""
    need_tool("arm-none-eabi-gcc", ARM_PACKAGES)
    need_tool("qemu-system-arm", "qemu-system-arm")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_cmsis_nn as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    data = shared_model("kws_ref_model").read_bytes()
    graph = tinyabi.load(data)
    pub = bench.ISSUE["kws_ref_model"]
    results = [bench.on_core(data, graph, bench.PORTABLE, "cortex-m4", m) for m in OPTIMISE]
    header = bench.FOOTPRINT_HEADER.splitlines()[0]
    rams = []
    for mode, result in zip(OPTIMISE, results):
        assert result.plan is not None and result.optimise == mode
        row = bench.footprint_row("kws_ref_model", "portable", result, pub)
        cells = dict(zip(header.strip("| ").split(" | "), row.strip("| ").split(" | ")))
        assert len(cells) == len(row.strip("| ").split(" | ")) == 15
        assert cells["optimise"] == mode
        assert cells["layer-by-layer bound"] == f"{result.plan.bound:,}"
        assert cells["achieved arena"] == f"{result.sizes['arena']:,}" == f"{result.plan.arena:,}"
        assert cells["extra MACs"] == "0 (0.0%)"
        ram = result.sizes["arena"] + result.stack_bytes + result.sizes["model_static_ram"]
        assert cells["RAM"] == f"{ram:,}" and result.plan.arena < result.plan.bound
        rams.append(ram)
    performance, size = results
    # Size never takes more bytes, performance never more instructions.
    assert size.plan is not None and performance.plan is not None
    assert size.plan.arena <= performance.plan.arena
    assert performance.instructions <= size.instructions
    cell = bench.ram_goal_cell("cortex-m4", results, pub)
    shares = ", ".join(f"{m} {r / pub.arena:.2f}x" for m, r in zip(OPTIMISE, rams))
    met = [r <= bench.RAM_GOAL * pub.arena for r in rams]
    verdict = "met" if all(met) else "met with size only" if met[1] else "**missed**"
    assert cell == f"Cortex-M4: {verdict} ({shares})"
