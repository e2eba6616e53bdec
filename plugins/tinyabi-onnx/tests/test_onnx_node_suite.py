"""ONNX's own backend node tests through tinyabi, by ONNX's standard runner
(``onnx.backend.test.BackendTest``) over the :class:`~tinyabi_onnx.onnx_backend.TinyABIBackend`
adapter.

By default the tests whose operators the importer maps run (out-of-scope ones excluded, known
failures expected to fail: see :mod:`tinyabi_onnx.node_suite`); ``TINYABI_ONNX_NODE_TESTS=all``
runs every node test of the installed ``onnx``, where failures outside the mapped set are
expected (the pass rates are in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import re

import onnx.backend.test
import pytest
from tinyabi_onnx import node_suite
from tinyabi_onnx.onnx_backend import TinyABIBackend

FULL = os.environ.get("TINYABI_ONNX_NODE_TESTS", "") == "all"


class SuiteBackend(TinyABIBackend):
    """The adapter with the suite's backend list."""

    backends = node_suite.BACKENDS


CASES = node_suite.node_cases()
MAPPED = sorted(c.name for c in CASES if node_suite.is_mapped(c.model))
SELECTED = sorted(c.name for c in CASES) if FULL else MAPPED

_runner = onnx.backend.test.BackendTest(SuiteBackend, __name__)
_runner.include("^(" + "|".join(re.escape(n) for n in SELECTED) + ")_cpu$")
for _pattern in node_suite.EXCLUDED:
    _runner.exclude(_pattern.replace("$", "_cpu$"))
for _name in node_suite.KNOWN_FAILURES:
    _runner.xfail(f"^{re.escape(_name)}_cpu$")

# Only the node tests, and only the selected ones (ONNX's runner would list every other test
# of every category as skipped).
OnnxBackendNodeModelTest = _runner.test_cases["OnnxBackendNodeModelTest"]
_selected = {f"{n}_cpu" for n in SELECTED}
for _attr in list(vars(OnnxBackendNodeModelTest)):
    if _attr.startswith("test_") and _attr not in _selected:
        delattr(OnnxBackendNodeModelTest, _attr)


def test_the_mapped_set_is_the_importers_operators() -> None:
    """The selection is not empty and covers the mapped operators' tests."""
    assert len(MAPPED) > 200
    for name in (
        "test_conv_with_strides_padding",
        "test_maxpool_2d_default",
        "test_softmax_axis_1",
    ):
        assert name in MAPPED
    assert "test_lstm_defaults" not in MAPPED
    for name in node_suite.KNOWN_FAILURES:
        assert name in MAPPED and node_suite.excluded_reason(name) is None, name


@pytest.mark.parametrize("name", ["test_relu", "test_maxpool_2d_default", "test_softmax_axis_2"])
def test_a_mapped_case_runs_on_spec_operators_alone(name: str) -> None:
    """The reference backend alone runs plain cases: the importer mapped them to spec
    operators, no onnx.* extension node is involved."""
    (case,) = [c for c in CASES if c.name == name]
    assert node_suite.run_case(case, backends=["reference"]) is None
