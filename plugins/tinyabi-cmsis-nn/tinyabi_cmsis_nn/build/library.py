"""The CMSIS-NN library a build uses: tinyabi's portable copy or a CMSIS-NN source tree.

A :class:`Library` lists every C source and header of the tree; :meth:`Library.select` gives
the sources one generated model needs (:mod:`.sources`), so a build never compiles the rest
(Arm's tree holds float16 files that only compile for FP16 targets). The same selection is
used by the host build, by the size oracle and in the generated ``Makefile``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tinyabi.errors import BackendError
from tinyabi_cmsis_nn.build.sources import SymbolIndex

#: The portable CMSIS-NN subset shipped with the plugin (``include/``, ``src/``).
PORTABLE_LIBRARY = Path(__file__).resolve().parents[1] / "csrc"
ENV_CMSIS_NN_PATH = "CMSIS_NN_PATH"


@dataclass(frozen=True)
class Library:
    """A CMSIS-NN source tree: its C files, headers, include folders and C dialect."""

    description: str
    root: Path
    sources: tuple[Path, ...]
    headers: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    std: str
    portable: bool

    def header_digest(self) -> str:
        """A SHA-256 over the headers only (what every source's object depends on)."""
        return _digest(self.std, self.headers, self.root)

    def select(self, names: Iterable[str] = (), code: str | None = None) -> tuple[Path, ...]:
        """The sources that define ``names`` and what generated ``code`` calls, with their
        callees (:meth:`.sources.SymbolIndex.select`)."""
        return _index(self).select(tuple(names), code)

    def relative(self, source: Path) -> str:
        """``source`` relative to the tree's root, with ``/``."""
        return source.relative_to(self.root).as_posix()


def _digest(std: str, files: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256(std.encode())
    for path in sorted(files):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=8)
def _index(library: Library) -> SymbolIndex:
    return SymbolIndex((*library.sources, *library.headers))


def portable_library() -> Library:
    """The portable CMSIS-NN copy shipped in ``csrc/``."""
    root = PORTABLE_LIBRARY
    return Library(
        "tinyabi's portable CMSIS-NN",
        root,
        tuple(sorted((root / "src").glob("*.c"))),
        tuple(sorted([*(root / "include").glob("*.h"), *(root / "src").glob("*.h")])),
        (root / "include",),
        "-std=c99",
        portable=True,
    )


def cmsis_nn_tree(path: Path) -> Library:
    """A CMSIS-NN source tree (``Include/``, C sources anywhere under ``Source/``)."""
    root = path.resolve()
    include = root / "Include"
    sources = tuple(sorted(p for p in (root / "Source").rglob("*.c") if p.is_file()))
    if not include.is_dir() or not sources:
        raise BackendError(
            f"cmsis-nn: {path} is not a CMSIS-NN source tree (no Include/ or Source/**/*.c)"
        )
    headers = tuple(sorted(p for folder in (include, root / "Source") for p in folder.rglob("*.h")))
    return Library(
        f"CMSIS-NN at {root}", root, sources, headers, (include, root), "-std=gnu99", False
    )


def find_library(cmsis_nn_path: str | os.PathLike[str] | None = None) -> Library:
    """The library to build with: ``cmsis_nn_path``, else ``$CMSIS_NN_PATH``, else the
    portable copy."""
    chosen = cmsis_nn_path or os.environ.get(ENV_CMSIS_NN_PATH)
    return cmsis_nn_tree(Path(chosen).expanduser()) if chosen else portable_library()
