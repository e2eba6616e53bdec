"""Shared fixtures: where the shared MLPerf Tiny models are, and how to reach them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT.parent / "shared" / "models"

INT8_MODELS = ["kws_ref_model", "vww_96_int8", "ad01_int8"]

#: Whole-model (atol, rtol) for float models against another runtime: the spec's verify modes
#: are per operator, and their rounding accumulates over a dozen layers.
WHOLE_MODEL_FLOAT = (1e-4, 1e-3)
#: The same for hybrid models (float activations quantized to int8 at run time, per layer).
WHOLE_MODEL_HYBRID = (2e-3, 1e-2)
FLOAT_MODELS = ["vww_96_float", "ad01_fp32", "kws_ref_model_float32"]


def unavailable(message: str) -> NoReturn:
    """Stop a test whose model, library or tool is missing: a failure in CI, a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def shared_model(name: str) -> Path:
    """The path of a shared model; fails in CI and skips elsewhere when it is missing."""
    path = MODELS_DIR / f"{name}.tflite"
    if not path.is_file():
        unavailable(f"shared model {path} is missing")
    return path


def tinyabi_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tinyabi ARGS`` as a user would; returns the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "tinyabi", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """The command failed with exit status 2 and one ``tinyabi: error:`` line naming ``words``."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tinyabi: error:")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
