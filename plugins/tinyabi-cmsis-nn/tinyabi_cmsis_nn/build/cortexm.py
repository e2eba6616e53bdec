"""Cross-build a generated model project into Cortex-M firmware and run it under QEMU.

:func:`build_firmware` compiles the generated project (its ``Makefile`` builds ``libmodel.a``
with ``arm-none-eabi-gcc``) and links it with the firmware harness (``firmware/``: startup code,
linker script of the board, SysTick instruction counter, ``main.c``) into an ELF, cached by the
hash of everything that goes into it. :func:`run_on_qemu` runs that ELF on QEMU's model of the
board with ``-icount shift=0``, passing the input bytes and collecting the output bytes through
semihosting files, and returns the instructions ``model_run()`` executed. :func:`size_report`
reads the ELF's memory footprint.

Boards: ``cortex-m4`` runs on ``mps2-an386``, ``cortex-m55`` on ``mps3-an547``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tinyabi.cache import cache_dir as tinyabi_cache_dir
from tinyabi.errors import BackendError
from tinyabi.progress import progress_bar
from tinyabi_cmsis_nn.build.diagnostics import summary

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"
#: The Debian packages that provide the toolchain, newlib and QEMU.
DEBIAN_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
#: The tools this module runs.
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-ar", "arm-none-eabi-size", "qemu-system-arm")

INPUT_FILE = "tinyabi_input.bin"
OUTPUT_FILE = "tinyabi_output.bin"
#: The model's state (stateful models), given to a run and written back by it.
STATE_FILE = "tinyabi_state.bin"
HARNESS_SOURCES = (
    "main.c",
    "startup.c",
    "semihost.c",
    "sbrk.c",
    "insn_counter.c",
    "stack_probe.c",
    "profile.c",
)
_RESULT = re.compile(r"^TINYABI_RESULT instructions=(\d+) stack_bytes=(\d+)\s*$", re.M)
_LAYER = re.compile(r"^TINYABI_LAYER (\d+) instructions=(\d+)\s*$", re.M)
#: The compile-time flag that makes the generated ``model_run`` count each layer.
PROFILE_DEFINE = "-DMODEL_PROFILE"
#: Bump when the build recipe changes in a way the hashed inputs do not show.
_RECIPE_VERSION = "1"


@dataclass(frozen=True)
class Target:
    """A Cortex-M core, the QEMU board that runs it and how to compile for it."""

    core: str
    machine: str
    linker_script: str
    #: Frequency of the board's CPU clock in QEMU (what SysTick counts).
    cpu_hz: int
    cflags: tuple[str, ...]


TARGETS: dict[str, Target] = {
    "cortex-m4": Target(
        core="cortex-m4",
        machine="mps2-an386",
        linker_script="mps2-an386.ld",
        cpu_hz=25_000_000,
        cflags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    ),
    "cortex-m55": Target(
        core="cortex-m55",
        machine="mps3-an547",
        linker_script="mps3-an547.ld",
        cpu_hz=32_000_000,
        # Debian's GCC 12.2 mis-assembles an if-converted construct for the M55.
        cflags=(
            "-mcpu=cortex-m55",
            "-mthumb",
            "-mfloat-abi=hard",
            "-fno-if-conversion",
            "-fno-if-conversion2",
        ),
    ),
}

#: Optimisation and section flags used for the model library and the harness.
OPT_FLAGS = ("-O2", "-ffunction-sections", "-fdata-sections")


@dataclass(frozen=True)
class QemuRun:
    """One run of a firmware under QEMU."""

    output: bytes
    #: Instructions executed by ``model_run()`` (SysTick under ``-icount shift=0``).
    instructions: int
    #: Peak stack use during ``model_run()``, in bytes (stack painting).
    stack_bytes: int
    #: Wall time of the whole QEMU process.
    seconds: float
    #: What QEMU and the firmware printed.
    console: str
    #: Instructions of each layer, in order (firmware built with ``profile=True``; else empty).
    layers: tuple[int, ...] = ()
    #: The model's state after the run (``MODEL_STATE_SIZE`` bytes; ``None`` without state).
    state: bytes | None = None


def target(core: str) -> Target:
    """The :class:`Target` of ``core`` (``"cortex-m4"`` or ``"cortex-m55"``)."""
    try:
        return TARGETS[core]
    except KeyError:
        raise BackendError(
            f"cmsis-nn: unknown Cortex-M core {core!r}; known: {', '.join(TARGETS)}"
        ) from None


def missing_tools() -> list[str]:
    """The tools of :data:`TOOLS` that are not on ``PATH``."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _require_tools() -> None:
    missing = missing_tools()
    if missing:
        raise BackendError(
            f"cmsis-nn: {', '.join(missing)} not found; install the Debian packages "
            f"{DEBIAN_PACKAGES}"
        )


def cache_root() -> Path:
    """Where built firmware is cached: ``cmsis-nn/firmware`` in tinyabi's cache directory
    (:func:`tinyabi.cache.cache_dir`)."""
    return tinyabi_cache_dir("cmsis-nn", "firmware")


@functools.cache
def _compiler_version() -> str:
    result = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True, check=False
    )
    return result.stdout.splitlines()[0] if result.stdout else "unknown"


def _tree_files(root: Path) -> list[Path]:
    """The source files under ``root`` (build products and caches left out), sorted."""
    skip_suffixes = {".o", ".a", ".so", ".elf", ".map", ".d", ".pyc"}
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in skip_suffixes and "__pycache__" not in p.parts
    )


def _hash_tree(digest: hashlib._Hash, label: str, root: Path) -> None:
    for path in _tree_files(root):
        digest.update(f"{label}:{path.relative_to(root).as_posix()}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")


def _build_key(
    project: Path, tgt: Target, cmsis_nn_path: Path | None, link_flags: Sequence[str]
) -> str:
    digest = hashlib.sha256()
    digest.update(f"recipe {_RECIPE_VERSION}\0{_compiler_version()}\0".encode())
    digest.update(repr((tgt, OPT_FLAGS, tuple(link_flags))).encode())
    _hash_tree(digest, "project", project)
    _hash_tree(digest, "firmware", FIRMWARE_DIR)
    if cmsis_nn_path is not None:
        parts = [cmsis_nn_path / p for p in ("Source", "Include")]
        for part in parts if all(p.is_dir() for p in parts) else [cmsis_nn_path]:
            _hash_tree(digest, f"cmsis-nn/{part.name}", part)
    return digest.hexdigest()[:24]


def _run(command: Sequence[str], cwd: Path, what: str, timeout: float = 600) -> None:
    try:
        result = subprocess.run(
            list(command),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"cmsis-nn: {what} timed out after {timeout:.0f} s") from None
    except FileNotFoundError:
        raise BackendError(f"cmsis-nn: {what} needs {command[0]}, which is not installed") from None
    if result.returncode != 0:
        raise BackendError(
            f"cmsis-nn: {what} failed (exit status {result.returncode}): "
            f"{summary(result.stderr + result.stdout)}"
        )


def _tail(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "...\n" + text[-limit:]


def build_firmware(
    project_dir: Path | str,
    core: str,
    *,
    cmsis_nn_path: Path | str | None = None,
    stack_size: int = 32 * 1024,
    heap_size: int = 16 * 1024,
    cache_dir: Path | str | None = None,
    jobs: int | None = None,
    profile: bool = False,
) -> Path:
    """Build the generated project in ``project_dir`` into firmware for ``core``; returns the
    ELF path.

    The project's ``Makefile`` builds ``libmodel.a`` with ``CC=arm-none-eabi-gcc`` and the
    core's flags (``-O2``); the harness is compiled and linked against it with newlib's
    semihosting library, the board's linker script, a ``stack_size``-byte stack and a
    ``heap_size``-byte heap (stdio buffers). The project's ``Makefile`` names the CMSIS-NN
    tree it was generated for (``CMSIS_NN_PATH``); ``cmsis_nn_path`` is passed to ``make`` to
    point it at another checkout of the same version. With ``profile``, the model and the
    harness are built with ``-DMODEL_PROFILE``: ``model_run`` counts each layer's
    instructions and the run reports them (:attr:`QemuRun.layers`). The result is cached
    (``cache_dir``, default :func:`cache_root`) by the hash of the project, the CMSIS-NN tree,
    the firmware sources, the compiler version and the flags; the build runs in a copy of the
    project, which is left untouched. Raises :class:`~tinyabi.errors.BackendError` with the
    failing source and the compiler's first error on failure.
    """
    project = Path(project_dir).resolve()
    tgt = target(core)
    if not (project / "Makefile").is_file():
        raise BackendError(f"cmsis-nn: {project} has no Makefile (not a generated project?)")
    _require_tools()
    explicit = Path(cmsis_nn_path).resolve() if cmsis_nn_path else None
    if explicit is not None and not explicit.is_dir():
        raise BackendError(f"cmsis-nn: CMSIS_NN_PATH {explicit} is not a directory")
    cmsis = explicit or _makefile_tree(project)
    link_flags = (
        f"-Wl,--defsym=__stack_size__={stack_size}",
        f"-Wl,--defsym=__heap_size__={heap_size}",
    )
    defines = (PROFILE_DEFINE,) if profile else ()
    key = _build_key(project, tgt, cmsis, (*link_flags, *defines))
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    final = root / f"{tgt.core}-{key}"
    elf = final / "firmware.elf"
    if elf.is_file():
        return elf

    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{tgt.core}-{key}.", dir=root))
    try:
        _build_into(work, project, tgt, explicit, link_flags, defines, jobs, root / "objects")
        try:
            work.rename(final)
        except OSError:
            if not elf.is_file():  # not a concurrent build that finished first
                raise
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return elf


_TREE_LINE = re.compile(r"^CMSIS_NN_PATH \?= (.+)$", re.M)


def _makefile_tree(project: Path) -> Path | None:
    """The CMSIS-NN tree a generated ``Makefile`` builds with, if it names one."""
    match = _TREE_LINE.search((project / "Makefile").read_text(encoding="utf-8"))
    return Path(match.group(1).strip()) if match else None


_LIB_SRCS = re.compile(r"^LIB_SRCS := (.*?)(?<!\\)$", re.M | re.S)


def _library_sources(project: Path, cmsis: Path | None) -> list[Path]:
    """The library sources a generated ``Makefile`` lists (``LIB_SRCS``), resolved."""
    match = _LIB_SRCS.search((project / "Makefile").read_text(encoding="utf-8"))
    if match is None:
        return []
    text = match.group(1)
    tree = "$(CMSIS_NN_PATH)/" in text
    root = (cmsis or _makefile_tree(project)) if tree else project
    if root is None:
        return []
    names = [t.rstrip(")") for t in text.replace("\\", " ").split() if t.rstrip(")").endswith(".c")]
    return [root / name for name in names]


def _object_key(source: Path, tgt: Target, headers: str, std: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"object {_RECIPE_VERSION}\0{_compiler_version()}\0{std}\0".encode())
    digest.update(repr((tgt.cflags, OPT_FLAGS)).encode())
    digest.update(headers.encode() + b"\0" + source.read_bytes())
    return f"{tgt.core}-{source.stem}-{digest.hexdigest()[:24]}.o"


def _reuse_library_objects(
    project: Path, tgt: Target, cmsis: Path | None, objects: Path
) -> dict[str, str]:
    """Put the cached objects of the project's library sources into its ``build/`` (newer
    than their sources, so ``make`` keeps them); returns object name -> cache name for every
    library source. The objects depend only on the source, the library's headers, the C
    dialect and the core's flags, so one compilation serves every model that needs the file.
    """
    sources = _library_sources(project, cmsis)
    if not sources or len({s.name for s in sources}) != len(sources):
        return {}
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    std = next(iter(re.findall(r"^STD := (.*)$", makefile, re.M)), "")
    tree = (cmsis or _makefile_tree(project)) if "$(CMSIS_NN_PATH)/" in makefile else None
    folders = [tree / "Include", tree / "Source"] if tree else [project / "cmsis_nn"]
    headers = hashlib.sha256()
    for folder in folders:
        for header in sorted(folder.rglob("*.h")):
            headers.update(header.relative_to(folder).as_posix().encode() + b"\0")
            headers.update(header.read_bytes())
    names = {f"{s.stem}.o": _object_key(s, tgt, headers.hexdigest(), std) for s in sources}
    build = project / "build"
    build.mkdir(exist_ok=True)
    now = time.time()
    for name, key in names.items():
        if (objects / key).is_file():
            shutil.copyfile(objects / key, build / name)
            os.utime(build / name, (now, now))
    return names


def _keep_library_objects(project: Path, names: dict[str, str], objects: Path) -> None:
    """Store the library objects ``make`` compiled into the object cache."""
    for name, key in names.items():
        built = project / "build" / name
        if built.is_file() and not (objects / key).is_file():
            objects.mkdir(parents=True, exist_ok=True)
            temporary = objects / f"{key}.{os.getpid()}.tmp"
            shutil.copyfile(built, temporary)
            os.replace(temporary, objects / key)


def _build_into(
    work: Path,
    project: Path,
    tgt: Target,
    cmsis: Path | None,
    link_flags: Sequence[str],
    defines: Sequence[str],
    jobs: int | None,
    objects: Path,
) -> None:
    with progress_bar(2, f"building {tgt.core} firmware", unit="step") as bar:
        _make_and_link(work, project, tgt, cmsis, link_flags, defines, jobs, objects, bar.update)


def _make_and_link(
    work: Path,
    project: Path,
    tgt: Target,
    cmsis: Path | None,
    link_flags: Sequence[str],
    defines: Sequence[str],
    jobs: int | None,
    objects: Path,
    step_done: Callable[[], object],
) -> None:
    source = work / "project"
    shutil.copytree(project, source, ignore=shutil.ignore_patterns("*.o", "*.a", "__pycache__"))
    cached = _reuse_library_objects(source, tgt, cmsis, objects)
    arch = list(tgt.cflags)
    make = [
        "make",
        f"-j{jobs or os.cpu_count() or 1}",
        "CC=arm-none-eabi-gcc",
        "AR=arm-none-eabi-ar",
        f"CFLAGS={' '.join([*arch, *OPT_FLAGS, *defines])}",
    ]
    if cmsis is not None:
        make.append(f"CMSIS_NN_PATH={cmsis}")
    _run(make, source, f"building the model library for {tgt.core}")
    _keep_library_objects(source, cached, objects)
    library = source / "libmodel.a"
    if not library.is_file():
        raise BackendError(f"cmsis-nn: make did not produce {library.name} in the project")
    step_done()

    harness = [str(FIRMWARE_DIR / name) for name in HARNESS_SOURCES]
    link = [
        "arm-none-eabi-gcc",
        *arch,
        *OPT_FLAGS,
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-DTINYABI_CPU_HZ={tgt.cpu_hz}",
        *defines,
        f"-DTINYABI_INPUT_FILE={_c_string(INPUT_FILE)}",
        f"-DTINYABI_OUTPUT_FILE={_c_string(OUTPUT_FILE)}",
        f"-DTINYABI_STATE_FILE={_c_string(STATE_FILE)}",
        f"-I{source}",
        f"-I{FIRMWARE_DIR}",
        *harness,
        str(library),
        "-nostartfiles",
        "--specs=nano.specs",
        "--specs=rdimon.specs",
        f"-L{FIRMWARE_DIR}",
        f"-T{FIRMWARE_DIR / tgt.linker_script}",
        "-Wl,--gc-sections",
        f"-Wl,-Map={work / 'firmware.map'}",
        *link_flags,
        "-o",
        str(work / "firmware.elf"),
    ]
    _run(link, work, f"linking the {tgt.core} firmware")
    step_done()


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def qemu_command(elf: Path | str, core: str) -> list[str]:
    """The QEMU command line that runs ``elf`` on ``core``'s board, counting instructions."""
    tgt = target(core)
    return [
        "qemu-system-arm",
        "-machine",
        tgt.machine,
        "-cpu",
        tgt.core,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
        str(elf),
    ]


def run_firmware(
    elf: Path | str,
    core: str,
    input_bytes: bytes,
    timeout: float = 120,
    state: bytes | None = None,
) -> QemuRun:
    """Run ``elf`` once under QEMU with ``input_bytes`` (the model's inputs, concatenated in
    input order); returns the outputs (concatenated in output order), the instructions
    ``model_run()`` executed and the peak stack use. A model with state starts from
    ``state`` (``None``: its reset state) and the run gives the state it ends with.

    Raises :class:`~tinyabi.errors.BackendError` with QEMU's output when QEMU is missing, the
    run times out after ``timeout`` seconds, the firmware fails or prints no result line.
    """
    _require_tools()
    command = qemu_command(Path(elf).resolve(), core)
    with tempfile.TemporaryDirectory(prefix="tinyabi-qemu-") as tmp:
        folder = Path(tmp)
        (folder / INPUT_FILE).write_bytes(input_bytes)
        if state is not None:
            (folder / STATE_FILE).write_bytes(state)
        start = time.perf_counter()
        try:
            result = subprocess.run(
                command,
                cwd=folder,
                capture_output=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            console = _decode(exc.stdout) + _decode(exc.stderr)
            raise BackendError(
                f"cmsis-nn: QEMU ({core}) timed out after {timeout:.0f} s:\n{_tail(console)}"
            ) from None
        seconds = time.perf_counter() - start
        console = _decode(result.stdout) + _decode(result.stderr)
        match = _RESULT.search(console)
        if result.returncode != 0 or match is None:
            raise BackendError(
                f"cmsis-nn: the {core} firmware failed under QEMU "
                f"(exit status {result.returncode}):\n{_tail(console)}"
            )
        output_path = folder / OUTPUT_FILE
        if not output_path.is_file():
            raise BackendError(f"cmsis-nn: the {core} firmware wrote no output file")
        output = output_path.read_bytes()
        state_path = folder / STATE_FILE
        state = state_path.read_bytes() if state_path.is_file() else None
    return QemuRun(
        output=output,
        instructions=int(match.group(1)),
        stack_bytes=int(match.group(2)),
        seconds=seconds,
        console=console,
        layers=tuple(int(n) for _, n in sorted((int(i), n) for i, n in _LAYER.findall(console))),
        state=state,
    )


def run_on_qemu(
    elf: Path | str, core: str, input_bytes: bytes, timeout: float = 120
) -> tuple[bytes, int]:
    """Run ``elf`` under QEMU: ``(output bytes, instructions of model_run())``; see
    :func:`run_firmware`."""
    run = run_firmware(elf, core, input_bytes, timeout)
    return run.output, run.instructions


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


# --- sizes -------------------------------------------------------------------------------------

_FLASH_SECTIONS = (".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data")
_RAM_SECTIONS = (".data", ".bss", ".arena", ".stack", ".heap")


def section_sizes(elf: Path | str) -> dict[str, int]:
    """The size of every section of ``elf`` by name (``arm-none-eabi-size -A``)."""
    _require_tools()
    result = subprocess.run(
        ["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackendError(f"cmsis-nn: arm-none-eabi-size failed: {result.stderr.strip()}")
    sizes: dict[str, int] = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def size_report(elf: Path | str) -> dict[str, int]:
    """The memory footprint of a firmware ELF, in bytes.

    ``flash`` = code + read-only data (weights) + the load image of ``.data``; ``ram`` =
    ``.data`` + ``.bss`` + ``arena`` + the reserved ``stack`` + ``heap`` (newlib's stdio
    buffers). ``text``, ``rodata``, ``data``, ``bss``, ``arena``, ``stack`` and ``heap`` are the
    sections. When the link map is next to the ELF, ``model_flash`` and ``model_static_ram``
    are the parts that come from the model library (``libmodel.a``: generated code, weights and
    kernels), without the harness and newlib.
    """
    sizes = section_sizes(elf)
    report = {
        "text": sizes.get(".text", 0),
        "rodata": sizes.get(".rodata", 0),
        "data": sizes.get(".data", 0),
        "bss": sizes.get(".bss", 0),
        "arena": sizes.get(".arena", 0),
        "stack": sizes.get(".stack", 0),
        "heap": sizes.get(".heap", 0),
        "flash": sum(sizes.get(s, 0) for s in _FLASH_SECTIONS),
        "ram": sum(sizes.get(s, 0) for s in _RAM_SECTIONS),
    }
    link_map = Path(elf).with_name("firmware.map")
    if link_map.is_file():
        report.update(library_sizes(link_map.read_text().splitlines(), "libmodel.a"))
    return report


_INPUT_SECTION = re.compile(r"^ (\.\S+|COMMON)?\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


_MEMBER = re.compile(r"\(([^()]+)\)\s*$")


def library_members(map_lines: Iterable[str], library: str) -> dict[str, dict[str, int]]:
    """Bytes the link kept of each member of ``library`` (an archive name) in a GNU ld link
    map, by kind of section: member object -> ``text``, ``rodata``, ``data``, ``bss``."""
    members: dict[str, dict[str, int]] = {}
    in_map = False
    pending: str | None = None
    for line in map_lines:
        if line.startswith("Linker script and memory map"):
            in_map = True
            continue
        if not in_map:
            continue
        match = _INPUT_SECTION.match(line)
        if match is None:
            stripped = line.strip()
            pending = stripped if line.startswith(" .") and " " not in stripped else None
            continue
        name = match.group(1) or pending
        pending = None
        size = int(match.group(3), 16)
        owner = match.group(4)
        if name is None or library not in owner or size == 0:
            continue
        member = _MEMBER.search(owner)
        kind = next(
            (k for k in ("text", "rodata", "data", "bss") if name.startswith(f".{k}")),
            "bss" if name == "COMMON" else None,
        )
        if kind is None:
            continue
        sizes = members.setdefault(
            member.group(1) if member else owner,
            dict.fromkeys(("text", "rodata", "data", "bss"), 0),
        )
        sizes[kind] += size
    return members


def library_sizes(map_lines: Iterable[str], library: str) -> dict[str, int]:
    """Flash and static RAM taken by the input sections of ``library`` in a GNU ld link map:
    ``model_flash`` (code, read-only data and ``.data``'s load image) and ``model_static_ram``
    (``.data`` and ``.bss``)."""
    members = library_members(map_lines, library).values()
    return {
        "model_flash": sum(m["text"] + m["rodata"] + m["data"] for m in members),
        "model_static_ram": sum(m["data"] + m["bss"] for m in members),
    }
