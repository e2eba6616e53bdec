"""Verified capabilities: conformance verdicts cached per backend version and spec version,
used by ``Session(..., verify=True)`` and shown by ``tinyabi backends``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tinyabi_cli
from tinyabi.conformance.verified import load_record, verified_signatures
from tinyabi.demo import build_demo_model
from tinyabi.session import Session


def test_session_verify_keeps_only_what_conformance_proved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYABI_CACHE_DIR", str(tmp_path))
    graph = build_demo_model()
    # nothing cached yet: with verify, every node falls back, with the reason
    unverified = Session(graph, backends=["tflm"], verify=True)
    assert {n.backend for n in unverified.plan.nodes} == {"reference"}
    assert all(
        any("not verified by conformance" in d.reason for d in n.declined)
        for n in unverified.plan.nodes
    )
    listing = tinyabi_cli("backends")
    assert "verified: nothing yet" in listing.stdout
    # a conformance run of some of the model's operators proves them
    ran = tinyabi_cli(
        "conformance", "--backend", "tflm", "--ops", "CONV_2D,DEPTHWISE_CONV_2D,SOFTMAX",
        "--cases", "1", "--generators", "pseudo-random,special",
    )  # fmt: skip
    assert ran.returncode == 0 and "cached the verdicts" in ran.stderr, ran.stderr
    record = load_record("tflm", "0.1.0", "0.1")
    assert record is not None and record.signatures["CONV_2D/int8"] == "verified"
    assert ("SOFTMAX", "int8") in verified_signatures("tflm", "0.1.0", "0.1")
    session = Session(graph, backends=["tflm"], verify=True)
    on_tflm = {n.op for n in session.plan.nodes if n.backend == "tflm"}
    assert on_tflm == {"CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX"}
    assert Session(graph, backends=["tflm"]).plan.nodes[3].backend == "tflm"  # no verify
    listing = tinyabi_cli("backends")
    tflm_lines = listing.stdout.split("\ntflm ")[1].splitlines()
    assert any(
        "verified: " in line and "signature(s) by conformance" in line for line in tflm_lines
    )
