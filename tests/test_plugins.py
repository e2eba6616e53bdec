"""The plugin system: hook documentation, discovery, the environment switches, problems,
the backend listing, and a third-party plugin package installed into a fresh environment."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import NO_ARGUMENT_PLUGIN, UNKNOWN_HOOK_PLUGIN, ToyA, toy_registry
from tests.conftest import ROOT, shared_model
from tinyabi import hookspecs
from tinyabi.backends import registry as registry_module
from tinyabi.backends.registry import (
    ENV_BLOCK,
    ENV_DISABLE_AUTOLOAD,
    PluginError,
    build_registry,
    create_plugin_manager,
    default_registry,
    describe_backends,
    reset_default_registry,
)
from tinyabi.spec import SPEC_VERSION, load_spec

TOY_PACKAGE = Path(__file__).parent / "plugins" / "tinyabi-toy-backend"

# --- hook specifications ----------------------------------------------------------------------


def hook_specs() -> list[object]:
    return [
        obj
        for name, obj in vars(hookspecs).items()
        if name.startswith("tinyabi_") and hasattr(obj, "tinyabi_spec")
    ]


def test_there_are_hooks() -> None:
    names = {getattr(h, "__name__", "") for h in hook_specs()}
    assert {"tinyabi_register_backends", "tinyabi_load_model"} <= names


@pytest.mark.parametrize("hook", hook_specs(), ids=lambda h: getattr(h, "__name__", "?"))
def test_every_hook_says_when_it_is_called_and_about_its_result(hook: object) -> None:
    doc = inspect.getdoc(hook) or ""
    assert len(doc) > 100, "document the hook"
    assert "Called" in doc, "say when the hook is called"
    assert "return" in doc.lower() or "result" in doc.lower(), "say what the result means"
    for name in inspect.signature(hook).parameters:  # type: ignore[arg-type]
        assert name in doc, f"document the argument {name!r}"


# --- discovery --------------------------------------------------------------------------------


@pytest.fixture()
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[importlib.metadata.EntryPoint]]:
    """Pretend the installed ``tinyabi`` entry points are the ones the test appends."""
    found: list[importlib.metadata.EntryPoint] = []

    def fake(**params: str) -> list[importlib.metadata.EntryPoint]:
        assert params == {"group": "tinyabi"}
        return list(found)

    monkeypatch.delenv(ENV_DISABLE_AUTOLOAD, raising=False)
    monkeypatch.delenv(ENV_BLOCK, raising=False)
    monkeypatch.setattr(registry_module.importlib.metadata, "entry_points", fake)
    reset_default_registry()
    yield found
    reset_default_registry()


def entry_point(name: str, target: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=target, group="tinyabi")


def registry_now() -> registry_module.BackendRegistry:
    return build_registry(*create_plugin_manager())


def test_entry_points_are_loaded(entry_points: list[importlib.metadata.EntryPoint]) -> None:
    entry_points.append(entry_point("toys", "tests.backends:PLUGIN_AB"))
    registry = registry_now()
    assert registry.names() == ["reference", "toy-a", "toy-b"]
    assert registry.get("toy-a").plugin == "toys"
    assert registry.problems == []
    assert default_registry().names() == ["reference", "toy-a", "toy-b"]


def test_environment_variable_disables_autoload(
    entry_points: list[importlib.metadata.EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_points.append(entry_point("toys", "tests.backends:PLUGIN_AB"))
    monkeypatch.setenv(ENV_DISABLE_AUTOLOAD, "1")
    assert registry_now().names() == ["reference"]
    assert default_registry().names() == ["reference"]
    # An explicit argument wins over the environment.
    assert build_registry(*create_plugin_manager(autoload=True)).names()[-1] == "toy-b"


def test_block_list(
    entry_points: list[importlib.metadata.EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_points += [
        entry_point("toys", "tests.backends:PLUGIN_AB"),
        entry_point("broken", "tests.backends:RAISING_PLUGIN"),
    ]
    monkeypatch.setenv(ENV_BLOCK, " broken , unrelated")
    registry = registry_now()
    assert registry.names() == ["reference", "toy-a", "toy-b"]
    assert registry.problems == []
    monkeypatch.setenv(ENV_BLOCK, "toys,broken")
    assert registry_now().names() == ["reference"]


def test_unknown_hook_is_an_error_naming_the_plugin(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    entry_points.append(entry_point("misspelt", "tests.backends:UNKNOWN_HOOK_PLUGIN"))
    with pytest.raises(PluginError) as info:
        create_plugin_manager()
    message = str(info.value)
    assert "plugin 'misspelt'" in message
    assert "unknown hook 'tinyabi_register_backend'" in message
    assert "tinyabi_register_backends" in message.split("defines are")[1]
    # The same for a plugin given directly.
    with pytest.raises(PluginError, match=r"plugin 'direct'.*unknown hook"):
        create_plugin_manager(autoload=False, plugins={"direct": UNKNOWN_HOOK_PLUGIN})


def test_plugin_raising_in_registration_is_a_problem_not_a_crash(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    entry_points += [
        entry_point("broken", "tests.backends:RAISING_PLUGIN"),
        entry_point("missing", "tinyabi_no_such_module:plugin"),
        entry_point("sloppy", "tests.backends:SLOPPY_PLUGIN"),
        entry_point("toys", "tests.backends:PLUGIN_AB"),
    ]
    registry = registry_now()
    assert registry.names() == ["reference", "toy-a", "toy-b"]
    assert registry.get("toy-a").plugin == "broken"  # registered before it raised
    problems = "\n".join(registry.problems)
    assert len(registry.problems) == 6, problems
    assert (
        "plugin 'broken' failed to register backends: RuntimeError: registration exploded"
        in problems
    )
    assert "plugin 'missing' (?) failed to load: ModuleNotFoundError" in problems
    assert "plugin 'sloppy': <class 'int'> is not a subclass of tinyabi.backends.Backend" in (
        problems
    )
    assert "plugin 'sloppy': backend 'toy-a' is already registered by 'broken'" in problems
    assert "plugin 'toys': backend 'toy-a' is already registered by 'broken'" in problems
    listing = describe_backends(registry)
    for problem in registry.problems:
        assert f"warning: {problem}" in listing


def test_same_plugin_under_two_names_is_a_problem(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    entry_points += [
        entry_point("toys", "tests.backends:PLUGIN_AB"),
        entry_point("toys-again", "tests.backends:PLUGIN_AB"),
    ]
    registry = registry_now()
    assert registry.names() == ["reference", "toy-a", "toy-b"]
    (problem,) = registry.problems
    assert problem.startswith("plugin 'toys-again' (?) skipped:")


def test_implementations_may_take_fewer_arguments() -> None:
    pm, distributions, problems = create_plugin_manager(
        autoload=False, plugins={"quiet": NO_ARGUMENT_PLUGIN}
    )
    registry = build_registry(pm, distributions, problems)
    assert NO_ARGUMENT_PLUGIN.called
    assert registry.problems == []


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(Exception, match=r"unknown backend 'npu'.*reference, toy-a"):
        toy_registry([ToyA]).get("npu")


# --- listing --------------------------------------------------------------------------------------


def test_listing_describes_the_reference_backend() -> None:
    listing = describe_backends(toy_registry([ToyA]))
    lines = listing.splitlines()
    assert lines[0] == (
        f"reference 0.1.0  distribution tinyabi, plugin 'reference'  spec {SPEC_VERSION}  "
        "profile full"
    )
    spec = load_spec()
    add = ", ".join(s.name for s in spec.operators["ADD"].signatures)
    assert lines[1].startswith(f"  operators ({len(spec.operators)}): ADD ({add})")
    assert "CONV_2D (int8, " in listing and "SOFTMAX (int8, " in listing
    assert all(len(line) <= 100 for line in lines if "QUANTIZE" not in line)
    assert (
        f"toy-a 1.2.3  distribution ?, plugin 'toy-plugin'  spec {SPEC_VERSION}  profile int8"
    ) in lines
    verbose = describe_backends(toy_registry([ToyA]), verbose=True).splitlines()
    conv = ", ".join(sig.name for sig in load_spec().operators["CONV_2D"].signatures)
    assert f"    CONV_2D ({conv})" in verbose


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinyabi", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


def test_cli_lists_the_reference_backend() -> None:
    result = run_cli("backends")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    for word in ["reference", "0.1.0", "tinyabi", f"spec {SPEC_VERSION}", "profile full"]:
        assert word in first
    assert f"operators ({len(load_spec().operators)}): ADD (int8" in result.stdout


# --- the vendor path: a separate package, installed ------------------------------------------


def build_can_run_offline() -> bool:
    """``pip install --no-build-isolation`` of a setuptools package needs ``bdist_wheel``:
    setuptools 70.1 or later, or the ``wheel`` package."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major, minor = (int(p) for p in version.split(".")[:2])
    has_wheel = importlib.util.find_spec("wheel") is not None
    return (major, minor) >= (70, 1) or has_wheel


SESSION_SCRIPT = """
import json, sys
import numpy as np
import tinyabi
graph = tinyabi.load(sys.argv[1])
toy = tinyabi.Session(graph, backends=["toy"])
ref = tinyabi.Session(graph, backends=["reference"])
x = np.random.default_rng(0).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape)
feeds = [x.astype(np.int8)]
a, b = toy.run(feeds), ref.run(feeds)
print(toy.plan)
print(json.dumps({
    "toy_nodes": [n.node for n in toy.plan.nodes if n.backend == "toy"],
    "same": all(a[k].tobytes() == b[k].tobytes() for k in b) and list(a) == list(b),
    "module": tinyabi.__file__,
}))
"""


class Venv:
    """A fresh virtual environment with the toy plugin installed."""

    def __init__(self, python: str, env: dict[str, str], cwd: Path) -> None:
        self.python, self.env, self.cwd = python, env, cwd

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run its Python with ``args`` (and extra environment variables); fails on errors."""
        result = subprocess.run(
            [self.python, *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            cwd=self.cwd,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result


@pytest.fixture(scope="module")
def toy_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """``tests/plugins/tinyabi-toy-backend`` installed with pip into a new virtual environment
    that also sees this environment's packages (so nothing is downloaded)."""
    if not build_can_run_offline():
        message = "building the toy plugin offline needs setuptools>=70.1 or the wheel package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    tmp_path = tmp_path_factory.mktemp("vendor")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The new environment sees this one's packages (tinyabi, numpy, pip, setuptools...):
    # addsitedir also runs their .pth files, which the editable install of tinyabi needs.
    ours = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    if site.ENABLE_USER_SITE:
        ours.append(site.getusersitepackages())
    lines = [f"import site; site.addsitedir({d!r})" for d in dict.fromkeys(ours)]
    Path(purelib, "_outer_environment.pth").write_text("\n".join(lines) + "\n")
    package = tmp_path / "tinyabi-toy-backend"
    shutil.copytree(TOY_PACKAGE, package, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINYABI_", "PYTHON"))}
    venv_ = Venv(python, env, tmp_path)
    venv_.run(
        *("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index"),
        *("--disable-pip-version-check", "--quiet", str(package)),
    )
    return venv_


def test_installed_plugin_takes_nodes_in_a_session(toy_venv: Venv) -> None:
    result = toy_venv.run("-c", SESSION_SCRIPT, str(shared_model("kws_ref_model")))
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["module"].startswith(str(ROOT))
    assert report["toy_nodes"] == ["average_pool_2d_9"], result.stdout
    assert report["same"]
    assert " toy " in result.stdout  # the printed plan shows the toy backend


LIST = "import tinyabi.backends.registry as r; print(r.describe_backends(r.default_registry()))"


def test_installed_plugin_is_listed(toy_venv: Venv) -> None:
    listing = toy_venv.run("-c", LIST).stdout
    assert listing.startswith("reference 0.1.0")
    assert (
        "toy 0.3.0  distribution tinyabi-toy-backend, plugin 'toy'  spec 0.1  profile int8"
        in listing.splitlines()
    )
    assert "  operators (2): AVERAGE_POOL_2D (int8, float32), RELU (int8, float32)" in listing
    assert "warning" not in listing
    blocked = toy_venv.run("-c", LIST, TINYABI_BLOCK_PLUGINS="toy").stdout
    assert "toy 0.3.0" not in blocked
    disabled = toy_venv.run("-c", LIST, TINYABI_DISABLE_PLUGIN_AUTOLOAD="1").stdout
    assert "toy 0.3.0" not in disabled


def test_cli_lists_the_installed_plugin(toy_venv: Venv) -> None:
    result = toy_venv.run("-m", "tinyabi", "backends")
    assert result.stdout.startswith("reference")
    assert "toy 0.3.0" in result.stdout


def test_plugin_guide_is_up_to_date() -> None:
    from pathlib import Path

    from tinyabi.backends.guide import render_plugin_guide

    committed = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    assert committed == render_plugin_guide(), (
        "docs/plugins.md is out of date: run `python -m tinyabi.backends.guide > docs/plugins.md`"
    )
