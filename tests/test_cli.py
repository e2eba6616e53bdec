"""The ``tinyabi`` command line, run as a user would run it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, shared_model, tinyabi_cli

ROOT = Path(__file__).resolve().parents[1]


def test_run_prints_outputs_and_writes_npz(tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    result = tinyabi_cli("run", str(shared_model("ad01_int8")), "--seed", "3", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "Identity: int8[1, 640]" in result.stdout
    saved = np.load(out)
    assert saved["Identity"].shape == (1, 640)


def test_run_reads_inputs_from_npy(tmp_path: Path) -> None:
    x = np.random.default_rng(1).integers(-128, 128, size=(1, 640)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    by_position = tinyabi_cli(
        "run", str(shared_model("ad01_int8")), "--input", str(tmp_path / "x.npy")
    )
    by_name = tinyabi_cli(
        "run", str(shared_model("ad01_int8")), "--input", f"input_1={tmp_path / 'x.npy'}"
    )
    assert by_position.returncode == 0, by_position.stderr
    assert by_position.stdout == by_name.stdout


def test_missing_and_malformed_model_files_are_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(tinyabi_cli("run", str(tmp_path / "nope.tflite")), "nope.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a model at all")
    assert_one_line_error(tinyabi_cli("inspect", str(bad)), "not a TFLite model")


def test_unknown_backend_is_a_one_line_error() -> None:
    result = tinyabi_cli("run", str(shared_model("ad01_int8")), "--backends", "warp-drive")
    assert_one_line_error(result, "warp-drive")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = tinyabi_cli("--debug", "run", str(tmp_path / "nope.tflite"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_inspect_shows_operators_and_memory() -> None:
    result = tinyabi_cli("inspect", str(shared_model("kws_ref_model")))
    assert result.returncode == 0, result.stderr
    assert "CONV_2D x5" in result.stdout
    assert "constant bytes" in result.stdout


def test_inspect_json_is_complete() -> None:
    import json

    result = tinyabi_cli("inspect", "--json", str(shared_model("kws_ref_model")))
    data = json.loads(result.stdout)
    assert len(data["nodes"]) == 13
    assert data["inputs"] == ["input_1"]


def test_spec_writes_markdown_and_json_schema(tmp_path: Path) -> None:
    import json

    result = tinyabi_cli(
        "spec", "-o", str(tmp_path / "spec.md"), "--json-schema", str(tmp_path / "s.json")
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "spec.md").read_text() == (ROOT / "docs" / "spec.md").read_text()
    assert json.loads((tmp_path / "s.json").read_text())["title"] == "TinyABI spec"


def test_backends_lists_reference() -> None:
    result = tinyabi_cli("backends")
    assert result.returncode == 0
    assert result.stdout.startswith("reference")


@pytest.mark.parametrize("command", ["run", "inspect", "spec", "backends", "demo"])
def test_every_command_has_help(command: str) -> None:
    result = tinyabi_cli(command, "--help")
    assert result.returncode == 0
    assert "usage: tinyabi" in result.stdout


def test_backend_options_on_the_command_line() -> None:
    from tinyabi.cli import backend_list

    assert backend_list("a, b:x=1:fast=true:mode=cost ,c") == [
        "a",
        ("b", {"x": "1", "fast": "true", "mode": "cost"}),
        "c",
    ]


def test_usage_errors_are_one_line() -> None:
    assert_one_line_error(tinyabi_cli("run"), "model")
    assert_one_line_error(
        tinyabi_cli("run", str(shared_model("ad01_int8")), "--backends", "reference:oops"),
        "KEY=VALUE",
    )
