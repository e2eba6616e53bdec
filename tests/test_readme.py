"""The README's "Using it" section runs as written, and its options table is current."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODELS_DIR, ROOT

from tinyabi.backends.options_table import options_table
from tinyabi.backends.registry import default_registry

README = (ROOT / "README.md").read_text()
USING_IT = README.split("## Using it", 1)[1].split("\n## ", 1)[0]
OPTIONS = re.compile(r"<!-- options:begin -->\n(.*?)<!-- options:end -->", re.S)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", USING_IT, re.S)


@pytest.fixture
def beside_the_models(tmp_path: Path) -> Path:
    """A working folder with ``../shared/models`` beside it, as the repository root has."""
    if not MODELS_DIR.is_dir():
        pytest.fail(f"the shared models are missing: {MODELS_DIR}")
    (tmp_path / "shared").symlink_to(MODELS_DIR.parent)
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def _environment() -> dict[str, str]:
    """Our environment with this Python's scripts (``tinyabi``, ``python``) first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_python_example_runs(beside_the_models: Path) -> None:
    (code,) = _blocks("python")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=beside_the_models,
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "plan for 'main'" in result.stdout and "profile: median of 5 run(s)" in result.stdout


def test_every_command_runs(beside_the_models: Path) -> None:
    (script,) = _blocks("sh")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=beside_the_models,
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "profile: median of 10 run(s)" in out  # run --profile
    assert "per layer: every layer's output is equal on every backend list" in out  # compare
    assert "SQNR dB" in out and "50 samples" in out  # the accuracy check
    assert (beside_the_models / "plan.html").is_file()
    assert (beside_the_models / "out" / "Makefile").is_file()
    assert list((beside_the_models / "tensors").glob("*.npy"))


def test_the_options_table_is_current() -> None:
    match = OPTIONS.search(README)
    assert match, "the README has no options table markers"
    assert match.group(1) == options_table(default_registry()), (
        "README.md's options table is out of date: paste `tinyabi backends --options` between "
        "the markers"
    )
