"""Build generated models for the host and run them through ctypes.

The CMSIS-NN library (the portable copy in ``csrc/``, or a real CMSIS-NN tree given by the
backend option ``cmsis_nn_path`` or the ``CMSIS_NN_PATH`` environment variable) is compiled
once into position-independent objects and a shared library (the latter serves the buffer-size
oracle). Each generated model is compiled with those objects into ``libmodel.so`` with
``gcc -O2 -shared -fPIC``. Both are cached by a SHA-256 of everything that goes into them, under
``cmsis-nn/`` in tinyabi's cache directory (``$TINYABI_CACHE_DIR``), so a second session on
the same model compiles nothing. The host compiler is ``gcc`` unless the backend option ``cc``
or ``TINYABI_HOST_CC`` says otherwise.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tinyabi.backends import CompiledPartition, MemoryNeeds
from tinyabi.cache import ENV_CACHE_DIR as ENV_CACHE_DIR
from tinyabi.cache import cache_dir as tinyabi_cache_dir
from tinyabi.errors import BackendError
from tinyabi.ir import Graph
from tinyabi_cmsis_nn.codegen.emit import ALIGNMENT, GeneratedModel, generate
from tinyabi_cmsis_nn.codegen.sizes import SizeOracle

#: The portable CMSIS-NN subset shipped with the plugin.
PORTABLE_LIBRARY = Path(__file__).resolve().parents[1] / "csrc"
ENV_CMSIS_NN_PATH = "CMSIS_NN_PATH"
ENV_HOST_CC = "TINYABI_HOST_CC"
#: Changes whenever the build recipe below changes, so old cache entries are not reused.
RECIPE = "tinyabi-cmsis-nn host build 1"
OPT_FLAGS = ("-O2", "-fPIC")
WARN_FLAGS = ("-Wall", "-Wextra")

#: How many times this process has run the compiler (tests check that the cache works).
compiler_runs = 0
_count_lock = threading.Lock()


@dataclass(frozen=True)
class Library:
    """A CMSIS-NN source tree: its C files, include folders and C dialect."""

    description: str
    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    std: str

    def digest(self) -> str:
        """A SHA-256 over the library's headers and sources."""
        h = hashlib.sha256(self.std.encode())
        files = {*self.sources}
        for folder in self.include_dirs:
            files.update(folder.glob("*.h"))
            files.update(folder.glob("*/*.h"))
        for path in sorted(files):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()


def portable_library() -> Library:
    """The portable CMSIS-NN copy shipped in ``csrc/``."""
    sources = tuple(sorted((PORTABLE_LIBRARY / "src").glob("*.c")))
    return Library(
        "tinyabi's portable CMSIS-NN", sources, (PORTABLE_LIBRARY / "include",), "-std=c99"
    )


def cmsis_nn_tree(path: Path) -> Library:
    """A real CMSIS-NN source tree (``Include/``, ``Source/<group>/*.c``)."""
    include = path / "Include"
    sources = tuple(sorted(path.glob("Source/*/*.c")))
    if not include.is_dir() or not sources:
        raise BackendError(
            f"cmsis-nn: {path} is not a CMSIS-NN source tree (no Include/ or Source/*/*.c)"
        )
    return Library(f"CMSIS-NN at {path}", sources, (include, path), "-std=gnu99")


def find_library(cmsis_nn_path: str | os.PathLike[str] | None = None) -> Library:
    """The library to build with: ``cmsis_nn_path``, else ``$CMSIS_NN_PATH``, else the
    portable copy."""
    chosen = cmsis_nn_path or os.environ.get(ENV_CMSIS_NN_PATH)
    return cmsis_nn_tree(Path(chosen).expanduser()) if chosen else portable_library()


def cache_dir() -> Path:
    """Where builds are cached: ``cmsis-nn`` in tinyabi's cache directory
    (:func:`tinyabi.cache.cache_dir`)."""
    return tinyabi_cache_dir("cmsis-nn")


def host_compiler(cc: str | None = None) -> str:
    """The host C compiler: ``cc``, else ``$TINYABI_HOST_CC``, else ``gcc``."""
    return cc or os.environ.get(ENV_HOST_CC) or "gcc"


def run_compiler(args: Sequence[str], what: str, cwd: Path | None = None) -> None:
    """Run a compiler command; a failure is a :class:`BackendError` naming ``what``."""
    global compiler_runs
    with _count_lock:
        compiler_runs += 1
    try:
        result = subprocess.run(
            list(args), cwd=cwd, capture_output=True, text=True, check=False, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"cmsis-nn: {what}: cannot run {args[0]!r}: {exc}") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-25:]
        raise BackendError(
            f"cmsis-nn: {what}: {args[0]} failed (exit {result.returncode}):\n" + "\n".join(tail)
        )


def _publish(build: Path, final: Path) -> Path:
    """Move a finished build folder into the cache (another process may have won the race)."""
    try:
        build.rename(final)
    except OSError:
        if not (final / "done").exists():
            raise
        shutil.rmtree(build, ignore_errors=True)
    return final


@dataclass(frozen=True)
class BuiltLibrary:
    """A host build of a CMSIS-NN library: its objects and a shared library of them."""

    library: Library
    objects: tuple[Path, ...]
    shared: Path


def build_library(library: Library, cc: str | None = None) -> BuiltLibrary:
    """Compile ``library`` for the host (cached)."""
    compiler = host_compiler(cc)
    key = hashlib.sha256(
        "\0".join((RECIPE, compiler, *OPT_FLAGS, library.digest())).encode()
    ).hexdigest()
    final = cache_dir() / f"lib-{key}"
    if not (final / "done").exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="build-", dir=final.parent))
        includes = [f"-I{d}" for d in library.include_dirs]

        def compile_one(item: tuple[int, Path]) -> None:
            index, source = item
            run_compiler(
                [
                    compiler,
                    *OPT_FLAGS,
                    library.std,
                    *includes,
                    "-c",
                    str(source),
                    "-o",
                    str(build / f"{index:04d}_{source.stem}.o"),
                ],
                f"compiling {library.description} ({source.name})",
            )

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(compile_one, enumerate(library.sources)))
        objects = sorted(str(p) for p in build.glob("*.o"))
        run_compiler(
            [compiler, "-shared", *OPT_FLAGS, *objects, "-o", str(build / "libcmsisnn.so")],
            f"linking {library.description}",
        )
        (build / "done").write_text(library.description + "\n", encoding="utf-8")
        _publish(build, final)
    return BuiltLibrary(library, tuple(sorted(final.glob("*.o"))), final / "libcmsisnn.so")


@lru_cache(maxsize=8)
def _oracle(shared: Path) -> SizeOracle:
    return SizeOracle(shared)


def size_oracle(built: BuiltLibrary) -> SizeOracle:
    """The buffer-size oracle of a built library (loaded once per process)."""
    return _oracle(built.shared)


def build_model(
    generated: GeneratedModel, built: BuiltLibrary, cc: str | None = None, what: str = "model"
) -> Path:
    """Compile the generated sources with the library into ``libmodel.so`` (cached)."""
    compiler = host_compiler(cc)
    flags = (*OPT_FLAGS, built.library.std, *WARN_FLAGS)
    key = hashlib.sha256(
        "\0".join((RECIPE, compiler, *flags, built.library.digest(), generated.digest())).encode()
    ).hexdigest()
    final = cache_dir() / key
    if not (final / "done").exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="build-", dir=final.parent))
        for name in ("model.h", "model.c", "model_data.c"):
            (build / name).write_text(generated.files[name], encoding="utf-8")
        run_compiler(
            [
                compiler,
                "-shared",
                *flags,
                f"-I{build}",
                *(f"-I{d}" for d in built.library.include_dirs),
                str(build / "model.c"),
                str(build / "model_data.c"),
                *(str(o) for o in built.objects),
                "-o",
                str(build / "libmodel.so"),
            ],
            f"compiling {what}",
        )
        (build / "done").write_text(generated.digest() + "\n", encoding="utf-8")
        _publish(build, final)
    return final / "libmodel.so"


class ModelTensor(ctypes.Structure):
    """``model_tensor_t`` of the generated ``model.h``."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int32 * 6),
        ("scale", ctypes.c_float),
        ("zero_point", ctypes.c_int32),
        ("size", ctypes.c_size_t),
        ("arena_offset", ctypes.c_size_t),
    ]


#: Which HostModel last initialized each loaded library (one dlopen handle per path, so the
#: generated code's arena pointer is shared between models loaded from the same file).
_active: dict[str, int] = {}
#: One lock per loaded library: its code keeps the arena pointer in a static variable and is
#: not re-entrant, while different libraries run in parallel (ctypes releases the GIL).
_library_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _library_lock(path: str) -> threading.Lock:
    with _locks_lock:
        return _library_locks.setdefault(path, threading.Lock())


class HostModel:
    """A loaded ``libmodel.so`` with its own arena; runs of models loaded from the same file
    (from any thread) take turns."""

    def __init__(self, path: Path, generated: GeneratedModel, what: str) -> None:
        self.path = str(path)
        self.generated = generated
        self.what = what
        lib = ctypes.CDLL(self.path)
        lib.model_init.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.model_init.restype = ctypes.c_int
        lib.model_run.argtypes = []
        lib.model_run.restype = ctypes.c_int
        for getter in (lib.model_input, lib.model_output):
            getter.argtypes = [ctypes.c_int]
            getter.restype = ctypes.POINTER(ModelTensor)
        self._lib = lib
        self._lock = _library_lock(self.path)
        total = generated.layout.total
        raw = np.zeros(total + ALIGNMENT, dtype=np.uint8)
        start = (-raw.ctypes.data) % ALIGNMENT
        self._raw = raw
        self.arena = raw[start : start + total]
        self.inputs = [self._tensor(lib.model_input, i) for i in range(len(generated.inputs))]
        self.outputs = [self._tensor(lib.model_output, i) for i in range(len(generated.outputs))]

    @staticmethod
    def _tensor(getter: ctypes._CFuncPtr, index: int) -> ModelTensor:  # type: ignore[name-defined]
        pointer = getter(index)
        if not pointer:
            raise BackendError(f"cmsis-nn: the generated model has no tensor {index}")
        return pointer.contents

    def _init(self) -> None:
        status = self._lib.model_init(self.arena.ctypes.data, self.arena.size)
        if status != 0:
            raise BackendError(f"cmsis-nn: {self.what}: model_init returned {status}")
        _active[self.path] = id(self)

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Copy ``arrays`` (in input order) in, run, and copy the outputs out."""
        arena = self.arena
        with self._lock:
            if _active.get(self.path) != id(self):
                self._init()
            for tensor, array in zip(self.inputs, arrays):
                data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
                if data.size != tensor.size:
                    raise BackendError(
                        f"cmsis-nn: {self.what}: input {tensor.name!r} has {data.size} bytes, "
                        f"expected {tensor.size}"
                    )
                arena[tensor.arena_offset : tensor.arena_offset + tensor.size] = data
            status = self._lib.model_run()
            if status != 0:
                raise BackendError(f"cmsis-nn: {self.what}: {self._describe_failure(status)}")
            return [
                arena[t.arena_offset : t.arena_offset + t.size].copy().view(np.int8)
                for t in self.outputs
            ]

    def _describe_failure(self, status: int) -> str:
        layers = self.generated.layers
        if 1 <= status <= len(layers):
            layer = layers[status - 1]
            return f"model_run failed in layer {layer.index} ({layer.op}, {layer.entry})"
        return f"model_run returned {status}"

    def __del__(self) -> None:
        try:
            if _active.get(self.path) == id(self):
                del _active[self.path]
        except Exception:  # interpreter shutdown, or a half-constructed object
            pass


class HostPartition(CompiledPartition):
    """A partition compiled for the host: the generated C code in a shared library."""

    def __init__(self, graph: Graph, model: HostModel) -> None:
        self.graph = graph
        self.model = model
        layout = model.generated.layout
        self.memory = MemoryNeeds(persistent=layout.persistent, scratch=layout.scratch)
        self._shapes = [graph.tensor(n).shape for n in graph.outputs]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [np.asarray(inputs[name], dtype=np.int8) for name in self.graph.inputs]
        results = self.model.run(arrays)
        return {
            name: value.reshape(shape)
            for name, value, shape in zip(self.graph.outputs, results, self._shapes)
        }


def compile_host(
    graph: Graph,
    cmsis_nn_path: str | os.PathLike[str] | None = None,
    cc: str | None = None,
) -> HostPartition:
    """Generate, build (or take from the cache) and load ``graph`` for the host."""
    what = f"partition {graph.name!r}"
    try:
        built = build_library(find_library(cmsis_nn_path), cc)
    except BackendError as exc:
        raise BackendError(f"{exc}\n(while compiling {what})") from None
    generated = generate(graph, size_oracle(built))
    path = build_model(generated, built, cc, what)
    return HostPartition(graph, HostModel(path, generated, what))
