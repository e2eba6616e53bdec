"""The conformance suite 1.0: generators by intent, isolation of a misbehaving backend, the
status taxonomy, JSON/JUnit results, selection and shards, profiles, and the mutation score."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.conformance_faulty import FaultyBackend, FaultyOptions
from tests.conformance_mutants import MUTANTS
from tests.conftest import assert_one_line_error, tinyabi_cli
from tinyabi.conformance import (
    GENERATORS,
    Case,
    ConformanceReport,
    Selection,
    Status,
    generate,
    run_conformance,
)
from tinyabi.conformance.junit import to_junit_xml
from tinyabi.conformance.profiles import PROFILES
from tinyabi.conformance.report import json_schema
from tinyabi.conformance.verify import compare, dot_magnitudes
from tinyabi.ir.validate import check_node
from tinyabi.quantization.conv import conv_params
from tinyabi.spec import Tolerance, load_spec


def _cases(op: str, signature: str, generator: str, count: int = 5) -> list[Case]:
    spec_op = load_spec().operators[op]
    return generate(spec_op, spec_op.signature(signature), generator, count, seed=0)


def test_generators_are_seeded_and_name_their_cases() -> None:
    for generator in GENERATORS:
        a, b = _cases("CONV_2D", "int8", generator), _cases("CONV_2D", "int8", generator)
        assert a and [c.id for c in a] == [c.id for c in b]
        assert all(c.id.startswith(f"CONV_2D/int8/{generator}/") for c in a)
        assert [c.params() for c in a] == [c.params() for c in b]
        assert all(np.array_equal(x.inputs[k], y.inputs[k]) for x, y in zip(a, b) for k in x.inputs)


def test_full_range_feeds_every_int8_value() -> None:
    for op in ("RELU", "LOGISTIC", "ADD"):
        for case in _cases(op, "int8", "full-range", 2):
            values = np.concatenate([v.reshape(-1) for v in case.inputs.values()])
            assert set(values.tolist()) == set(range(-128, 128)), case.id


def test_special_cases_reach_the_extremes() -> None:
    cases = _cases("CONV_2D", "int8", "special")
    zero_points = {int(c.graph.tensor(c.node.inputs[0]).quant.zero_point[0]) for c in cases}
    assert {-128, 127} <= zero_points
    multipliers = np.concatenate([conv_params(c.node, c.graph).real_multipliers for c in cases])
    assert multipliers.min() < 2.0**-30 and np.any(np.abs(multipliers - 1) < 2.0**-20)
    spans = [
        float(s.max() / s.min())
        for c in cases
        if (s := c.graph.tensor(c.node.inputs[1]).quant.scale).size > 1
    ]
    assert max(spans) >= 2.0**19
    outputs = np.concatenate([c.expected["output"].reshape(-1) for c in cases])
    assert outputs.min() == -128 and outputs.max() == 127  # saturation at both ends


def test_shape_cases_cover_every_stride_remainder() -> None:
    seen = set()
    for case in _cases("CONV_2D", "int8", "shapes", 24):
        attrs, x = case.node.attrs, case.graph.tensor(case.node.inputs[0])
        seen.add((attrs["padding"], attrs["stride_h"], x.shape[1] % attrs["stride_h"]))
    for padding in ("SAME", "VALID"):
        for stride in (2, 3):
            assert {r for p, s, r in seen if (p, s) == (padding, stride)} == set(range(stride))


def test_negative_cases_break_the_spec_and_the_reference_declines_them() -> None:
    cases = _cases("FULLY_CONNECTED", "int8", "negative", 6)
    assert len(cases) == 6 and all(c.negative and not c.expected for c in cases)
    problems = {check_node(c.node, c.graph).problem for c in cases}
    assert None not in problems and len(problems) >= 4
    report = run_conformance("reference", ops=["FULLY_CONNECTED"], generators=["negative"], jobs=0)
    assert report.ok and report.count(Status.PASS) == report.passed > 0
    assert all(c.message.startswith(("declined", "rejected")) for c in report.cases)


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("segfault", Status.CRASH, "SIGSEGV"),
        ("abort", Status.CRASH, "SIGABRT"),
        ("hang", Status.TIMEOUT, "time limit"),
        ("memory", Status.CRASH, "memory"),
        ("raise", Status.ERROR, "kernel failed"),
    ],
)
def test_a_misbehaving_case_fails_alone(fault: str, status: Status, words: str) -> None:
    backend = FaultyBackend(FaultyOptions(fault=fault, victim="13"))  # type: ignore[arg-type]
    report = run_conformance(
        backend, ops=["RELU"], generators=["shapes"], jobs=2, timeout=3, memory_mb=512
    )
    bad = [c for c in report.cases if c.status is not Status.PASS]
    assert {c.id for c in bad} == {"RELU/int8/shapes/3", "RELU/float32/shapes/3"}, str(report)
    assert all(c.status is status and words in c.message for c in bad), bad
    assert report.passed == len(report.cases) - 2 and not report.ok


def test_json_and_junit_results(tmp_path: Path) -> None:
    backend = FaultyBackend(FaultyOptions(fault="raise", victim="13"))
    report = run_conformance(
        backend,
        ops=["RELU", "TANH"],
        generators=["shapes", "negative"],
        jobs=0,
        selection=Selection(xfail=("RELU/float32/*",)),
    )
    data = json.loads(report.to_json())
    assert data["schema_version"] == "1.0" and data["totals"]["failed"] == report.failed == 1
    assert ConformanceReport.from_json(report.to_json()) == report
    assert "cases" in json_schema()["properties"]
    statuses = {c["id"]: c["status"] for c in data["cases"]}
    assert statuses["RELU/int8/shapes/3"] == "ERROR" and statuses["TANH/int8/shapes/0"] == (
        "NOT CLAIMED"
    )
    root = ET.fromstring(to_junit_xml(report))
    assert int(root.get("tests", 0)) == len(report.cases)
    assert int(root.get("errors", 0)) == 1 and int(root.get("failures", 0)) == 0
    # the expected failure and every case not claimed are skipped, with the reason
    assert int(root.get("skipped", 0)) == report.not_claimed + 1
    error = root.find(".//testcase[@name='shapes/3'][@classname='RELU.int8']/error")
    assert error is not None and error.get("type") == "ERROR"


def test_selection_and_shards_split_the_cases() -> None:
    def ids(selection: Selection) -> list[str]:
        report = run_conformance(
            "reference",
            ops=["RELU", "ADD"],
            cases_per_signature=2,
            jobs=0,
            selection=selection,
            generators=["pseudo-random", "negative"],
        )
        return [c.id for c in report.cases]

    everything = ids(Selection())
    shards = [ids(Selection(shard=(i, 3))) for i in (1, 2, 3)]
    assert sorted(i for shard in shards for i in shard) == sorted(everything) and all(shards)
    assert ids(Selection(include=("RELU",))) == [i for i in everything if i.startswith("RELU/")]
    kept = ids(Selection(exclude=("*/negative/*", "ADD/int32/*")))
    assert kept and not any("/negative/" in i or i.startswith("ADD/int32/") for i in kept)


def test_profiles_need_every_case_of_every_member() -> None:
    ops = sorted({op for op, _ in PROFILES["INT8-CORE"]})
    report = run_conformance(
        "reference", ops=ops, cases_per_signature=1, jobs=0, generators=["pseudo-random"]
    )
    verdicts = {p.name: p for p in report.profiles}
    assert verdicts["INT8-CORE"].conformant and verdicts["FLOAT32-CORE"].conformant
    partial = run_conformance(
        "reference", ops=["ADD"], cases_per_signature=1, jobs=0, generators=["pseudo-random"]
    )
    int8 = next(p for p in partial.profiles if p.name == "INT8-CORE")
    assert not int8.conformant and "CONV_2D/int8" in int8.missing


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught_by_the_default_run(mutant: type) -> None:
    """Each mutant computes most cases right (its bug shows only where it lives) and the
    default run (5 cases per signature and generator, every generator) catches it."""
    report = run_conformance(mutant(), ops=list(mutant.ops), jobs=0)
    assert not report.ok, f"{mutant.bug} not caught"
    assert report.passed > 0, f"{mutant.bug}: no case passed, the mutant is not realistic"
    assert all(
        f.status is Status.MISMATCH for f in report.failures if "zero point" not in f.message
    )


def test_cli_results_and_errors(tmp_path: Path) -> None:
    junit, out = tmp_path / "r.xml", tmp_path / "r.json"
    ok = tinyabi_cli(
        "conformance", "--backend", "reference", "--ops", "RELU", "--cases", "1",
        "--jobs", "2", "--shard", "1/2", "--junit", str(junit), "--json", str(out),
        "--xfail", "RELU/float32/*",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "cases: PASS" in ok.stdout and ET.parse(junit).getroot().get("tests")
    assert json.loads(out.read_text())["shard"] == "1/2"
    for bad, words in (
        (["--shard", "3/2"], "shard"),
        (["--generators", "nope"], "nope"),
        (["--jobs", "-1"], "jobs"),
    ):
        result = tinyabi_cli("conformance", "--backend", "reference", "--ops", "RELU", *bad)
        assert_one_line_error(result, words)


def test_device_vectors_round_trip_through_tflm(tmp_path: Path) -> None:
    """Export cases as device vectors, run every exported ``.tflite`` on TensorFlow Lite Micro
    (as a device without Python would, from the raw ``.bin`` inputs), write its raw outputs,
    and grade them: every case TFLM runs passes."""
    from tests.runtimes import run_tflm

    vectors, results = tmp_path / "vectors", tmp_path / "results"
    exported = tinyabi_cli(
        "conformance", "export", str(vectors), "--ops", "CONV_2D,SOFTMAX,ADD,MEAN",
        "--cases", "2", "--generators", "pseudo-random,special,shapes",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((vectors / "manifest.json").read_text())
    assert manifest["version"] == "1.0" and len(manifest["cases"]) > 50
    ran = 0
    for case in manifest["cases"]:
        if case["signature"] == "hybrid":
            continue  # TFLite Micro refuses hybrid models
        folder = vectors / case["folder"]
        inputs = [
            np.frombuffer((folder / f"{t['file']}.bin").read_bytes(), dtype=t["dtype"]).reshape(
                t["shape"]
            )
            for t in case["inputs"]
        ]
        outputs = run_tflm((folder / "model.tflite").read_bytes(), inputs)
        (results / case["folder"]).mkdir(parents=True)
        for i, value in enumerate(outputs):
            (results / case["folder"] / f"output_{i}.bin").write_bytes(value.tobytes())
        ran += 1
    graded = tinyabi_cli(
        "conformance", "grade", str(vectors), str(results), "--backend", "tflm-device",
        "--json", str(tmp_path / "graded.json"),
    )  # fmt: skip
    assert graded.returncode == 0, graded.stdout + graded.stderr
    report = ConformanceReport.from_json((tmp_path / "graded.json").read_text())
    assert report.backend == "tflm-device" and report.passed == ran > 50
    assert report.not_claimed == len(manifest["cases"]) - ran  # the hybrid ones
    # a wrong value on the device is a mismatch
    first = next(c for c in manifest["cases"] if c["signature"] == "int8")
    path = results / first["folder"] / "output_0.bin"
    raw = bytearray(path.read_bytes())
    raw[0] ^= 1
    path.write_bytes(bytes(raw))
    regraded = tinyabi_cli("conformance", "grade", str(vectors), str(results))
    assert regraded.returncode == 1 and "MISMATCH 1" in regraded.stdout


def test_verify_modes_bound_the_error_and_report_it() -> None:
    case = _cases("FULLY_CONNECTED", "float32", "pseudo-random", 1)[0]
    tol = Tolerance(kind="dot_product", ulp=1)
    want = case.expected["output"]
    magnitude = dot_magnitudes(case.graph, case.inputs)["output"]
    bound = magnitude * 2.0**-23
    inside = {"output": (want + 0.5 * bound * np.sign(want)).astype(np.float32)}
    outside = {"output": (want + 4 * bound + 1e-3).astype(np.float32)}
    assert compare(tol, inside, case.expected, case)[0] is None
    problem, error = compare(tol, outside, case.expected, case)
    assert problem and "over the bound" in problem and error is not None and error > 0
    one_off = {"output": np.array([3, -2], np.int8)}
    exact_want = {"output": np.array([2, -2], np.int8)}
    assert compare(Tolerance(kind="lsb", lsb=1), one_off, exact_want)[0] is None
    assert compare(Tolerance(kind="exact"), one_off, exact_want) == (
        "output: 1 values differ (first at [0]), by up to 1",
        1.0,
    )
    ulps = {"output": np.nextafter(np.float32([1.0]), np.float32(2))}
    assert compare(Tolerance(kind="ulp", ulp=1), ulps, {"output": np.float32([1.0])})[0] is None
    assert compare(Tolerance(kind="ulp", ulp=0.5), ulps, {"output": np.float32([1.0])})[0]
    with pytest.raises(ValueError):
        Tolerance(kind="lsb", lsb=0)
    with pytest.raises(ValueError):
        Tolerance(kind="dot_product", rtol=1e-3)


def test_measured_error_is_reported_per_case() -> None:
    report = run_conformance("tflm", ops=["FULLY_CONNECTED"], generators=["pseudo-random"])
    measured = [c for c in report.cases if c.status is Status.PASS]
    assert measured and all(c.max_error is not None for c in measured)
    floats = [c for c in measured if c.signature == "float32"]
    assert floats and all(c.verify.startswith("dot product") for c in floats)
    assert any(c.max_error for c in floats)  # float32 sums in another order than the reference


def test_html_matrix_is_self_contained_escaped_and_renders(tmp_path: Path) -> None:
    from tests.png import read_png
    from tests.test_plan_html import run_chromium
    from tinyabi.conformance.html import COLOURS, render_matrix_html

    evil = '<script>document.body.setAttribute("data-pwned", 1)</script>'
    backend = FaultyBackend(FaultyOptions(fault="raise", victim="13"))
    report = run_conformance(
        backend, ops=["RELU", "TANH", "ADD"], generators=["pseudo-random", "shapes"], jobs=0
    )
    failing = next(c for c in report.cases if c.counts_as_failure)
    failing.message += evil
    page = render_matrix_html(report)
    assert evil not in page and html.escape(evil) in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    # one row per operator signature, one column per generator
    assert page.count("<tr><th>") == len(report.results) + 1  # and the header row
    path = tmp_path / "matrix.html"
    path.write_text(page, encoding="utf-8")
    png = tmp_path / "matrix.png"
    shot = run_chromium(tmp_path, path.as_uri(), f"--screenshot={png}", "--window-size=900,700")
    assert png.is_file(), shot.stderr[-2000:]
    colours = {c[:3] for c in read_png(png.read_bytes()).colours()}
    for verdict in ("pass", "fail", "not-claimed"):  # RELU passes and fails, TANH declined
        rgb = tuple(int(COLOURS[verdict][i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, verdict
    dom = run_chromium(tmp_path, path.as_uri(), "--dump-dom")
    assert 'data-pwned="1"' not in dom.stdout and 'id="matrix"' in dom.stdout
