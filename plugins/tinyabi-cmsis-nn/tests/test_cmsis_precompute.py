"""Kernel sums computed at generation time are byte-identical with what ``arm_vector_sum_s8``
writes, in Arm's CMSIS-NN and in the portable library (each built for the host and called
through ctypes), including int32 wraparound; the generated code keeps them in flash."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import pytest
from tinyabi_cmsis_nn.build import host
from tinyabi_cmsis_nn.build.library import Library, find_library, portable_library
from tinyabi_cmsis_nn.codegen.emit import generate
from tinyabi_cmsis_nn.codegen.precompute import kernel_sums

import tinyabi
from tests.conftest import ROOT, shared_model, unavailable

ARM_TREE = Path(os.environ.get("CMSIS_NN_PATH") or ROOT.parent / "shared/third_party/CMSIS-NN")


def _arm_library() -> Library:
    if not (ARM_TREE / "Source").is_dir():
        unavailable(f"Arm's CMSIS-NN is not at {ARM_TREE} (set CMSIS_NN_PATH)")
    return find_library(ARM_TREE)


def _vector_sum(library: Library, tmp_path: Path) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    """``arm_vector_sum_s8`` of ``library``, compiled for the host."""
    objects = host.compile_sources(library, library.select(["arm_vector_sum_s8"]))
    shared = tmp_path / "vector_sum.so"
    host.run_compiler(
        [host.host_compiler(), "-shared", *map(str, objects), "-o", str(shared)], "linking"
    )
    function = ctypes.CDLL(str(shared)).arm_vector_sum_s8
    p = ctypes.c_void_p
    i32 = ctypes.c_int32
    function.restype = i32
    function.argtypes = [p, i32, i32, p, i32, i32, p]
    return function


def _cases(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray | None, int, int]]:
    cases: list[tuple[np.ndarray, np.ndarray | None, int, int]] = []
    for _ in range(20):
        rows, cols = int(rng.integers(1, 40)), int(rng.integers(1, 300))
        w = rng.integers(-128, 128, (rows, cols), dtype=np.int8)
        bias = rng.integers(-(2**31), 2**31, rows, dtype=np.int64).astype(np.int32)
        cases.append((w, bias if rng.random() < 0.8 else None, int(rng.integers(-128, 129)), 0))
    # Sums large enough to wrap around int32: all -128 weights, offset 128, bias near the edges.
    w = np.full((4, 70_000), -128, np.int8)
    edge = np.array([2**31 - 1, -(2**31), 5, -5], np.int32)
    cases += [(w, edge, 128, 0), (w, edge, -127, 0), (w[:, :3], edge, 0, 0), (w, None, 128, 3)]
    return cases


@pytest.mark.parametrize("which", ["portable", "arm"])
def test_kernel_sums_are_arm_vector_sum_s8(which: str, tmp_path: Path) -> None:
    library = portable_library() if which == "portable" else _arm_library()
    vector_sum = _vector_sum(library, tmp_path)
    for w, bias, lhs_offset, rhs_offset in _cases(np.random.default_rng(7)):
        if which == "portable" and rhs_offset:
            continue  # the portable copy implements the call the generated code makes only
        rows, cols = w.shape
        out = np.zeros(rows, np.int32)
        status = vector_sum(
            out.ctypes.data,
            cols,
            rows,
            np.ascontiguousarray(w).ctypes.data,
            lhs_offset,
            rhs_offset,
            None if bias is None else bias.ctypes.data,
        )
        assert status == 0
        ours = kernel_sums(w, bias, lhs_offset, rhs_offset)
        assert ours.dtype == np.int32 and ours.tobytes() == out.tobytes(), (w.shape, lhs_offset)


def test_mve_kernel_sums_are_const_data_not_arena() -> None:
    """Generated for Cortex-M55 with Arm's library, every fully connected layer of ad01 points
    at const sums in model_data.c; model_init fills nothing and the arena holds only the
    activations and the scratch."""
    library = _arm_library()
    graph = tinyabi.load(str(shared_model("ad01_int8")))
    m55 = generate(graph, host.size_oracle(library, None, "cortex-m55"), library)
    m4 = generate(graph, host.size_oracle(library, None, "cortex-m4"), library)
    fc = [layer for layer in m55.layers if layer.op == "FULLY_CONNECTED"]
    assert fc and sorted(m55.layout.kernel_sums) == [layer.index for layer in fc]
    assert m55.layout.total == m4.layout.total == m55.layout.activations + m55.layout.scratch
    assert not m4.layout.kernel_sums
    for layer in fc:
        assert layer.kernel_sums is not None
        symbol = f"model_layer{layer.index}_kernel_sums"
        assert f"const int32_t {symbol}[{layer.kernel_sums.units}]" in m55.files["model_data.c"]
        assert symbol not in m4.files["model_data.c"]
    assert "arm_vector_sum_s8" not in m55.files["model.c"]
    assert "arm_fully_connected_s8_get_buffer_size(" in m55.files["model.c"]  # still checked
