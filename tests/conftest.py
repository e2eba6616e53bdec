"""Shared fixtures: where the shared MLPerf Tiny models are, and how to reach them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT.parent / "shared" / "models"

INT8_MODELS = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
FLOAT_MODELS = ["vww_96_float", "ad01_fp32", "kws_ref_model_float32"]


def shared_model(name: str) -> Path:
    """The path of a shared model; fails in CI and skips elsewhere when it is missing."""
    path = MODELS_DIR / f"{name}.tflite"
    if not path.is_file():
        message = f"shared model {path} is missing"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
