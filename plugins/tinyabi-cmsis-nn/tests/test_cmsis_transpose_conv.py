"""int8 TRANSPOSE_CONV on the cmsis-nn backend (``arm_transpose_conv_s8``), byte-identical with
TensorFlow Lite Micro: the conformance suite's int8 cases the backend claims, merged into one
graph, with the portable library and Arm's CMSIS-NN on the host and under QEMU (Cortex-M4 and
Cortex-M55: Arm's DSP and MVE code), every session ``strict=True`` with its plan checked;
and the geometry the named checks decline."""

from __future__ import annotations

import numpy as np
import pytest
from cases16 import assert_same_as_tflm, merged_graph
from test_cmsis_16x8 import LIBRARIES, _options, _session
from tinyabi_cmsis_nn import constraints

from tinyabi.conformance import generate_cases
from tinyabi.ir import Graph, GraphBuilder, Quantization
from tinyabi.spec import load_spec


def _claimed(count: int, seed: int) -> tuple[list[tuple[Graph, dict[str, np.ndarray]]], int]:
    """The int8 conformance cases cmsis-nn claims, and how many it declines."""
    spec = load_spec().operators["TRANSPOSE_CONV"]
    (sig,) = [s for s in spec.signatures if s.name == "int8"]
    found, declined = [], 0
    for case in generate_cases(spec, sig, count, seed):
        if constraints.first_failure(case.graph.nodes[0], case.graph) is None:
            found.append((case.graph, case.inputs))
        else:
            declined += 1
    return found, declined


def _random_feeds(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        n: rng.integers(-128, 128, size=graph.tensor(n).shape).astype(np.int8) for n in graph.inputs
    }


@pytest.mark.parametrize("library", LIBRARIES)
def test_transpose_conv_cases_on_the_host(library: str) -> None:
    cases, declined = _claimed(24, seed=3)
    assert len(cases) >= 10, declined
    graph, feeds = merged_graph(cases, "transpose_conv")
    session = _session(graph, _options(library, "host"))
    assert {p.backend for p in session.plan.partitions} == {"cmsis-nn"}
    assert_same_as_tflm(graph, session, [feeds, _random_feeds(graph, 11)])


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m55"])
@pytest.mark.parametrize("library", LIBRARIES)
def test_transpose_conv_cases_under_qemu(library: str, core: str) -> None:
    cases, _ = _claimed(6, seed=8)
    graph, feeds = merged_graph(cases, f"transpose_conv_{core[-3:].strip('-')}")
    session = _session(graph, _options(library, core))
    assert {p.backend for p in session.plan.partitions} == {"cmsis-nn"}
    assert_same_as_tflm(graph, session, [feeds])


def _transpose_conv(out_hw: tuple[int, int], kernel: int, stride: tuple[int, int]) -> Graph:
    """One TRANSPOSE_CONV (SAME padding, 3 input and 2 output channels)."""
    b = GraphBuilder("tc")
    q = Quantization(np.array([0.05]), np.array([3]))
    h = -(-out_hw[0] // stride[0])
    w = -(-out_hw[1] // stride[1])
    b.input("x", "int8", (1, h, w, 3), q)
    b.const("shape", np.array([1, *out_hw, 2], np.int32))
    filt = np.random.default_rng(0).integers(-127, 128, (2, kernel, kernel, 3)).astype(np.int8)
    b.const("w", filt, Quantization(np.array([0.02, 0.03]), np.zeros(2, np.int64), axis=0))
    b.tensor("y", "int8", (1, *out_hw, 2), Quantization(np.array([0.1]), np.array([-2])))
    b.node(
        "TRANSPOSE_CONV",
        ["shape", "w", "x", None],
        ["y"],
        padding="SAME",
        stride_h=stride[0],
        stride_w=stride[1],
    )
    return b.build(outputs=["y"])


def test_transpose_conv_geometry_outside_arms_kernel_is_declined() -> None:
    def failure(graph: Graph) -> str | None:
        found = constraints.first_failure(graph.nodes[0], graph)
        return None if found is None else found[0].__name__

    assert failure(_transpose_conv((6, 6), 3, (2, 2))) is None
    # An odd output with a filter no larger than the stride: Arm writes 6 rows for 5.
    assert failure(_transpose_conv((5, 6), 2, (2, 2))) == "check_transpose_conv_output_covered"
    # A horizontal stride above the filter and the vertical stride: Arm's size is too small.
    assert failure(_transpose_conv((4, 9), 1, (1, 3))) == "check_transpose_conv_buffer_width"
