"""``tinyabi plan`` and the planned arena of ``tinyabi inspect``, run as a user would run them."""

from __future__ import annotations

import html
import json
from pathlib import Path

import tinyabi
from tests.conftest import assert_one_line_error, shared_model, tinyabi_cli

ROOT = Path(__file__).resolve().parents[1]


def test_plan_prints_the_plan_and_writes_json_and_html(tmp_path: Path) -> None:
    model = shared_model("vww_96_int8")
    out_json, out_html = tmp_path / "plan.json", tmp_path / "plan.html"
    result = tinyabi_cli(
        "plan",
        str(model),
        "--backends",
        "reference",
        "--fallback",
        "reference",
        "--mode",
        "first-claim",
        "--json",
        str(out_json),
        "--html",
        str(out_html),
    )
    assert result.returncode == 0, result.stderr
    session = tinyabi.Session(str(model), backends=["reference"])
    assert session.plan.memory is not None
    assert result.stdout == str(session.plan) + "\n"
    assert f"arena {session.plan.memory.arena_bytes:,} B" in result.stdout
    written = out_json.read_text()
    assert json.loads(written) == json.loads(session.plan.to_json())
    assert written.strip() == session.plan.to_json()
    page = out_html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert all(html.escape(n.name) in page for n in session.graph.nodes)
    assert f"wrote {out_json}" in result.stderr
    assert f"wrote {out_html}" in result.stderr


def test_plan_defaults_and_fallback_error(tmp_path: Path) -> None:
    model = str(shared_model("ad01_int8"))
    default = tinyabi_cli("plan", model)
    assert default.returncode == 0, default.stderr
    assert default.stdout == str(tinyabi.Session(model).plan) + "\n"
    strict = tinyabi_cli("plan", model, "--backends", "reference", "--fallback", "error")
    assert strict.returncode == 0, strict.stderr
    assert "fallback 'error'" in strict.stdout
    cost = tinyabi_cli("plan", model, "--mode", "cost", "--json", str(tmp_path / "p.json"))
    assert cost.returncode == 0, cost.stderr
    assert json.loads((tmp_path / "p.json").read_text())["mode"] == "cost"


def test_plan_rejects_bad_backends_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "plan.html"
    model = str(shared_model("ad01_int8"))
    result = tinyabi_cli("plan", model, "--backends", "reference,warp-drive", "--html", str(out))
    assert_one_line_error(result, "warp-drive")
    assert not out.exists()
    assert_one_line_error(tinyabi_cli("plan", model, "--fallback", "nowhere"), "nowhere")
    assert_one_line_error(
        tinyabi_cli("plan", model, "--backends", "reference,reference"), "listed twice"
    )
    missing = tinyabi_cli("plan", str(tmp_path / "nope.tflite"))
    assert_one_line_error(missing, "nope.tflite")


def test_plan_rejects_an_unknown_mode() -> None:
    result = tinyabi_cli("plan", str(shared_model("ad01_int8")), "--mode", "fastest")
    assert result.returncode == 2
    assert "invalid choice: 'fastest'" in result.stderr


def test_plan_has_help() -> None:
    result = tinyabi_cli("plan", "--help")
    assert result.returncode == 0
    assert "usage: tinyabi plan" in result.stdout
    for option in ("--backends", "--fallback", "--mode", "--json", "--html"):
        assert option in result.stdout


def test_inspect_shows_the_planned_arena() -> None:
    model = str(shared_model("kws_ref_model"))
    result = tinyabi_cli("inspect", model)
    assert result.returncode == 0, result.stderr
    memory = tinyabi.Session(model, backends=["reference"]).plan.memory
    assert memory is not None
    lines = result.stdout.splitlines()
    activation = next(i for i, line in enumerate(lines) if line.startswith("activation bytes"))
    assert lines[activation + 1] == (
        f"planned arena bytes (reference backend): {memory.arena_bytes:,} "
        f"(lower bound {memory.lower_bound_bytes:,})"
    )


def test_plan_shows_the_nodes_no_backend_takes_then_fails() -> None:
    result = tinyabi_cli(
        "plan",
        str(shared_model("kws_ref_model_float32")),
        "--backends",
        "cmsis-nn",
        "--fallback",
        "error",
    )
    assert_one_line_error(result, "no listed backend supports 13 node(s)")
    rows = [line for line in result.stdout.splitlines() if "(none)" in line]
    assert len(rows) == 13 and all("cmsis-nn: the" in r and "not supported" in r for r in rows)
