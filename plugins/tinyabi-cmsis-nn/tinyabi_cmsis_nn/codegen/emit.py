"""A graph as a C project: ``model.h``, ``model.c``, ``model_data.c``, ``Makefile``, ``README.md``.

:func:`generate` lowers every node to a :class:`~.layers.Layer`, lays out one arena (tinyabi's
memory plan for the activations, then one scratch buffer shared by all layers, as large as the
largest layer asks for; kernel sums are computed here and kept in flash) and renders the
files in memory (:class:`GeneratedModel`), with a ``Makefile`` that compiles the library
sources the model needs (:meth:`~tinyabi_cmsis_nn.build.library.Library.select`) and nothing
else;
:func:`write_project` writes them (with those sources when the library is tinyabi's portable
copy) into a folder a firmware engineer can drop into a build.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyabi.dispatch import align
from tinyabi.errors import BackendError
from tinyabi.ir import Graph, Tensor
from tinyabi_cmsis_nn.build.library import Library, portable_library
from tinyabi_cmsis_nn.codegen.arena import plan as arena_plan
from tinyabi_cmsis_nn.codegen.arena import plan_buffer_free
from tinyabi_cmsis_nn.codegen.banding import Optimise, overlap, overlap_above
from tinyabi_cmsis_nn.codegen.layers import (
    NO_BUFFER,
    NO_BUFFER_DEFINITION,
    ConstArray,
    Layer,
    band_queries,
    bandable,
    buffer_free_option,
    lower,
    resolve_context,
)
from tinyabi_cmsis_nn.codegen.names import c_string_literal, scratch_macros, tensor_offset_macro
from tinyabi_cmsis_nn.codegen.sizes import SizeOracle
from tinyabi_cmsis_nn.codegen.templates import (
    MODEL_H,
    README,
    makefile_portable,
    makefile_tree,
    model_c_prologue,
    model_c_runtime,
)
from tinyabi_cmsis_nn.cost import node_macs

#: Alignment of the arena, of every region in it and of the constant arrays.
ALIGNMENT = 16
#: Where the portable library lives in a generated project.
LIBRARY_FOLDER = "cmsis_nn"
#: The files :func:`generate` renders.
FILES = ("model.h", "model.c", "model_data.c", "Makefile", "README.md")


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output as the generated tensor table describes it."""

    name: str
    dtype: str  # "int8" or "int16"
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    size: int
    offset: int


@dataclass(frozen=True)
class ArenaLayout:
    """The arena (``total`` bytes, ``MODEL_ARENA_SIZE``): the activations, which end at
    ``activations``, and each layer's scratch buffer, placed where nothing live at that layer
    lies (in a gap of the activations, or after them; the layers share those bytes).
    ``kernel_sums`` (layer index -> bytes) are the sums kept in flash, not in the arena."""

    activations: int
    kernel_sums: dict[int, int]
    #: Each layer's scratch buffer: layer index -> (offset, bytes).
    scratch_buffers: dict[int, tuple[int, int]]
    total: int
    #: Bytes of the persistent state buffer (``MODEL_STATE_SIZE``): the variable tensors,
    #: outside the arena, kept across runs and zeroed by ``model_reset``.
    state: int = 0
    #: The state bytes ``model_reset`` sets to other than zero: (offset, bytes, value) of each
    #: int8 state tensor with a zero point other than 0 (TFLM resets those to the zero point).
    state_fills: tuple[tuple[int, int, int], ...] = ()
    #: The layer-by-layer bound (:func:`.arena.layer_bound`): what running each layer whole,
    #: its input and output apart, must hold at least (activations and scratch).
    bound: int = 0
    #: Multiply-accumulates of one run, and how many of them recompute what another band
    #: already computed (halo rows): bands that overlap in place recompute nothing.
    macs: int = 0
    extra_macs: int = 0
    #: What the plan was optimised for (the backend's ``optimise`` option): ``"performance"``
    #: takes coarse bands only, ``"size"`` finer ones too where they shrink the arena.
    optimise: Optimise = "performance"
    #: Depthwise layers run through ``arm_depthwise_conv_s8`` without a buffer (optimised for
    #: size, where the buffer their wrapper asks for set the arena's peak): layer index ->
    #: the bytes the wrapper asked.
    buffer_free: dict[int, int] = field(default_factory=dict)
    #: The arena those layers would need with their wrappers' buffers (``total`` when none).
    buffered_total: int = 0

    def initial_state(self) -> np.ndarray:
        """The state buffer's bytes after ``model_reset``."""
        state = np.zeros(self.state, dtype=np.uint8)
        for offset, size, value in self.state_fills:
            state[offset : offset + size] = value
        return state

    @property
    def scratch(self) -> int:
        """The largest scratch buffer, in bytes (aligned)."""
        return align(max((size for _, size in self.scratch_buffers.values()), default=0), 16)

    @property
    def persistent(self) -> int:
        """Bytes that hold activations (scratch buffers may lie among them)."""
        return self.activations


@dataclass
class GeneratedModel:
    """The generated sources of one graph, and what the host runner needs to know."""

    files: dict[str, str]
    layers: list[Layer]
    layout: ArenaLayout
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    offsets: dict[str, int] = field(default_factory=dict)
    #: The library sources the model needs (what the ``Makefile`` compiles).
    sources: tuple[Path, ...] = ()

    def digest(self) -> str:
        """A SHA-256 over the generated files (names and contents)."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return h.hexdigest()


class _Arena:
    """Tensor name -> arena offset, and the C expression of its address (state tensors:
    their offset in the persistent state buffer)."""

    def __init__(
        self,
        offsets: dict[str, int],
        indices: dict[str, int],
        states: dict[str, int] | None = None,
    ) -> None:
        self.offsets = offsets
        self.indices = indices
        self.states = states or {}

    def state(self, tensor: str) -> str:
        return f"(model_state_bytes + {self.states[tensor]}u)"

    def offset(self, tensor: str) -> int:
        return self.offsets[tensor]

    def __call__(self, tensor: str) -> str:
        return f"(model_arena + {tensor_offset_macro(self.indices[tensor])})"


def generate(
    graph: Graph,
    oracle: SizeOracle,
    library: Library | None = None,
    optimise: Optimise = "performance",
) -> GeneratedModel:
    """Render the C project of ``graph`` (every node of which the backend supports) for
    ``library`` (default: the portable copy): the ``Makefile`` lists the library's sources
    that the generated code needs. ``optimise`` picks the bands the arena planner may use
    (:data:`~.banding.Optimise`); for ``"size"`` it may also run depthwise layers whose buffer
    sets the peak without one (:func:`~.arena.plan_buffer_free`)."""
    library = library or portable_library()
    bands = {i: b for i, node in enumerate(graph.nodes) if (b := bandable(node, graph, optimise))}
    overlaps = {
        i: [(overlap(b), overlap_above(b)) for b in options] for i, options in bands.items()
    }
    indices = {name: i for i, name in enumerate(graph.tensors)}
    states, state_size, state_fills = _state_offsets(graph)
    # The buffer sizes do not depend on where the tensors are: ask them before placing. A
    # layer that may run in bands gets the most any of its calls asks for.
    unplaced = _Arena(dict.fromkeys(graph.tensors, 0), indices, states)
    scratch = {
        i: max(
            oracle.size(q)
            for q in [
                layer.scratch,
                *(q for b in bands.get(i, []) for q in band_queries(layer.scratch, b)),
            ]
        )
        for i, node in enumerate(graph.nodes)
        if (layer := lower(node, graph, i, unplaced)).scratch is not None
    }
    # Optimised for size, a depthwise layer whose buffer sets the peak goes without it.
    candidates = (
        [i for i, node in enumerate(graph.nodes) if buffer_free_option(node, graph)]
        if optimise == "size"
        else []
    )
    plan, freed = plan_buffer_free(graph, overlaps, scratch, candidates, ALIGNMENT)
    buffered = arena_plan(graph, overlaps, scratch, ALIGNMENT).size if freed else plan.size
    offsets = plan.offsets
    arena = _Arena(offsets, indices, states)
    layers = [
        lower(
            node,
            graph,
            i,
            arena,
            None if i not in plan.overlapping else (bands[i][plan.choice[i]], plan.overlapping[i]),
            i in freed,
        )
        for i, node in enumerate(graph.nodes)
    ]

    activations = align(plan.activations, ALIGNMENT)
    sums: dict[int, int] = {}
    for layer in layers:
        if layer.kernel_sums is not None:
            need = oracle.size(layer.kernel_sums.query)
            if need > 4 * layer.kernel_sums.units:
                raise BackendError(
                    f"cmsis-nn: {layer.kernel_sums.query.function} asks {need} bytes for "
                    f"{layer.kernel_sums.units} kernel sums"
                )
            if need:
                sums[layer.index] = need
            resolve_context(layer, need)
    total = align(max(plan.size, activations), ALIGNMENT)
    # Pools add, they do not multiply: their window reads are no MACs here.
    macs = sum(node_macs(n, graph) for n in graph.nodes if not n.op.endswith("POOL_2D"))
    layout = ArenaLayout(
        activations,
        sums,
        plan.scratch,
        total,
        state_size,
        state_fills,
        plan.bound,
        macs,
        optimise=optimise,
        buffer_free={i: scratch[i] for i in sorted(freed)},
        buffered_total=align(buffered, ALIGNMENT) if freed else total,
    )

    inputs = [_info(graph.tensor(n), offsets[n]) for n in graph.inputs]
    outputs = [_info(graph.tensor(n), offsets[n]) for n in graph.outputs]
    model_c = _model_c(layers, layout, arena, inputs, outputs)
    sources = library.select(code=model_c)
    makefile, readme_parts = _library_files(library, sources)
    files = {
        "model.h": MODEL_H.substitute(
            arena=layout.total,
            scratch=layout.scratch,
            activations=layout.activations,
            inputs=len(inputs),
            outputs=len(outputs),
            layers=len(layers),
            state=state_size,
        ),
        "model.c": model_c,
        "model_data.c": _model_data_c(layers),
        "Makefile": makefile,
        "README.md": README.substitute(
            **readme_parts,
            arena=layout.total,
            activations=layout.activations,
            sums=sum(layout.kernel_sums.values()),
            scratch=layout.scratch,
            layers=len(layers),
            inputs=len(inputs),
            outputs=len(outputs),
            table=_layer_table(layers),
            state=state_size,
            bound=layout.bound,
            extra_macs=extra_macs_text(layout),
            buffer_free=buffer_free_text(layout),
            optimise=optimise,
        ),
    }
    return GeneratedModel(files, layers, layout, inputs, outputs, offsets, sources)


def buffer_free_text(layout: ArenaLayout) -> str:
    """Which depthwise layers run without a buffer, and what that saved."""
    if not layout.buffer_free:
        return "none"
    names = ", ".join(str(i) for i in layout.buffer_free)
    asked = max(layout.buffer_free.values())
    return (
        f"layers {names} (`arm_depthwise_conv_s8`): the wrapper's {asked:,}-byte buffer set the "
        f"peak; arena {layout.total:,} instead of {layout.buffered_total:,}"
    )


def extra_macs_text(layout: ArenaLayout) -> str:
    """The extra MACs as a count and a percentage of the run's MACs."""
    share = 100.0 * layout.extra_macs / layout.macs if layout.macs else 0.0
    return f"{layout.extra_macs:,} ({share:.1f}% of {layout.macs:,})"


def _state_offsets(
    graph: Graph,
) -> tuple[dict[str, int], int, tuple[tuple[int, int, int], ...]]:
    """Each variable tensor's offset in the persistent state buffer (16-byte aligned), the
    buffer's bytes, and the reset values other than zero (an int8 state's zero point)."""
    offsets: dict[str, int] = {}
    fills: list[tuple[int, int, int]] = []
    size = 0
    for name, t in graph.tensors.items():
        if t.variable and t.data is None:
            offsets[name] = size
            zero_point = int(t.quant.zero_point[0]) if t.quant is not None else 0
            if t.dtype == "int8" and zero_point != 0:
                fills.append((size, t.nbytes, zero_point & 0xFF))
            size += align(t.nbytes, ALIGNMENT)
    return offsets, size, tuple(fills)


def _library_files(library: Library, sources: Sequence[Path]) -> tuple[str, dict[str, str]]:
    """The ``Makefile`` compiling ``sources`` of ``library``, and the README's library parts."""
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:  # the Makefile names objects after their sources
        raise BackendError(
            f"cmsis-nn: {library.description} has several sources named {duplicates[0]}"
        )
    if library.portable:
        paths = [f"{LIBRARY_FOLDER}/{library.relative(s)}" for s in sources]
        return makefile_portable(paths), {
            "library_row": "| `cmsis_nn/` | tinyabi's portable C99 implementation of the "
            "CMSIS-NN functions the model calls |",
            "includes": "`cmsis_nn/include`",
            "library_text": "The library is tinyabi's portable implementation of the CMSIS-NN "
            "API; to build with\nArm's CMSIS-NN, generate the project again with "
            "`--cmsis-nn PATH`.",
        }
    relative = [library.relative(s) for s in sources]
    return makefile_tree(str(library.root), relative), {
        "library_row": "",
        "includes": "`$(CMSIS_NN_PATH)/Include` and `$(CMSIS_NN_PATH)`",
        "library_text": f"The library is Arm's CMSIS-NN at `{library.root}` (`CMSIS_NN_PATH` "
        f"in the `Makefile`);\nthe project compiles {len(relative)} of its sources, "
        "the ones the model calls and what they call.",
    }


def _info(t: Tensor, offset: int) -> TensorInfo:
    scale, zero_point = 0.0, 0
    if t.quant is not None:
        scale, zero_point = float(t.quant.scale[0]), int(t.quant.zero_point[0])
    return TensorInfo(t.name, t.dtype, tuple(t.shape), scale, zero_point, t.nbytes, offset)


def c_float(value: float) -> str:
    """A float32 value as a C ``float`` literal that reads back to the same value."""
    text = f"{float(np.float32(value)):.9g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def c_int(value: int) -> str:
    """An int32 value as a C literal (``INT32_MIN`` spelled without an out-of-range constant)."""
    value = int(value)
    return "(-2147483647 - 1)" if value == -(2**31) else str(value)


#: ``model_tensor_t.dtype`` of each element type.
DTYPE_CODES = {"int8": 0, "int16": 1}


def c_int64(value: int) -> str:
    """An int64 value as a C literal (``INT64_MIN`` spelled without an out-of-range constant)."""
    value = int(value)
    return "(-9223372036854775807LL - 1)" if value == -(2**63) else f"{value}LL"


def _tensor_entry(t: TensorInfo) -> str:
    shape = [*t.shape, *([0] * (6 - len(t.shape)))]
    return (
        f"    {{{c_string_literal(t.name)}, {DTYPE_CODES[t.dtype]}, {len(t.shape)}, "
        f"{{{', '.join(str(d) for d in shape)}}}, {c_float(t.scale)}, {t.zero_point}, "
        f"{t.size}u, {t.offset}u}},"
    )


def _tensor_table(name: str, tensors: Sequence[TensorInfo]) -> list[str]:
    count = max(len(tensors), 1)  # C has no empty arrays
    lines = [f"static const model_tensor_t {name}[{count}] = {{"]
    lines += [_tensor_entry(t) for t in tensors] or ['    {"", 0, 0, {0}, 0.0f, 0, 0u, 0u},']
    lines.append("};")
    return lines


def _model_c(
    layers: Sequence[Layer],
    layout: ArenaLayout,
    arena: _Arena,
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
) -> str:
    macros: dict[str, int] = {}
    for layer in layers:
        if any("model_scratch(" in line for line in layer.body):
            offset, size = layout.scratch_buffers.get(layer.index, (0, 0))
            names = scratch_macros(layer.index)
            macros[names[0]], macros[names[1]] = offset, size
    lines = model_c_prologue(macros)
    used = sorted({arena.indices[name] for name in arena.offsets})
    by_index = {arena.indices[name]: off for name, off in arena.offsets.items()}
    lines += [f"#define {tensor_offset_macro(i)} {by_index[i]}u" for i in used]
    lines.append("")
    lines += [f"extern const {a.ctype} {a.symbol}[{a.values.size}];" for a in _arrays(layers)]
    lines += ["", *_tensor_table("model_inputs", inputs), *_tensor_table("model_outputs", outputs)]
    lines.append("")
    uses_scratch = bool(macros)
    lines += model_c_runtime(uses_scratch, layout.state, layout.state_fills)
    if any(f"&{NO_BUFFER}" in line for layer in layers for line in layer.body):
        lines += ["", "/* The context of the layers that need no buffer. */", NO_BUFFER_DEFINITION]
    declarations, aliases = _shared_constants(layers)
    if aliases:
        lines += ["", "/* Identical constant structs are defined once and shared by the layers. */"]
    for layer in layers:
        lines += ["", f"/* {layer.comment} */", *declarations[layer.index]]
        lines += [f"static arm_cmsis_nn_status {layer.symbol}(void)", "{"]
        lines += [f"    {line}" for line in layer.body]
        lines.append("}")
    lines += ["", *_init(layers, layout), "", *_run(layers)]
    text = "\n".join(lines) + "\n"
    if aliases:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, aliases)) + r")\b")
        text = pattern.sub(lambda m: aliases[m.group(1)], text)
    return text


_CONST_STRUCT = re.compile(r"static const (\w+) (\w+) = (\{.*\});\Z")


def _shared_constants(layers: Sequence[Layer]) -> tuple[dict[int, list[str]], dict[str, str]]:
    """Each layer's declarations without the ``static const`` structs an earlier layer already
    defined with the same type and value, and the names of the dropped structs -> the name of
    the one that stays (flash holds each distinct parameter struct once)."""
    first: dict[tuple[str, str], str] = {}
    aliases: dict[str, str] = {}
    kept: dict[int, list[str]] = {}
    for layer in layers:
        kept[layer.index] = []
        for line in layer.declarations:
            match = _CONST_STRUCT.match(line)
            if match is not None:
                ctype, name, value = match.groups()
                owner = first.setdefault((ctype, value), name)
                if owner != name:
                    aliases[name] = owner
                    continue
            kept[layer.index].append(line)
    return kept, aliases


def _init(layers: Sequence[Layer], layout: ArenaLayout) -> list[str]:
    lines = [
        "int model_init(void *arena, size_t arena_size)",
        "{",
        "    int8_t *base = (int8_t *)arena;",
        "    model_arena = NULL;",
        "    if (base == NULL || arena_size < (size_t)MODEL_ARENA_SIZE ||",
        "        ((uintptr_t)arena % 16u) != 0u) {",
        "        return -1;",
        "    }",
    ]
    for layer in layers:
        if layer.scratch is not None and layer.scratch.fixed is None:
            lines += [
                f"    if ({layer.scratch.c_call()} > {scratch_macros(layer.index)[1]}) {{",
                f"        return -{2 + layer.index}; /* {layer.comment}: scratch too small */",
                "    }",
            ]
        if layer.kernel_sums is not None and layer.index in layout.kernel_sums:
            size = layout.kernel_sums[layer.index]
            lines += [
                f"    if ({layer.kernel_sums.query.c_call()} > {size}) {{",
                f"        return -{2 + layer.index}; /* {layer.comment}: sums for another build */",
                "    }",
            ]
    lines += ["    model_arena = base;", "    model_reset();", "    return 0;", "}"]
    return lines


def _run(layers: Sequence[Layer]) -> list[str]:
    lines = [
        "int model_run(void)",
        "{",
        "    int layer; /* 1 + the index of the layer running */",
        "    if (model_arena == NULL) {",
        "        return -1;",
        "    }",
    ]
    for layer in layers:
        lines += [
            f"    layer = {layer.index + 1};",
            f"    MODEL_PROFILE_START({layer.index});",
            f"    if ({layer.symbol}() != ARM_CMSIS_NN_SUCCESS) {{",
            "        goto failed;",
            "    }",
            f"    MODEL_PROFILE_END({layer.index});",
        ]
    if not layers:
        lines += ["    return 0;", "}"]
        return lines
    lines += ["    return 0;", "failed:", "    return layer;", "}"]
    return lines


def _arrays(layers: Iterable[Layer]) -> list[ConstArray]:
    """The constant arrays of the layers, each symbol once (layers share tables)."""
    arrays: dict[str, ConstArray] = {}
    for layer in layers:
        for a in layer.data:
            arrays.setdefault(a.symbol, a)
    return list(arrays.values())


def _values(values: np.ndarray, per_line: int, ctype: str = "int32_t") -> list[str]:
    literal = c_int64 if ctype == "int64_t" else c_int
    flat = [literal(v) for v in np.asarray(values).reshape(-1).tolist()]
    return ["    " + ", ".join(flat[i : i + per_line]) + "," for i in range(0, len(flat), per_line)]


def _model_data_c(layers: Sequence[Layer]) -> str:
    lines = [
        "/* Generated by tinyabi-cmsis-nn: the model's constant data (weights, biases,",
        " * requantization multipliers and shifts), in flash. Do not edit. */",
        "#include <stdint.h>",
        "",
        "#if defined(__GNUC__) || defined(__clang__)",
        "#define MODEL_DATA_ALIGNED __attribute__((aligned(16)))",
        "#else",
        "#define MODEL_DATA_ALIGNED",
        "#endif",
    ]
    for array in _arrays(layers):
        per_line = {"int8_t": 16, "int16_t": 12, "int64_t": 4}.get(array.ctype, 8)
        lines += [
            "",
            f"const {array.ctype} {array.symbol}[{array.values.size}] MODEL_DATA_ALIGNED = {{",
            *_values(array.values, per_line, array.ctype),
            "};",
        ]
    if not _arrays(layers):
        lines += ["", "extern const int8_t model_data_empty;", "const int8_t model_data_empty = 0;"]
    return "\n".join(lines) + "\n"


def _layer_table(layers: Sequence[Layer]) -> str:
    rows = ["| layer | operator | CMSIS-NN call |", "|---|---|---|"]
    rows += [f"| {layer.index} | {layer.op} | `{layer.entry}` |" for layer in layers]
    return "\n".join(rows)


def write_project(
    generated: GeneratedModel, directory: Path, library: Library | None = None
) -> list[Path]:
    """Write the generated files into ``directory`` and, when ``library`` (the one
    ``generated`` was made for; default the portable copy) is tinyabi's portable copy, its
    headers and the sources the model needs into ``directory/cmsis_nn``. Returns the paths
    written."""
    library = library or portable_library()
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in FILES:
        path = directory / name
        path.write_text(generated.files[name], encoding="utf-8")
        written.append(path)
    if library.portable:
        for file in (*library.headers, *generated.sources):
            target = directory / LIBRARY_FOLDER / library.relative(file)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
            written.append(target)
    return written
