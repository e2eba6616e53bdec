"""Which library sources a build compiles: the definition scanner on a small C tree (checked by
gcc: the selection links, what it leaves out would not even compile), and the one-line message
a build that fails anyway gives (the failing source and the compiler's first error), whether
the session is strict or falls back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tinyabi_cmsis_nn.build import cortexm, host
from tinyabi_cmsis_nn.build.diagnostics import summary
from tinyabi_cmsis_nn.build.sources import SymbolIndex

import tinyabi
from tests.conftest import assert_one_line_error, shared_model, tinyabi_cli
from tinyabi.errors import BackendError, FallbackWarning
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization

HEADER = """\
#ifndef LIB_H
#define LIB_H
#ifdef __cplusplus
extern "C" {
#endif
int entry(int x);
int leaf_a(int x);
int leaf_b(int x);
int unused(int x);
extern const int table[4];
extern const int one;
static inline int helper_inline(int x) { return leaf_a(x) + 1; }
#define CALL_B(x) leaf_b(x)
#ifdef __cplusplus
}
#endif
#endif
"""

FILES = {
    "Include/lib.h": HEADER,
    "Source/A/entry.c": """\
#include "lib.h"
static int local(int x) { return x * 2; }  /* also a name in unused.c */
int entry(int x)
{
#if defined(SOME_CORE_FEATURE)
    if (x > 0) {
#else
    if (x >= 0) {
#endif
        x = helper_inline(x);
    }
    return CALL_B(x) + local(x);
}
""",
    "Source/B/leaf_a.c": '#include "lib.h"\nint leaf_a(int x) { return x - one; }\n',
    "Source/C/one.c": '#include "lib.h"\nconst int one = 1;\nint spare_buffer[8];\n',
    "Source/B/leaf_b.c": '#include "lib.h"\nint leaf_b(int x) { return x + table[x & 3]; }\n',
    "Source/C/table.c": '#include "lib.h"\nconst int table[4] = {1, 2, 3, 4};\n',
    "Source/C/unused.c": (
        '#include "lib.h"\nstatic int local(int x) { return x; }\n'
        "int unused(int x) { return local(x) + entry(x); }\n"
    ),
    "Source/D/float_only_f16.c": "float16_t half(float16_t x) { return x; }\n",
}


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _index(root: Path) -> SymbolIndex:
    return SymbolIndex([*root.rglob("*.c"), *root.rglob("*.h")])


def test_the_selection_follows_calls_macros_inline_functions_and_data(tmp_path: Path) -> None:
    root = _tree(tmp_path / "lib", FILES)
    selected = _index(root).select(["entry"])
    names = sorted(p.relative_to(root).as_posix() for p in selected)
    assert names == [
        "Source/A/entry.c",
        "Source/B/leaf_a.c",
        "Source/B/leaf_b.c",
        "Source/C/one.c",
        "Source/C/table.c",
    ]
    # gcc agrees: the selection links into a program (every symbol defined), and everything
    # left out is not needed; the float16 file would not even compile here.
    main = tmp_path / "main.c"
    main.write_text('#include "lib.h"\nint main(void) { return entry(3) == 13 ? 0 : 1; }\n')
    program = tmp_path / "program"
    command = ["gcc", "-std=c99", f"-I{root / 'Include'}", str(main), *map(str, selected)]
    subprocess.run([*command, "-o", str(program)], check=True, capture_output=True)
    assert subprocess.run([str(program)]).returncode == 0
    broken = subprocess.run(
        ["gcc", "-c", str(root / "Source/D/float_only_f16.c"), "-o", str(tmp_path / "f.o")],
        capture_output=True,
        text=True,
    )
    assert broken.returncode != 0 and "float16_t" in broken.stderr


def test_the_selection_finds_files_wherever_they_moved(tmp_path: Path) -> None:
    moved = dict(FILES)
    moved["Source/Elsewhere/deeper/leaf_a.c"] = moved.pop("Source/B/leaf_a.c")
    root = _tree(tmp_path / "lib", moved)
    names = {p.name for p in _index(root).select(["entry"])}
    assert names == {"entry.c", "leaf_a.c", "leaf_b.c", "one.c", "table.c"}


def test_generated_code_is_a_root_of_the_selection(tmp_path: Path) -> None:
    root = _tree(tmp_path / "lib", FILES)
    code = (
        "static int layer0(void) { return unused(1); }\nint model_run(void) { return layer0(); }\n"
    )
    names = {p.name for p in _index(root).select(code=code)}
    # unused() calls entry(); each file calls its own static local()
    assert names == {"unused.c", "entry.c", "leaf_a.c", "leaf_b.c", "one.c", "table.c"}
    assert _index(root).select(["no_such_function"]) == ()


# --- failing builds say what failed in one line -------------------------------------------------

PORTABLE = host.PORTABLE_LIBRARY


def _portable_tree(root: Path, broken_prefix: str) -> Path:
    """The portable library laid out as a CMSIS-NN tree, its convolution source broken by
    ``broken_prefix`` (a float16 declaration, as in Arm's float sources)."""
    shutil.copytree(PORTABLE / "include", root / "Include")
    shutil.copytree(PORTABLE / "src", root / "Source" / "Portable")
    source = root / "Source" / "Portable" / "convolution.c"
    source.write_text(broken_prefix + source.read_text())
    return root


def _conv_graph() -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder("conv")
    x = b.input("x", "int8", (1, 5, 5, 2), quant=(0.1, 2))
    w = b.const(
        "w",
        rng.integers(-127, 128, size=(3, 3, 3, 2)).astype(np.int8),
        Quantization(np.array([0.01]), np.array([0])),
    )
    y = b.tensor("y", "int8", (1, 5, 5, 3), quant=(0.2, -1))
    b.node("CONV_2D", [x, w, None], [y], padding="SAME", stride_h=1, stride_w=1)
    return b.build(outputs=[y])


def _assert_names_source_and_error(message: str) -> None:
    assert "\n" not in message, message
    assert "Source/Portable/convolution.c" in message, message
    assert "error: unknown type name" in message and "float16_t" in message, message


def test_a_source_that_does_not_compile_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(host.ENV_CACHE_DIR, str(tmp_path / "cache"))
    tree = _portable_tree(tmp_path / "CMSIS-NN", "float16_t tinyabi_broken;\n")
    graph = _conv_graph()
    backends = [("cmsis-nn", {"cmsis_nn_path": str(tree)})]
    with pytest.raises(BackendError) as strict:
        tinyabi.Session(graph, backends=backends, strict=True)  # type: ignore[arg-type]
    _assert_names_source_and_error(str(strict.value))
    with pytest.warns(FallbackWarning) as caught:
        session = tinyabi.Session(graph, backends=backends)  # type: ignore[arg-type]
    assert [p.backend for p in session.plan.partitions] == ["reference"]
    (warning,) = caught
    _assert_names_source_and_error(str(warning.message))
    (fallback,) = session.fallbacks
    _assert_names_source_and_error(fallback.error)


def test_a_source_that_only_fails_for_the_core_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host build (and the size oracle) compile; the firmware build does not."""
    if cortexm.missing_tools():
        pytest.fail(f"{cortexm.DEBIAN_PACKAGES} are needed")
    monkeypatch.setenv(host.ENV_CACHE_DIR, str(tmp_path / "cache"))
    tree = _portable_tree(
        tmp_path / "CMSIS-NN", "#if defined(__ARM_ARCH)\nfloat16_t tinyabi_broken;\n#endif\n"
    )
    options = {"cmsis_nn_path": str(tree), "target": "cortex-m4"}
    with pytest.raises(BackendError) as strict:
        tinyabi.Session(_conv_graph(), backends=[("cmsis-nn", options)], strict=True)
    _assert_names_source_and_error(str(strict.value))


def test_summary_names_the_source_that_included_the_failing_header() -> None:
    output = (
        "In file included from Include/arm_nnfunctions.h:43,\n"
        "                 from Source/X/arm_add_f16.c:31:\n"
        "Include/arm_nn_types_flt.h:40:5: error: unknown type name 'float16_t'\n"
        "Include/arm_nn_types_flt.h:41:5: error: unknown type name 'float16_t'\n"
    )
    assert summary(output) == (
        "Source/X/arm_add_f16.c: Include/arm_nn_types_flt.h:40:5: error: unknown type name "
        "'float16_t'"
    )
    assert summary("") == "(no output)"


# --- the command line -----------------------------------------------------------------------------


def test_codegen_cmsis_nn_flag_errors_are_one_line(tmp_path: Path) -> None:
    model = str(shared_model("ad01_int8"))
    out = str(tmp_path / "out")
    result = tinyabi_cli("codegen", model, "--backend", "cmsis-nn", "--cmsis-nn", out, "-o", out)
    assert_one_line_error(result, "not a CMSIS-NN source tree")
    result = tinyabi_cli("codegen", model, "--backend", "reference", "--cmsis-nn", out, "-o", out)
    assert_one_line_error(result, "--cmsis-nn applies to the cmsis-nn backend")
