"""ONNX's own backend node tests (shipped with the ``onnx`` package) through tinyabi: which of
them are in scope, which are out and why, and running one case.

A test is *mapped* when every operator of its model is one the importer lowers to spec
operators (:data:`tinyabi_onnx.handlers.HANDLERS`). A mapped test may still use parameters the
spec cannot express; those nodes become ``onnx.*`` extension nodes, which the ``onnxruntime``
backend runs, so the suite's session lists ``reference`` then ``onnxruntime``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "EXCLUDED",
    "KNOWN_FAILURES",
    "excluded_reason",
    "is_mapped",
    "node_cases",
    "run_case",
]

#: The session's backends for the suite: spec operators on the reference kernels, what the
#: importer leaves as ONNX operators on onnxruntime.
BACKENDS: tuple[str, ...] = ("reference", "onnxruntime")

#: Out of scope, by test-name pattern: tinyabi does not read these models on purpose.
EXCLUDED: dict[str, str] = {
    r"_(e4m3fn|e5m2|float4e2m1|u?int4|u?int2)(_|$)": "element types outside tinyabi's tensor "
    "ABI (8-bit floats, 4- and 2-bit integers)",
    r"^test_training_dropout": "training-mode Dropout draws a random mask; tinyabi runs inference",
    r"_old$": "opset 11 models: the importer reads opset 13 and newer",
    r"^test_identity_(sequence|opt)$": "sequence and optional values: the IR holds tensors only",
}

#: In scope but failing, with the reason (the tests expect these to fail: a fix is noticed).
KNOWN_FAILURES: dict[str, str] = {
    **dict.fromkeys(
        [
            "test_quantizelinear",
            "test_quantizelinear_axis",
            "test_quantizelinear_uint16",
            "test_quantizelinear_int16",
            "test_quantizelinear_blocked_asymmetric",
            "test_quantizelinear_blocked_symmetric",
            "test_dequantizelinear",
            "test_dequantizelinear_axis",
            "test_dequantizelinear_uint16",
            "test_dequantizelinear_int16",
            "test_dequantizelinear_blocked",
        ],
        "scales as graph inputs (not constants), uint8/16-bit or blocked quantization: not a "
        "spec QUANTIZE/DEQUANTIZE, so an onnx.* extension node; the test model is opset 28, for "
        "which the installed onnxruntime has no QuantizeLinear/DequantizeLinear kernel",
    ),
}


def node_cases() -> list[Any]:
    """Every node test case of the installed ``onnx`` (models and data made in memory)."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        # onnx computes some expected outputs (Cast to small types) with numpy casts that
        # overflow on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return list(load_model_tests(kind="node"))


def is_mapped(model: Any) -> bool:
    """Whether every operator of ``model`` is one the importer lowers to spec operators."""
    from tinyabi_onnx.converter import DEFAULT_DOMAINS
    from tinyabi_onnx.handlers import HANDLERS

    return all(n.op_type in HANDLERS and n.domain in DEFAULT_DOMAINS for n in model.graph.node)


def excluded_reason(name: str) -> str | None:
    """Why test ``name`` is out of scope, or ``None``."""
    for pattern, reason in EXCLUDED.items():
        if re.search(pattern, name):
            return reason
    return None


def run_case(case: Any, backends: Sequence[Any] = BACKENDS) -> str | None:
    """Run one node test case through :class:`~tinyabi_onnx.onnx_backend.TinyABIBackend`;
    ``None`` when every output matches ONNX's expected values (its tolerances, same dtype),
    else the first line of what went wrong."""
    from onnx.backend.test.runner import _normalize_tensor

    from tinyabi_onnx.onnx_backend import TinyABIBackend

    class Backend(TinyABIBackend):
        pass

    Backend.backends = tuple(backends)
    try:
        rep = Backend.prepare(case.model)
        for inputs, outputs in case.data_sets:
            got = rep.run([_normalize_tensor(i) for i in inputs])
            for ours, want in zip(got, [_normalize_tensor(o) for o in outputs]):
                np.testing.assert_allclose(ours, want, rtol=case.rtol, atol=case.atol)
                if ours.dtype != want.dtype:
                    return f"output dtype {ours.dtype}, expected {want.dtype}"
    except Exception as exc:  # every failure counts, whatever it is
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}"
    return None
