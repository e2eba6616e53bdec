"""The plugin guide's example backend, shipped as a vendor would ship it: installed with pip
into a fresh environment that has nothing but tinyabi's core, found through its entry point,
run in a session (strict, every node on it), split by its partition limit, and put through the
conformance suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from fresh_env import CORE_DISTRIBUTIONS, FreshEnv

EXAMPLE = ROOT / "tests" / "plugins" / "tinyabi-example-backend"

SCRIPT = """
import json
import numpy as np
import tinyabi
from tinyabi.ir import GraphBuilder

rng = np.random.default_rng(4)
b = GraphBuilder("adds")

def q():
    return (float(rng.uniform(0.01, 0.1)), int(rng.integers(-20, 20)))

x = b.input("x", "int8", [1, 8, 8, 3], q())
y = b.input("y", "int8", [1, 8, 8, 3], q())
s1 = b.tensor("s1", "int8", [1, 8, 8, 3], q())
s2 = b.tensor("s2", "int8", [1, 8, 8, 3], q())
s3 = b.tensor("s3", "int8", [1, 8, 8, 3], q())
b.node("ADD", [x, y], [s1])
b.node("ADD", [s1, y], [s2], fused_activation="RELU")
b.node("ADD", [s2, x], [s3])
graph = b.build([s3])
feeds = {n: rng.integers(-128, 128, (1, 8, 8, 3)).astype(np.int8) for n in ("x", "y")}

ours = tinyabi.Session(graph, backends=["example-add"], fallback="error", strict=True)
split = tinyabi.Session(graph, backends=[("example-add", {"max_nodes": 1})], fallback="error")
reference = tinyabi.Session(graph, backends=["reference"])
want = reference.run(feeds)["s3"]
print(json.dumps({
    "backends": sorted({n.backend for n in ours.plan.nodes}),
    "same": ours.run(feeds)["s3"].tobytes() == want.tobytes(),
    "split_partitions": len(split.plan.partitions),
    "split_same": split.run(feeds)["s3"].tobytes() == want.tobytes(),
    "scratch": ours.plan.partitions[0].scratch_bytes,
}))
"""


@pytest.fixture(scope="module")
def vendor_env(tmp_path_factory: pytest.TempPathFactory) -> FreshEnv:
    root = tmp_path_factory.mktemp("example")
    env = FreshEnv(root / "venv", CORE_DISTRIBUTIONS)
    env.pip_install("-e", str(ROOT))
    package = root / "tinyabi-example-backend"
    shutil.copytree(EXAMPLE, package, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env.pip_install(str(package))
    return env


def test_the_installed_example_is_found_and_runs_every_node(vendor_env: FreshEnv) -> None:
    listing = vendor_env.run("-m", "tinyabi", "backends").stdout
    assert "example-add 1.0.0  distribution tinyabi-example-backend" in listing
    report = json.loads(vendor_env.run("-c", SCRIPT).stdout.strip().splitlines()[-1])
    assert report["backends"] == ["example-add"]
    assert report["same"]
    assert report["split_partitions"] == 3  # max_nodes=1: accept() refuses anything larger
    assert report["split_same"]
    assert report["scratch"] == 8 * 8 * 8 * 3


def test_the_installed_example_passes_conformance(vendor_env: FreshEnv, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = vendor_env.run(
        *("-m", "tinyabi", "conformance", "--backend", "example-add", "--ops", "ADD"),
        *("--cases", "30", "--json", str(out)),
    )
    assert result.returncode == 0, result.stdout
    report = json.loads(out.read_text())
    int8 = next(r for r in report["results"] if r["signature"] == "int8")
    assert int8["passed"] > 0 and int8["failed"] == 0


def test_the_guide_shows_the_example_as_it_is() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    source = (EXAMPLE / "tinyabi_example_backend" / "plugin.py").read_text()
    assert source.strip() in guide
