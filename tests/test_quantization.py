"""Every operator's quantization parameters come from one place, :mod:`tinyabi.quantization`.

* the spec's ``parameters`` fields name functions of the package, and every parameter function
  of the package is named by some operator;
* at run time the reference kernels' prepare asks exactly those functions (observed by wrapping
  them), on random single-operator graphs and on the shared models;
* statically, no kernel or backend plugin derives a multiplier itself.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import tinyabi
from tests.conftest import shared_model
from tests.modelgen import random_16x8_model
from tests.quantization_spy import parameter_paths, resolve, spy_on_parameters
from tinyabi import quantization
from tinyabi.conformance.cases import spec_cases
from tinyabi.kernels import prepare
from tinyabi.kernels.tensor import MOVED_TYPES
from tinyabi.quantization.fixed_point import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    multiply_by_quantized_multiplier_single_rounding,
    quantize_multiplier,
    quantize_multiplier_single_rounding,
)
from tinyabi.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("kws_ref_model", "vww_96_int8", "ad01_int8")


def _operator_modules() -> list[object]:
    return [
        getattr(quantization, name)
        for name in quantization.__all__
        if inspect.ismodule(getattr(quantization, name))
    ]


def test_every_parameters_path_is_a_function_of_the_package() -> None:
    for path in [*parameter_paths(), *quantization.EXTENSION_PARAMETERS.values()]:
        assert path.startswith("tinyabi.quantization."), path
        module, name = resolve(path)
        function = getattr(module, name, None)
        assert inspect.isfunction(function), f"{path} is not a function"
        assert function.__module__ == module.__name__, f"{path} is re-exported, not defined there"
        assert name in module.__all__, f"{path} is not public"
        assert list(inspect.signature(function).parameters) == ["node", "graph"], path


def test_every_parameter_function_is_named_by_the_spec() -> None:
    """... or, for an extension operator, by ``quantization.EXTENSION_PARAMETERS``."""
    named = set(parameter_paths()) | set(quantization.EXTENSION_PARAMETERS.values())
    for module in _operator_modules():
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if inspect.isfunction(value) and name.endswith("_params"):
                params = list(inspect.signature(value).parameters)
                if params == ["node", "graph"]:
                    assert f"{module.__name__}.{name}" in named, f"no operator names {name}"


def test_quantized_operators_name_their_parameters() -> None:
    """Every operator with a quantized signature names its parameter function, except the
    data-movement operators, which carry quantization through unchanged."""
    for op in load_spec().operators.values():
        quantized = any(
            o.quantization != "none" for sig in op.signatures for o in sig.operands.values()
        )
        if quantized and op.name not in MOVED_TYPES:
            assert op.parameter_functions, f"{op.name} names no parameter function"
        if op.name in MOVED_TYPES:
            assert not op.parameter_functions, op.name


def test_reference_prepare_takes_parameters_from_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = spy_on_parameters(monkeypatch)
    checked: set[str] = set()
    for case in spec_cases(count=2, seed=3):
        spy.clear()
        prepare(case.node, case.graph)
        if spy.check(case.node, case.graph, "reference"):
            checked.add(case.op)
    spec = load_spec()
    with_parameters = {name for name, op in spec.operators.items() if op.parameter_functions}
    assert checked == with_parameters, with_parameters - checked


@pytest.mark.parametrize("model", MODELS)
def test_reference_prepare_on_models_takes_parameters_from_the_package(
    monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    graph = tinyabi.load(shared_model(model))
    spy = spy_on_parameters(monkeypatch)
    checked = 0
    for node in graph.nodes:
        spy.clear()
        prepare(node, graph)
        checked += spy.check(node, graph, "reference")
    assert checked >= len(graph.nodes) // 2


#: The int16 signatures with their own parameter function (the others share the int8 one).
INT16_FUNCTIONS = {
    "LOGISTIC": "tinyabi.quantization.activations.logistic_int16_params",
    "TANH": "tinyabi.quantization.activations.tanh_int16_params",
    "SOFTMAX": "tinyabi.quantization.softmax.softmax_int16_params",
}


def test_int16_signatures_take_their_own_parameter_functions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """int16 LOGISTIC, TANH and SOFTMAX call exactly their int16 function, int8 never does."""
    spy = spy_on_parameters(monkeypatch)
    seen = set()
    for case in spec_cases(list(INT16_FUNCTIONS), count=2, seed=5):
        if case.signature not in ("int8", "int16"):
            continue
        spy.clear()
        prepare(case.node, case.graph)
        calls = spy.calls.get(case.node.name, set())
        int16_function = INT16_FUNCTIONS[case.op]
        if case.signature == "int16":
            assert calls == {int16_function}, (case.op, calls)
            seen.add(case.op)
        else:
            assert int16_function not in calls and calls, (case.op, calls)
    assert seen == set(INT16_FUNCTIONS)


@pytest.mark.parametrize("seed", range(3))
def test_reference_prepare_on_16x8_models_takes_parameters_from_the_package(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    graph = random_16x8_model(seed)
    spy = spy_on_parameters(monkeypatch)
    checked = 0
    for node in graph.nodes:
        spy.clear()
        prepare(node, graph)
        checked += spy.check(node, graph, "reference")
    assert checked >= 2


# --- static: nobody else derives multipliers --------------------------------------------------

#: Functions that turn a real into a fixed-point multiplier: only the package may call them.
_DERIVING_CALLS = {
    "frexp",
    "quantize_multiplier",
    "quantize_multipliers",
    "quantize_multiplier_single_rounding",
    "mean_multiplier",
}


def _scanned_files() -> list[Path]:
    files = sorted((ROOT / "tinyabi" / "kernels").glob("*.py"))
    for package in sorted(ROOT.glob("plugins/*/tinyabi_*")):
        files += sorted(package.rglob("*.py"))
    return files


def _mentions_scale(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return "scale" in text or any(name in text for name in ("s_in", "s_out", "s_w"))


def _problems(source: str, where: str) -> list[str]:
    """Where ``source`` derives multipliers itself, one line per finding."""
    tree = ast.parse(source)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            # numpy's frexp counts leading zeros in the softmax kernel; math.frexp is the one
            # that splits a real multiplier.
            if name in _DERIVING_CALLS and not (name == "frexp" and receiver == "np"):
                problems.append(f"{where}:{node.lineno}: calls {name}")
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, (ast.Div, ast.Mult))
            and _mentions_scale(node.left)
            and _mentions_scale(node.right)
        ):
            problems.append(f"{where}:{node.lineno}: scale arithmetic {ast.unparse(node)}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "tinyabi.quantization."
        ):
            for alias in node.names:
                if alias.name.endswith("_params"):
                    # Bound at import time, a parameter function escapes the module (and the
                    # tests that observe it): call it through its module instead.
                    problems.append(f"{where}:{node.lineno}: imports {alias.name} directly")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "math"
            and any(alias.name == "frexp" for alias in node.names)
        ):
            problems.append(f"{where}:{node.lineno}: imports math.frexp")
    return problems


def test_no_kernel_or_plugin_derives_multipliers_itself() -> None:
    files = _scanned_files()
    assert len(files) > 20, files
    for package in ("tinyabi_cmsis_nn", "tinyabi_tflm", "tinyabi_npu", "tinyabi_onnxruntime"):
        assert any(package in path.parts for path in files), f"{package} is not scanned"
    problems = [
        p
        for path in files
        for p in _problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not problems, "\n".join(problems)


def test_the_static_scan_finds_what_it_looks_for() -> None:
    """The scan is not blind: each forbidden construct in a sample module is reported."""
    source = (
        "import math\n"
        "from tinyabi.quantization.conv import conv_params\n"
        "m, e = math.frexp(0.3)\n"
        "r = quantize_multiplier(0.2)\n"
        "real = s_in * w.quant.scale / s_out\n"
        "bits = np.frexp(x)\n"
    )
    problems = _problems(source, "sample.py")
    lines = {int(p.split(":")[1]) for p in problems}
    assert lines == {2, 3, 4, 5}, problems


def test_no_kernel_raises_backend_errors_or_names_a_backend() -> None:
    """Kernels raise spec errors (or input errors) about the node; which backend ran them is
    the caller's business."""
    for path in sorted((ROOT / "tinyabi" / "kernels").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                assert node.id != "BackendError", f"{path.name}:{node.lineno}"
            if isinstance(node, ast.Raise) and node.exc is not None:
                message = ast.unparse(node.exc).lower()
                assert "backend" not in message, f"{path.name}:{node.lineno}: {message}"


# --- the fixed-point primitives ----------------------------------------------------------------


def test_single_rounding_differs_from_double_rounding_by_at_most_one() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-(2**20), 2**20, 5000)
    for real in (0.0003, 0.17, 0.5, 0.9999, 3.7):
        m, e = quantize_multiplier(real)
        assert (m, e) == quantize_multiplier_single_rounding(real)
        double = multiply_by_quantized_multiplier(x, m, e)
        single = multiply_by_quantized_multiplier_single_rounding(x, m, e)
        assert np.abs(double - single).max() <= 1
        assert np.abs(double - np.round(x * real)).max() <= 1
    assert quantize_multiplier_single_rounding(2.0**40) == (2**31 - 1, 30)


def test_64_bit_requantization_rounds_once_with_a_q15_multiplier() -> None:
    """The 16x8 requantization rounds ``x * r / 2**(15 - e)`` half up (``r`` the Q15
    multiplier) on accumulators up to 2**47, and stays within the Q15 precision of the 32-bit
    double rounding where both apply."""
    rng = np.random.default_rng(6)
    small = rng.integers(-(2**24), 2**24, 5000)
    for real in (3e-9, 0.0003, 0.17, 0.5, 0.99999, 3.7, 100.0):
        m, e = quantize_multiplier(real)
        r = (m + 2**15) >> 16 if m < 0x7FFF0000 else 0x7FFF
        limit = int(min(2**47, 2**33 / real))  # some results beyond int32, most inside
        x = rng.integers(-limit, limit, 5000)
        wide = multiply_by_quantized_multiplier_int64(x, m, e)
        t = 15 - e
        # floor(v * r / 2**t + 1/2) in exact integer arithmetic, where it fits in int32.
        rounded = np.array([(2 * v * r + 2**t) // 2 ** (t + 1) for v in x.tolist()], dtype=object)
        inside = np.array([abs(v) < 2**31 for v in rounded])
        assert inside.any()
        assert np.array_equal(wide[inside], rounded[inside].astype(np.int64))
        # The Q15 multiplier is within 2**-16 of the Q31 one, relatively.
        near = multiply_by_quantized_multiplier_int64(small, m, e)
        double = multiply_by_quantized_multiplier(small, m, e)
        assert np.all(np.abs(near - double) <= 1 + np.abs(double) / 2**15)
