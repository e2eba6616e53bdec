"""Fresh virtual environments for packaging tests, built offline.

A :class:`FreshEnv` is a new virtual environment (no pip of its own) that sees only the
distributions of the running environment it is given, through a folder of symbolic links: so a
test can install a package into it with ``pip --no-index --no-deps`` and prove what that package
needs, without downloading anything.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

#: The distributions tinyabi's core installs with (its declared dependencies and theirs).
CORE_DISTRIBUTIONS = (
    "numpy",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "pluggy",
    "flatbuffers",
    "pyyaml",
    "tqdm",
    "tflite-micro",
)
#: What installing a package offline needs besides its own dependencies.
INSTALLER_DISTRIBUTIONS = ("pip", "setuptools", "wheel")


def _top_level_entries(distribution: importlib.metadata.Distribution) -> set[str]:
    """The names directly in site-packages that a distribution installed (packages, modules,
    its ``.dist-info`` folder)."""
    entries = set()
    for file in distribution.files or ():
        parts = PurePosixPath(str(file)).parts
        if parts and parts[0] not in ("..", "__pycache__"):
            entries.add(parts[0])
    return entries


class FreshEnv:
    """A new virtual environment in ``root`` that sees only ``distributions`` (and the
    installer's own) of this environment."""

    def __init__(self, root: Path, distributions: Iterable[str]) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.root = root
        self.python = str(root / "bin" / "python")
        visible = root.parent / f"{root.name}-visible"
        visible.mkdir()
        for name in dict.fromkeys([*distributions, *INSTALLER_DISTRIBUTIONS]):
            try:
                distribution = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            base = Path(str(distribution.locate_file("")))
            for entry in _top_level_entries(distribution):
                if (base / entry).exists() and not (visible / entry).exists():
                    (visible / entry).symlink_to(base / entry)
        purelib = self.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        Path(purelib.stdout.strip(), "_visible.pth").write_text(f"{visible}\n")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the environment's Python with ``args`` (no ``PYTHON*``/``TINYABI_*`` variables
        of ours leak in); with ``check``, a non-zero exit fails with the output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TINYABI_"))}
        result = subprocess.run(
            [self.python, *args], capture_output=True, text=True, env=env, timeout=300
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def pip_install(self, *args: str) -> None:
        """``pip install`` offline, without dependencies or build isolation."""
        self.run(
            *("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index"),
            *("--disable-pip-version-check", "--quiet", *args),
        )
