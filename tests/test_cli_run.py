"""What ``tinyabi run`` and ``tinyabi compare`` tell a user, through the command line and the
API: what ran, where the inputs came from, readable outputs, profiles, intermediate tensors,
and backends side by side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from backends import toy_registry
from conftest import assert_one_line_error, shared_model, tinyabi_cli

import tinyabi
from tinyabi.compare import compare_backends, with_every_tensor_as_output
from tinyabi.display import is_classifier_output
from tinyabi.feeds import prepare_input, random_inputs
from tinyabi.kernels.tensor import affine_quantize


def test_run_says_where_inputs_came_from_and_what_ran() -> None:
    result = tinyabi_cli("run", str(shared_model("kws_ref_model")), "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert "inputs: random (seed 7)" in result.stderr
    assert "partition 0: reference ran 13 node(s)" in result.stderr
    # The outputs go to stdout: raw values, dequantized values and the class picked.
    assert "dequantized: [" in result.stdout
    assert "argmax=" in result.stdout


def test_argmax_only_for_classifier_outputs() -> None:
    kws = tinyabi.load(shared_model("kws_ref_model"))
    ad01 = tinyabi.load(shared_model("ad01_int8"))
    assert is_classifier_output(kws, kws.outputs[0])  # softmax
    assert not is_classifier_output(ad01, ad01.outputs[0])  # an autoencoder's reconstruction
    result = tinyabi_cli("run", str(shared_model("ad01_int8")))
    assert result.returncode == 0, result.stderr
    assert "argmax" not in result.stdout


def test_full_prints_every_value() -> None:
    cut = tinyabi_cli("run", str(shared_model("ad01_int8")))
    full = tinyabi_cli("run", str(shared_model("ad01_int8")), "--full")
    assert "…" in cut.stdout.splitlines()[0]
    values = full.stdout.split("dequantized")[0].split("] [", 1)[1]
    assert "…" not in values
    assert values.count(",") == 640 - 1


def test_float_input_is_quantized_with_the_inputs_parameters(tmp_path: Path) -> None:
    model = shared_model("ad01_int8")
    graph = tinyabi.load(model)
    name = graph.inputs[0]
    real = np.random.default_rng(3).standard_normal((1, 640)).astype(np.float32)
    np.save(tmp_path / "x.npy", real)
    result = tinyabi_cli(
        "run", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz")
    )
    assert result.returncode == 0, result.stderr
    assert "float values quantized to int8" in result.stderr
    q = graph.tensor(name).quant
    assert q is not None
    expected_input = affine_quantize(real, float(q.scale[0]), int(q.zero_point[0]), "int8")
    expected = tinyabi.Session(graph).run({name: expected_input})
    written = np.load(tmp_path / "y.npz")
    for key, value in expected.items():
        assert written[key].tobytes() == value.tobytes()


def test_other_wrong_input_types_are_one_line_errors(tmp_path: Path) -> None:
    graph = tinyabi.load(shared_model("ad01_int8"))
    with pytest.raises(tinyabi.errors.InputError, match="int16"):
        prepare_input(graph, graph.inputs[0], np.zeros((1, 640), np.int16))
    np.save(tmp_path / "x.npy", np.zeros((1, 640), np.int16))
    result = tinyabi_cli("run", str(shared_model("ad01_int8")), "--input", str(tmp_path / "x.npy"))
    assert_one_line_error(result, "input_1", "int8", "int16")


def test_profile_prints_a_table_per_partition() -> None:
    result = tinyabi_cli("run", str(shared_model("ad01_int8")), "--profile", "--profile-runs", "3")
    assert result.returncode == 0, result.stderr
    assert "profile: median of 3 run(s)" in result.stdout
    assert "total" in result.stdout
    session = tinyabi.Session(tinyabi.load(shared_model("ad01_int8")))
    lines = result.stdout.splitlines()
    # Every node of the reference partition has its row (node, op, time, share) under it.
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["0", "reference"])
    rows = [line.split() for line in lines[start + 1 : start + 1 + len(session.graph.nodes)]]
    assert [r[:2] for r in rows] == [[n.name, n.op] for n in session.graph.nodes]
    assert all(r[3] == "ms" and r[4].endswith("%") for r in rows)
    graph = session.graph
    profile = session.profile({graph.inputs[0]: np.zeros((1, 640), np.int8)}, runs=2)
    assert json.loads(profile.model_dump_json())["runs"] == 2
    assert str(profile).splitlines()[0] == "profile: median of 2 run(s)"


def test_dump_tensors_writes_every_layer(tmp_path: Path) -> None:
    model = shared_model("kws_ref_model")
    out = tmp_path / "tensors"
    result = tinyabi_cli("run", str(model), "--dump-tensors", str(out), "--seed", "1")
    assert result.returncode == 0, result.stderr
    graph = tinyabi.load(model)
    files = sorted(out.glob("*.npy"))
    assert len(files) == sum(len(n.outputs) for n in graph.nodes)
    # The last layer's tensor is the model output.
    final = tinyabi.Session(graph).run(random_inputs(graph, 1))[graph.outputs[0]]
    assert np.load(files[-1]).tobytes() == final.tobytes()


def test_compare_reports_equal_backends_and_the_first_differing_layer() -> None:
    graph = tinyabi.load(shared_model("kws_ref_model"))
    rng = np.random.default_rng(0)
    feeds = {graph.inputs[0]: rng.integers(-128, 128, (1, 49, 10, 1)).astype(np.int8)}
    comparison = compare_backends(
        graph,
        [
            ["reference"],
            [("toy-a", {"ops": ["CONV_2D"]})],
            [("fault-lsb", {"ops": ["DEPTHWISE_CONV_2D"]})],
        ],
        feeds,
        inputs="random (seed 0)",
        runs=1,
        per_layer=True,
        registry=toy_registry(),
    )
    _, toy, faulty = comparison.results
    assert toy.agrees and toy.ran_on == ["reference", "toy-a"]
    assert faulty.ran_on == ["fault-lsb", "reference"]
    # The softmax at the end can absorb a one-LSB error; comparing layer by layer cannot miss it.
    (divergence,) = comparison.divergences
    first_depthwise = next(n for n in graph.nodes if n.op == "DEPTHWISE_CONV_2D")
    assert (divergence.node, divergence.op) == (first_depthwise.name, "DEPTHWISE_CONV_2D")
    assert divergence.max_difference == 1.0
    every = with_every_tensor_as_output(graph)
    assert divergence.step == [n.name for n in every.nodes].index(first_depthwise.name)
    assert "first differs at step" in str(comparison)


def test_compare_reports_the_largest_output_difference() -> None:
    graph = tinyabi.load(shared_model("ad01_int8"))
    feeds = random_inputs(graph, 2)
    comparison = compare_backends(
        graph,
        [["reference"], [("fault-lsb", {"ops": ["FULLY_CONNECTED"]})]],
        feeds,
        inputs="random (seed 2)",
        runs=1,
        registry=toy_registry(),
    )
    faulty = comparison.results[1]
    assert faulty.ran_on == ["fault-lsb"]
    assert not faulty.agrees and faulty.outputs[0].max_difference >= 1
    assert "differ (max" in str(comparison)


def test_compare_cli_runs_two_backend_lists(tmp_path: Path) -> None:
    result = tinyabi_cli(
        "compare",
        str(shared_model("ad01_int8")),
        "--backends",
        "reference",
        "tflm",
        "--per-layer",
        "--runs",
        "2",
        "--json",
        str(tmp_path / "c.json"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every layer's output is equal" in result.stdout
    data = json.loads((tmp_path / "c.json").read_text())
    assert [r["ran_on"] for r in data["results"]] == [["reference"], ["tflm"]]


def test_printing_a_graph_gives_a_summary_not_the_weights() -> None:
    graph = tinyabi.load(shared_model("vww_96_int8"))
    text = str(graph)
    assert len(text.splitlines()) == 1 and len(text) < 400
    assert "CONV_2D x14" in text and "input_1_int8 int8[1, 96, 96, 3]" in text


def test_accuracy_against_the_float_model(tmp_path: Path) -> None:
    int8, fp32 = shared_model("vww_96_int8"), shared_model("vww_96_float")
    int_graph, float_graph = tinyabi.load(int8), tinyabi.load(fp32)
    rng = np.random.default_rng(5)
    batch = rng.uniform(-1, 1, (12, 96, 96, 3)).astype(np.float32)
    (tmp_path / "samples").mkdir()
    np.save(tmp_path / "samples" / "a.npy", batch[:8])  # a batch
    for k in range(8, 12):
        np.save(tmp_path / "samples" / f"b{k:02d}.npy", batch[k][None])  # single samples
    # Independently: both models on every sample, the int8 input quantized by hand.
    q = int_graph.tensor(int_graph.inputs[0]).quant
    out_q = int_graph.tensor(int_graph.outputs[0]).quant
    assert q is not None and out_q is not None
    int_session, float_session = tinyabi.Session(int_graph), tinyabi.Session(float_graph)
    signal = noise = 0.0
    picks = []
    for sample in batch:
        x = sample[None]
        xq = affine_quantize(x, float(q.scale[0]), int(q.zero_point[0]), "int8")
        got = int_session.run([xq])[int_graph.outputs[0]].astype(np.float64)
        real = float(out_q.scale[0]) * (got - int(out_q.zero_point[0]))
        want = float_session.run([x])[float_graph.outputs[0]].astype(np.float64)
        signal += float(np.sum(want**2))
        noise += float(np.sum((want - real) ** 2))
        picks.append((int(np.argmax(real)), int(np.argmax(want))))
    labels = [p[1] for p in picks]  # the float model's classes: its accuracy is 100%
    (tmp_path / "labels.txt").write_text("\n".join(map(str, labels)) + "\n")
    result = tinyabi_cli(
        "compare",
        str(int8),
        "--against",
        str(fp32),
        "--inputs",
        str(tmp_path / "samples"),
        "--labels",
        str(tmp_path / "labels.txt"),
        "--json",
        str(tmp_path / "acc.json"),
    )
    assert result.returncode == 0, result.stderr
    assert "12 samples" in result.stdout
    (output,) = json.loads((tmp_path / "acc.json").read_text())["outputs"]
    agreement = sum(a == b for a, b in picks) / len(picks)
    assert output["top1_agreement"] == pytest.approx(agreement)
    assert output["accuracy_int"] == pytest.approx(agreement)
    assert output["accuracy_float"] == 1.0
    assert output["sqnr_db"] == pytest.approx(10 * np.log10(signal / noise), rel=1e-4)


def test_accuracy_needs_samples_in_a_folder(tmp_path: Path) -> None:
    int8, fp32 = shared_model("ad01_int8"), shared_model("ad01_fp32")
    assert_one_line_error(tinyabi_cli("compare", str(int8), "--against", str(fp32)), "--inputs")
    assert_one_line_error(
        tinyabi_cli("compare", str(int8), "--against", str(fp32), "--inputs", str(tmp_path)),
        "no .npy files",
    )


def _stderr_on_a_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """What ``tinyabi ARGS`` writes to stderr when stderr is a terminal (a pseudo-terminal)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    from conftest import ROOT

    leader, follower = pty.openpty()
    # A terminal 80 columns wide (a new pseudo-terminal has 0: nothing would fit).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "tinyabi", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_progress_shows_on_a_terminal_only_and_never_with_quiet(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    np.save(folder / "x.npy", np.zeros((40, 640), np.float32))
    args = ["compare", str(shared_model("ad01_int8")), "--against", str(shared_model("ad01_fp32"))]
    args += ["--inputs", str(folder)]
    assert "evaluating" in _stderr_on_a_terminal(*args)
    assert "evaluating" not in _stderr_on_a_terminal("--quiet", *args)
    piped = tinyabi_cli(*args)
    assert piped.returncode == 0 and "evaluating" not in piped.stderr


def test_file_problems_are_plain_one_line_errors(tmp_path: Path) -> None:
    model = str(shared_model("ad01_int8"))
    assert_one_line_error(tinyabi_cli("run", str(tmp_path)), "is a folder, not a model file")
    missing = tinyabi_cli("run", model, "--input", str(tmp_path / "nope.npy"))
    assert_one_line_error(missing, "nope.npy", "no such file")
    assert "Errno" not in missing.stderr
    np.save(tmp_path / "p.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pickled = tinyabi_cli("run", model, "--input", str(tmp_path / "p.npy"))
    assert_one_line_error(pickled, "p.npy", "pickled data")


def test_a_closed_pipe_is_not_an_error() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    listing = subprocess.Popen(
        [sys.executable, "-m", "tinyabi", "backends", "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert listing.stdout is not None
    listing.stdout.close()  # before it writes anything, as `| head -0` would
    _, err = listing.communicate(timeout=120)
    assert listing.returncode == 0, err
    assert b"Broken pipe" not in err


def test_run_names_every_fallback_and_can_refuse_them() -> None:
    model = str(shared_model("kws_ref_model_float32"))
    result = tinyabi_cli("run", model, "--backends", "cmsis-nn")
    assert result.returncode == 0, result.stderr
    assert "partition 0: reference ran 13 node(s)" in result.stderr
    assert "fallback: cmsis-nn declined 13 node(s)" in result.stderr
    assert "run by reference" in result.stderr
    session = tinyabi.Session(tinyabi.load(model), backends=["cmsis-nn"])
    assert session.plan.declines()[0].startswith("cmsis-nn declined 13 node(s)")
    refused = tinyabi_cli("run", model, "--backends", "cmsis-nn", "--fallback", "error")
    assert_one_line_error(refused, "fallback is 'error'", "cmsis-nn")


def test_a_compile_failure_is_one_line_and_strict_refuses_it() -> None:
    model = str(shared_model("ad01_int8"))
    broken = "cmsis-nn:cc=/nonexistent/cc"  # a compiler that is not there: compiling fails
    result = tinyabi_cli("run", model, "--backends", broken)
    assert result.returncode == 0, result.stderr
    assert "FallbackWarning" not in result.stderr  # the CLI says it itself, in one line
    lines = [line for line in result.stderr.splitlines() if line.startswith("fallback:")]
    assert len(lines) == 1 and "cmsis-nn failed to compile partition 0 (10 nodes)" in lines[0]
    assert "partition 0: reference ran 10 node(s)" in result.stderr
    strict = tinyabi_cli("run", model, "--backends", broken, "--strict")
    assert_one_line_error(strict, "cmsis-nn", "failed to compile partition 0 (10 nodes:")


def test_the_first_tflm_arena_search_shows_progress(tmp_path: Path) -> None:
    import os

    args = ["run", str(shared_model("ad01_int8")), "--backends", "tflm"]
    fresh = {"TINYABI_CACHE_DIR": str(tmp_path / "cache")}  # nothing measured yet: it searches
    assert "TFLM arena search" in _stderr_on_a_terminal(*args, env=fresh)
    again = _stderr_on_a_terminal(*args, env=fresh)  # cached: no search, no bar
    assert "TFLM arena search" not in again
    assert os.listdir(tmp_path / "cache")


def test_a_firmware_build_shows_progress(tmp_path: Path) -> None:
    args = ["run", str(shared_model("ad01_int8")), "--backends", "cmsis-nn:target=cortex-m4"]
    fresh = {"TINYABI_CACHE_DIR": str(tmp_path / "cache")}  # nothing built yet
    assert "building cortex-m4 firmware" in _stderr_on_a_terminal(*args, env=fresh)
    other = {"TINYABI_CACHE_DIR": str(tmp_path / "other")}  # built again, quietly
    assert "building cortex-m4 firmware" not in _stderr_on_a_terminal("--quiet", *args, env=other)
    assert list((tmp_path / "other").rglob("*.elf"))
