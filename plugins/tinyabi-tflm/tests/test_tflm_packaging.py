"""The plugin as a third party ships it: pip-installed into a fresh virtual environment, found
through its entry point, gone again after ``pip uninstall``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from tflm_support import PLUGIN, shared_model


def build_can_run_offline() -> bool:
    """``pip install --no-build-isolation`` needs ``bdist_wheel``: setuptools 70.1+ or wheel."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major, minor = (int(p) for p in version.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def shadow_site(target: Path) -> Path:
    """A directory of symbolic links to this environment's site-packages, without any
    installation of tinyabi-tflm (so the fresh environment sees only the one it installs)."""
    target.mkdir()
    folders = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    for folder in dict.fromkeys(folders):
        if not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            lowered = entry.name.lower().replace("-", "_")
            if "tinyabi_tflm" in lowered or (target / entry.name).exists():
                continue
            (target / entry.name).symlink_to(entry)
    return target


class Venv:
    """A fresh virtual environment that sees this one's packages but not the plugin."""

    def __init__(self, root: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = str(root / "bin" / "python")
        purelib = self.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        shadow = shadow_site(root.parent / "outer-site")
        line = f"import site; site.addsitedir({str(shadow)!r})\n"
        Path(purelib.stdout.strip(), "_outer_environment.pth").write_text(line)
        self.cwd = root.parent

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TINYABI_"))}
        result = subprocess.run(
            [self.python, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=getattr(self, "cwd", None),
            timeout=120,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def pip(self, *args: str) -> None:
        self.run("-m", "pip", *args, "--disable-pip-version-check", "--quiet")


def backend_names(venv: Venv) -> set[str]:
    """The backends ``tinyabi backends`` lists in the environment (first word of each entry)."""
    listing = venv.run("-m", "tinyabi", "backends").stdout
    return {line.split()[0] for line in listing.splitlines() if line and not line[0].isspace()}


SESSION = """
import sys, numpy as np, tinyabi, tinyabi_tflm
s = tinyabi.Session(sys.argv[1], backends=["tflm"], fallback="error")
s.run([np.zeros((1, 640), np.int8)])
print(tinyabi_tflm.__file__, [p.backend for p in s.plan.partitions])
"""

FAILING_SESSION = """
import sys, tinyabi
try:
    tinyabi.Session(sys.argv[1], backends=["tflm"])
except tinyabi.errors.TinyABIError as exc:
    print(exc)
"""


def test_pip_install_registers_both_backends_and_uninstall_removes_them(
    tmp_path: Path,
) -> None:
    if not build_can_run_offline():
        message = "building the plugin offline needs setuptools>=70.1 or the wheel package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    model = str(shared_model("ad01_int8"))
    venv = Venv(tmp_path / "venv")
    assert backend_names(venv) & {"tflm", "litert"} == set(), "the plugin must not be seen yet"

    package = tmp_path / "tinyabi-tflm"
    shutil.copytree(
        PLUGIN,
        package,
        ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"),
    )
    venv.pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(package))
    listing = venv.run("-m", "tinyabi", "backends").stdout
    lines = listing.splitlines()
    assert any(line.startswith("tflm 0.1.0  distribution tinyabi-tflm") for line in lines)
    assert any(line.startswith("litert 0.1.0  distribution tinyabi-tflm") for line in lines)
    assert "tflite.UNIDIRECTIONAL_SEQUENCE_LSTM" in listing
    assert not [line for line in lines if line.startswith("warning") and "tflm" in line]
    ran = venv.run("-c", SESSION, model).stdout
    assert str(tmp_path / "venv") in ran and "['tflm']" in ran

    venv.pip("uninstall", "-y", "tinyabi-tflm")
    assert backend_names(venv) & {"tflm", "litert"} == set()
    message = venv.run("-c", FAILING_SESSION, model).stdout.strip()
    assert message.count("\n") == 0
    assert "unknown backend 'tflm'" in message and "installed" in message
    cli = venv.run("-m", "tinyabi", "run", model, "--backends", "tflm", check=False)
    assert cli.returncode == 2
    assert len(cli.stderr.strip().splitlines()) == 1 and "unknown backend 'tflm'" in cli.stderr
