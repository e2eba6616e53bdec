"""The memory footprint of a generated project, measured with the Arm toolchain.

:func:`measure` builds the project into Cortex-M firmware (:func:`.cortexm.build_firmware`)
and reads, from the link map, what the model library (``libmodel.a``) put in flash and static
RAM: the weights (``model_data.o``: weights, biases, multipliers, shifts, kernel sums), the
code (every member's ``.text``) and the tables (the other read-only data: parameter structs,
tensor tables, the library's lookup tables, and ``.data``'s load image); the arena's size from
the ELF (``arm-none-eabi-size``) and, when QEMU is there, the peak stack of ``model_run`` on
zero inputs (stack painting). Without the cross compiler it says what it could not measure.
:func:`write` puts the result into ``footprint.json`` and a table into the project's
``README.md``; :func:`table` is the same table as text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tinyabi_cmsis_nn.build import cortexm
from tinyabi_cmsis_nn.codegen.emit import GeneratedModel

__all__ = ["FILE", "Footprint", "load", "measure", "table", "write"]

#: The JSON file written into the project.
FILE = "footprint.json"
#: The member of ``libmodel.a`` that holds the model's constant data.
DATA_MEMBER = "model_data.o"
_README_HEADING = "## Footprint"
#: The firmware sections that take flash or RAM (debug information and notes take neither).
_LOADED = frozenset(
    {".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data", ".bss", ".arena", ".stack", ".heap"}
)


@dataclass
class Footprint:
    """Flash and RAM of a generated project, in bytes (``None``: not measured)."""

    core: str
    measured: bool
    #: Why something is not measured ("" when everything is).
    note: str = ""
    weights: int | None = None
    code: int | None = None
    tables: int | None = None
    arena: int = 0
    scratch: int = 0
    #: Bytes of the arena up to the end of the last activation (the scratch region lies
    #: among them when it fits in a gap, else after them).
    activations: int = 0
    #: The layer-by-layer bound of the memory plan (:func:`..codegen.arena.layer_bound`).
    bound: int = 0
    #: MACs of one run, and those the bands recompute (halo rows).
    macs: int = 0
    extra_macs: int = 0
    #: What the memory plan was optimised for (the backend's ``optimise`` option).
    optimise: str = "performance"
    #: Depthwise layers run through ``arm_depthwise_conv_s8`` without a buffer (their
    #: wrapper's buffer set the arena's peak), and the arena they would need with it.
    buffer_free: list[int] = field(default_factory=list)
    buffered_arena: int = 0
    stack: int | None = None
    static: int | None = None
    toolchain: str = ""
    #: The firmware's sections as ``arm-none-eabi-size -A`` lists them.
    sections: dict[str, int] = field(default_factory=dict)

    @property
    def flash(self) -> int | None:
        """Weights + code + tables."""
        parts = (self.weights, self.code, self.tables)
        return None if None in parts else sum(p or 0 for p in parts)

    @property
    def ram(self) -> int | None:
        """Arena (activations and scratch) + peak stack + static data."""
        if self.stack is None or self.static is None:
            return None
        return self.arena + self.stack + self.static

    def to_json(self) -> str:
        """The footprint as JSON, with the totals."""
        data = asdict(self)
        data["flash"], data["ram"] = self.flash, self.ram
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def measure(
    project: Path | str,
    generated: GeneratedModel,
    core: str,
    cmsis_nn_path: Path | str | None = None,
) -> Footprint:
    """Build ``project`` (written from ``generated``) for ``core`` and measure it (see the
    module docstring)."""
    project = Path(project)
    layout = generated.layout
    result = Footprint(
        core=core,
        measured=False,
        arena=layout.total,
        scratch=layout.scratch,
        activations=layout.activations,
        bound=layout.bound,
        macs=layout.macs,
        extra_macs=layout.extra_macs,
        optimise=layout.optimise,
        buffer_free=list(layout.buffer_free),
        buffered_arena=layout.buffered_total,
    )
    missing = [t for t in ("arm-none-eabi-gcc", "arm-none-eabi-size") if not shutil.which(t)]
    if missing:
        result.note = (
            f"flash, stack and static data not measured: {', '.join(missing)} not found "
            f"(install {cortexm.DEBIAN_PACKAGES})"
        )
        return result
    elf = cortexm.build_firmware(project, core, cmsis_nn_path=cmsis_nn_path)
    map_lines = elf.with_name("firmware.map").read_text(errors="replace").splitlines()
    members = cortexm.library_members(map_lines, "libmodel.a")
    data = members.get(DATA_MEMBER, {"text": 0, "rodata": 0, "data": 0, "bss": 0})
    result.measured = True
    result.weights = data["rodata"]
    result.code = sum(m["text"] for m in members.values())
    result.tables = sum(m["rodata"] + m["data"] for m in members.values()) - data["rodata"]
    result.static = sum(m["data"] + m["bss"] for m in members.values())
    result.sections = {k: v for k, v in cortexm.section_sizes(elf).items() if k in _LOADED}
    result.toolchain = _first_line(["arm-none-eabi-gcc", "--version"])
    if cortexm.missing_tools():
        result.note = f"stack not measured: {', '.join(cortexm.missing_tools())} not found"
        return result
    zeros = bytes(sum(t.size for t in generated.inputs))
    result.stack = cortexm.run_firmware(elf, core, zeros, timeout=600).stack_bytes
    return result


def load(project: Path | str) -> Footprint | None:
    """The footprint written into ``project`` (``None`` when there is none)."""
    path = Path(project) / FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in fields(Footprint)}
    return Footprint(**{k: v for k, v in data.items() if k in names})


def _first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else ""


def _bytes(value: int | str | None) -> str:
    if isinstance(value, str):
        return value
    return "not measured" if value is None else f"{value:,}"


def _macs(f: Footprint) -> str:
    share = 100.0 * f.extra_macs / f.macs if f.macs else 0.0
    return f"{f.extra_macs:,} ({share:.1f}% of {f.macs:,} MACs)"


def _buffer_free(f: Footprint) -> str:
    if not f.buffer_free:
        return "none"
    names = ", ".join(map(str, f.buffer_free))
    return (
        f"layers {names} via `arm_depthwise_conv_s8` (the wrapper's buffer set the peak; "
        f"arena {f.buffered_arena:,} with it)"
    )


def table(footprint: Footprint) -> str:
    """The footprint as a Markdown table, with what was measured how."""
    f = footprint
    inside = f.scratch and f.arena - f.scratch < f.activations
    where = " (in a gap between activations)" if inside else ""
    rows: list[tuple[str, int | str | None]] = [
        ("flash: weights (`model_data.c`)", f.weights),
        ("flash: code (generated + CMSIS-NN)", f.code),
        ("flash: tables (parameters, tensor tables, library tables)", f.tables),
        ("**flash total**", f.flash),
        ("RAM: arena (activations and the scratch region)", f.arena),
        (f"of which the scratch region, shared by all layers{where}", f.scratch),
        ("memory plan: optimised for (the `optimise` option)", f.optimise),
        ("memory plan: layer-by-layer bound (activations and scratch)", f.bound),
        ("memory plan: achieved arena", f.arena),
        ("memory plan: extra MACs (halo rows computed twice)", _macs(f)),
        ("memory plan: depthwise layers without a buffer", _buffer_free(f)),
        ("RAM: peak stack of `model_run`", f.stack),
        ("RAM: static data (`.data` + `.bss`)", f.static),
        ("**RAM total**", f.ram),
    ]
    how = (
        f"Measured for {f.core} with {f.toolchain or 'arm-none-eabi-gcc'} (`-O2`, "
        "`--gc-sections`): the link map's sections of `libmodel.a`, `arm-none-eabi-size`, "
        "the peak stack under QEMU on zero inputs."
        if f.measured
        else f"Not measured for {f.core}."
    )
    lines = ["| part | bytes |", "|---|---|", *(f"| {n} | {_bytes(v)} |" for n, v in rows)]
    return "\n".join([how + (f" {f.note[0].upper()}{f.note[1:]}." if f.note else ""), "", *lines])


def write(footprint: Footprint, project: Path) -> list[Path]:
    """Write ``footprint.json`` and the footprint section of ``README.md`` into ``project``;
    returns the paths written."""
    json_path = project / FILE
    json_path.write_text(footprint.to_json(), encoding="utf-8")
    readme = project / "README.md"
    text = readme.read_text(encoding="utf-8")
    if _README_HEADING in text:
        text = text[: text.index(_README_HEADING)].rstrip() + "\n"
    text += f"\n{_README_HEADING}\n\n{table(footprint)}\n\n(`{FILE}` has the same numbers.)\n"
    readme.write_text(text, encoding="utf-8")
    return [json_path, readme]
