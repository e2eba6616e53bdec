"""The plugin API is stated and kept: every module says what it exports, and the plugins in
``plugins/`` import nothing from tinyabi but the modules listed in ``PLUGIN_API_MODULES``."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pluggy
import pytest
from conftest import ROOT

import tinyabi

#: The plugins of this repository and the plugin guide's example (the toy test fixture borrows
#: the reference backend's partition on purpose and is left out).
PLUGIN_SOURCES = sorted(
    path
    for package in [
        *(ROOT / "plugins").glob("*/tinyabi_*"),
        ROOT / "tests" / "plugins" / "tinyabi-example-backend" / "tinyabi_example_backend",
    ]
    if package.is_dir()
    for path in package.rglob("*.py")
)


def _tinyabi_modules() -> list[str]:
    names = ["tinyabi"]
    for info in pkgutil.walk_packages(tinyabi.__path__, "tinyabi."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _tinyabi_modules())
def test_every_module_says_what_it_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names {missing}, which it does not define"


def test_the_plugin_api_modules_exist_and_export_something() -> None:
    for name in tinyabi.PLUGIN_API_MODULES:
        assert importlib.import_module(name).__all__, name


def test_hookimpl_is_tinyabis_marker() -> None:
    assert isinstance(tinyabi.hookimpl, pluggy.HookimplMarker)
    assert tinyabi.hookimpl.project_name == "tinyabi"


def _tinyabi_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` for every import of a tinyabi module (``name`` is ``None`` for
    ``import module``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name, None)
                for a in node.names
                if a.name == "tinyabi" or a.name.startswith("tinyabi.")
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and (node.module == "tinyabi" or node.module.startswith("tinyabi."))
        ):
            found += [(node.lineno, node.module, a.name) for a in node.names]
    return found


def test_plugins_import_only_the_plugin_api() -> None:
    assert PLUGIN_SOURCES, "no plugin sources found"
    allowed = set(tinyabi.PLUGIN_API_MODULES)
    problems = []
    for path in PLUGIN_SOURCES:
        for line, module, name in _tinyabi_imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module not in allowed:
                problems.append(f"{where}: imports {module}, which is not in the plugin API")
                continue
            exported = importlib.import_module(module).__all__
            submodule = f"{module}.{name}"
            if name is not None and name not in exported and submodule not in allowed:
                problems.append(f"{where}: {module}.{name} is not in {module}.__all__")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_an_internal_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from tinyabi.kernels.registry import prepare\nimport tinyabi.session\n")
    modules = [module for _, module, _ in _tinyabi_imports(sample)]
    assert modules == ["tinyabi.kernels.registry", "tinyabi.session"]
    assert not set(modules) & set(tinyabi.PLUGIN_API_MODULES)
