"""tinyabi's core alone: installed with nothing but its declared dependencies, it imports, runs
the reference backend on the shared int8 models, and loads no runtime it does not use."""

from __future__ import annotations

import json

import pytest
from conftest import INT8_MODELS, ROOT, shared_model
from fresh_env import CORE_DISTRIBUTIONS, FreshEnv

#: What the core may depend on: the libraries it uses, and the distribution that carries the
#: TFLite schema module (tflite-micro: it depends on nothing outside this list).
CORE_DEPENDENCIES = {
    "numpy",
    "pydantic",
    "pluggy",
    "flatbuffers",
    "pyyaml",
    "tqdm",
    "tflite-micro",
}

SCRIPT = """
import json, sys
import numpy as np
import tinyabi
from tinyabi.backends.registry import default_registry

report = {"backends": default_registry().names(), "runs": {}}
for path in sys.argv[1:]:
    graph = tinyabi.load(path)
    session = tinyabi.Session(graph, backends=["reference"])
    rng = np.random.default_rng(0)
    feeds = {
        name: rng.integers(-128, 128, graph.tensor(name).shape).astype(np.int8)
        for name in graph.inputs
    }
    outputs = session.run(feeds)
    report["runs"][path] = [
        sorted({n.backend for n in session.plan.nodes}),
        {k: [str(v.dtype), list(v.shape)] for k, v in outputs.items()},
    ]
report["modules"] = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps(report))
"""


def _name(requirement: str) -> str:
    for stop in "<>=!~;[ ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower().replace("_", "-")


@pytest.fixture(scope="module")
def core_env(tmp_path_factory: pytest.TempPathFactory) -> FreshEnv:
    env = FreshEnv(tmp_path_factory.mktemp("core") / "venv", CORE_DISTRIBUTIONS)
    env.pip_install("-e", str(ROOT))
    return env


def test_core_declares_only_its_own_dependencies(core_env: FreshEnv) -> None:
    metadata = core_env.run(
        "-c", "import importlib.metadata as m, json; print(json.dumps(m.requires('tinyabi')))"
    )
    required = {_name(r) for r in json.loads(metadata.stdout) if "extra ==" not in r}
    assert required == CORE_DEPENDENCIES
    # Every declared dependency is satisfied by what the environment sees: nothing else needed.
    core_env.run("-m", "pip", "check", "--disable-pip-version-check")


def test_core_runs_the_shared_models_on_the_reference_backend(core_env: FreshEnv) -> None:
    paths = [str(shared_model(name)) for name in INT8_MODELS]
    result = core_env.run("-c", SCRIPT, *paths)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backends"] == ["reference"]  # no plugin is installed here
    for path in paths:
        backends, outputs = report["runs"][path]
        assert backends == ["reference"]
        assert outputs
    loaded = set(report["modules"])
    for runtime in ("ai_edge_litert", "tflite_runtime", "onnx", "onnxruntime", "tensorflow"):
        assert runtime not in loaded
