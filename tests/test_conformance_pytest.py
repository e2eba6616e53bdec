"""The conformance suite as pytest items (the ``pytest11`` plugin), distributed by
pytest-xdist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tinyabi.conformance import run_conformance


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_pytest_runs_the_suite_as_items_with_xdist(tmp_path: Path) -> None:
    common = ["--tinyabi-backend", "litert", "--tinyabi-ops", "LEAKY_RELU,RELU"]
    common += ["--tinyabi-cases", "1", "--tinyabi-generators", "pseudo-random,negative"]
    result = _pytest(
        tmp_path, *common, "--tinyabi-xfail", "RELU/float32/*",
        "--tinyabi-exclude", "LEAKY_RELU/float32/negative/*", "-n", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bringing up nodes" in result.stdout  # pytest-xdist distributed the items
    # the same verdicts as the suite's own run: litert declines int8 (skipped with its
    # reason) and answers float32 (passes); the expected failure passed (xpassed)
    report = run_conformance(
        "litert", ops=["LEAKY_RELU", "RELU"], cases_per_signature=1,
        generators=["pseudo-random", "negative"], jobs=0,
    )  # fmt: skip
    cases = {c.id: c for c in report.cases}
    skipped = sum(1 for c in cases.values() if c.status.value == "NOT CLAIMED")
    xpassed = sum(1 for i in cases if i.startswith("RELU/float32/"))
    passed = len(cases) - skipped - xpassed - 1  # minus the excluded negative case
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{passed} passed" in summary and f"{skipped} skipped" in summary, summary
    assert f"{xpassed} xpassed" in summary, summary
    assert "not claimed: litert" in result.stdout or "not claimed:" in result.stdout


def test_without_the_option_the_plugin_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    result = _pytest(tmp_path)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout
    bad = _pytest(tmp_path, "--tinyabi-backend", "reference", "--tinyabi-ops", "NOPE")
    assert bad.returncode != 0 and "NOPE is not a spec operator" in bad.stdout + bad.stderr
