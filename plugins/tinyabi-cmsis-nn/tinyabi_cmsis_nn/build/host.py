"""Build generated models for the host and run them through ctypes.

Of the CMSIS-NN library (the portable copy in ``csrc/``, or a real CMSIS-NN tree given by the
backend option ``cmsis_nn_path`` or the ``CMSIS_NN_PATH`` environment variable: see
:mod:`.library`) only the sources a build needs are compiled, each into a position-independent
object: those of the ``*_get_buffer_size`` functions for the buffer-size oracle (a small
shared library), and those the generated ``model.c`` calls, linked with it into
``libmodel.so`` with ``gcc -O2 -shared -fPIC``. Everything is cached by a SHA-256 of what
goes into it, under ``cmsis-nn/`` in tinyabi's cache directory (``$TINYABI_CACHE_DIR``),
so a second session on the same model compiles nothing. The host compiler is ``gcc`` unless
the backend option ``cc`` or ``TINYABI_HOST_CC`` says otherwise.
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
from functools import lru_cache
from pathlib import Path

import numpy as np

from tinyabi.backends import CompiledPartition, MemoryNeeds
from tinyabi.cache import ENV_CACHE_DIR as ENV_CACHE_DIR
from tinyabi.cache import cache_dir as tinyabi_cache_dir
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, numpy_dtype
from tinyabi_cmsis_nn.build.diagnostics import summary
from tinyabi_cmsis_nn.build.library import (
    ENV_CMSIS_NN_PATH,
    PORTABLE_LIBRARY,
    Library,
    cmsis_nn_tree,
    find_library,
    portable_library,
)
from tinyabi_cmsis_nn.codegen.banding import Optimise
from tinyabi_cmsis_nn.codegen.emit import ALIGNMENT, GeneratedModel, generate
from tinyabi_cmsis_nn.codegen.sizes import SIZE_FUNCTIONS, VARIANTS, SizeOracle, variant_of

__all__ = [
    "ENV_CMSIS_NN_PATH",
    "PORTABLE_LIBRARY",
    "HostModel",
    "HostPartition",
    "Library",
    "build_model",
    "cmsis_nn_tree",
    "compile_host",
    "compile_sources",
    "find_library",
    "portable_library",
    "size_oracle",
]

ENV_HOST_CC = "TINYABI_HOST_CC"
#: Changes whenever the build recipe below changes, so old cache entries are not reused.
RECIPE = "tinyabi-cmsis-nn host build 2"
OPT_FLAGS = ("-O2", "-fPIC")
WARN_FLAGS = ("-Wall", "-Wextra")
#: Every symbol the model's shared library uses must be defined (a missing library source
#: is a build error, not a failure when the library is loaded).
LINK_FLAGS = ("-Wl,-z,defs",)

#: How many times this process has run the compiler (tests check that the cache works).
compiler_runs = 0
_count_lock = threading.Lock()


def cache_dir() -> Path:
    """Where builds are cached: ``cmsis-nn`` in tinyabi's cache directory
    (:func:`tinyabi.cache.cache_dir`)."""
    return tinyabi_cache_dir("cmsis-nn")


def host_compiler(cc: str | None = None) -> str:
    """The host C compiler: ``cc``, else ``$TINYABI_HOST_CC``, else ``gcc``."""
    return cc or os.environ.get(ENV_HOST_CC) or "gcc"


def run_compiler(
    args: Sequence[str], what: str, cwd: Path | None = None, source: str | None = None
) -> None:
    """Run a compiler command; a failure is a one-line :class:`BackendError` naming ``what``,
    the failing source file (``source``, else the one the compiler names) and the compiler's
    first error line."""
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
        detail = summary(result.stderr + result.stdout, source)
        raise BackendError(
            f"cmsis-nn: {what}: {args[0]} failed (exit {result.returncode}): {detail}"
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


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join((RECIPE, *parts)).encode()).hexdigest()


def compile_sources(library: Library, sources: Sequence[Path], cc: str | None = None) -> list[Path]:
    """Compile ``sources`` of ``library`` for the host into position-independent objects,
    each cached by the compiler, the flags, the library's headers and the file itself."""
    compiler = host_compiler(cc)
    headers = library.header_digest()
    folder = cache_dir() / "objects"
    includes = [f"-I{d}" for d in library.include_dirs]

    def compile_one(source: Path) -> Path:
        key = _key(compiler, *OPT_FLAGS, headers, library.relative(source))
        key = _key(key, hashlib.sha256(source.read_bytes()).hexdigest())
        final = folder / f"{source.stem}-{key[:32]}.o"
        if not final.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f"{source.stem}-", suffix=".o", dir=folder)
            os.close(fd)
            try:
                run_compiler(
                    [
                        compiler,
                        *OPT_FLAGS,
                        library.std,
                        *includes,
                        "-c",
                        str(source),
                        "-o",
                        temporary,
                    ],
                    f"compiling {library.description}",
                    source=library.relative(source),
                )
                os.replace(temporary, final)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        return final

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(compile_one, sources))


def size_library(library: Library, cc: str | None = None) -> Path:
    """A shared library of the library's ``*_get_buffer_size`` functions (all variants) and
    what they call, for :class:`~.sizes.SizeOracle` (cached)."""
    names = [f + suffix for f in SIZE_FUNCTIONS for suffix in VARIANTS]
    objects = compile_sources(library, library.select(names), cc)
    compiler = host_compiler(cc)
    key = _key("sizes", compiler, *OPT_FLAGS, *(o.name for o in objects))
    final = cache_dir() / f"sizes-{key[:40]}.so"
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f"{final.stem}.{os.getpid()}.{threading.get_ident()}.so")
        run_compiler(
            [compiler, "-shared", *OPT_FLAGS, *map(str, objects), "-o", str(temporary)],
            f"linking the buffer-size functions of {library.description}",
        )
        os.replace(temporary, final)
    return final


@lru_cache(maxsize=8)
def _oracle(shared: Path) -> SizeOracle:
    return SizeOracle(shared)


def size_oracle(library: Library, cc: str | None = None, target: str | None = "host") -> SizeOracle:
    """The buffer-size oracle of ``library`` for ``target`` (``None``: the largest size of any
    core; the library is loaded once per process)."""
    return _oracle(size_library(library, cc)).for_variant(variant_of(target))


def build_model(
    generated: GeneratedModel, library: Library, cc: str | None = None, what: str = "model"
) -> Path:
    """Compile the generated sources with the library sources they need into
    ``libmodel.so`` (cached)."""
    compiler = host_compiler(cc)
    objects = compile_sources(library, library.select(code=generated.files["model.c"]), cc)
    flags = (*OPT_FLAGS, library.std, *WARN_FLAGS)
    key = _key(compiler, *flags, *LINK_FLAGS, generated.digest(), *(o.name for o in objects))
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
                *LINK_FLAGS,
                f"-I{build}",
                *(f"-I{d}" for d in library.include_dirs),
                str(build / "model.c"),
                str(build / "model_data.c"),
                *(str(o) for o in objects),
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
    """A loaded ``libmodel.so`` with its own arena and its own copy of the model's state
    (copied into the library's state buffer for each run and back after it, since models
    loaded from the same file share that buffer); runs of models loaded from the same file
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
        lib.model_state.argtypes = []
        lib.model_state.restype = ctypes.c_void_p
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
        self.state = generated.layout.initial_state()
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
            shared = self._lib.model_state() if self.state.size else None
            if shared is not None:
                ctypes.memmove(shared, self.state.ctypes.data, self.state.size)
            status = self._lib.model_run()
            if shared is not None:
                ctypes.memmove(self.state.ctypes.data, shared, self.state.size)
            if status != 0:
                raise BackendError(f"cmsis-nn: {self.what}: {self._describe_failure(status)}")
            return [
                arena[t.arena_offset : t.arena_offset + t.size].copy().view(numpy_dtype(i.dtype))
                for t, i in zip(self.outputs, self.generated.outputs)
            ]

    def reset(self) -> None:
        """Set the model's state back (what ``model_reset`` does: zeros, an int8 state its
        zero point), as TFLM's ``reset()`` does."""
        with self._lock:
            self.state[:] = self.generated.layout.initial_state()

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
        arrays = [
            np.asarray(inputs[name], dtype=numpy_dtype(self.graph.tensor(name).dtype))
            for name in self.graph.inputs
        ]
        results = self.model.run(arrays)
        return {
            name: value.reshape(shape)
            for name, value, shape in zip(self.graph.outputs, results, self._shapes)
        }

    def reset(self) -> None:
        """Zero the variable tensors' state (the generated code's ``model_reset``)."""
        self.model.reset()


def compile_host(
    graph: Graph,
    cmsis_nn_path: str | os.PathLike[str] | None = None,
    cc: str | None = None,
    optimise: Optimise = "performance",
) -> HostPartition:
    """Generate (the arena planned for ``optimise``), build (or take from the cache) and load
    ``graph`` for the host."""
    what = f"partition {graph.name!r}"
    library = find_library(cmsis_nn_path)
    try:
        oracle = size_oracle(library, cc, "host")
    except BackendError as exc:
        raise BackendError(f"{exc} (while compiling {what})") from None
    generated = generate(graph, oracle, library, optimise)
    path = build_model(generated, library, cc, what)
    return HostPartition(graph, HostModel(path, generated, what))
