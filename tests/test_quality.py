"""The code stays ruff-clean, formatted and mypy-clean (the same checks a reviewer runs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None and not (Path(sys.executable).parent / name).exists():
        pytest.fail(f"{name} is not installed: install the test extra (pip install -e '.[test]')")
    return [sys.executable, "-m", name]


@pytest.mark.parametrize(
    "args", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"]
)
def test_ruff(args: list[str]) -> None:
    result = subprocess.run([*_tool("ruff"), *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    packages = [
        "tinyabi",
        *(str(p.parent) for p in sorted(ROOT.glob("plugins/*/tinyabi_*/__init__.py"))),
        *(str(p) for p in sorted(ROOT.glob("benchmarks/*.py"))),
    ]
    result = subprocess.run([*_tool("mypy"), *packages], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
