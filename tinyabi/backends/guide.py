"""The plugin author's guide (``docs/plugins.md``), generated from the hook specifications, the
backend contract's docstrings, the plugin API list and the example plugin's source, so the
documentation cannot drift from the code.

Regenerate with ``python -m tinyabi.backends.guide > docs/plugins.md``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinyabi import PLUGIN_API_MODULES, hookspecs
from tinyabi.backends import base
from tinyabi.ir.validate import NodeCheck

__all__ = ["render_plugin_guide"]

_INTRO = """\
# Writing a tinyabi backend plugin

_Generated from `tinyabi/hookspecs.py`, `tinyabi/backends/base.py`, `tinyabi.PLUGIN_API_MODULES`
and the example plugin in `tests/plugins/tinyabi-example-backend` by
`python -m tinyabi.backends.guide`; do not edit by hand._

A backend plugin is an installable distribution that advertises a module in the `tinyabi`
entry-point group; the module implements the hooks below, marked with `@tinyabi.hookimpl`:

```toml
[project.entry-points.tinyabi]
example = "tinyabi_example_backend.plugin"
```

Users pass a backend's options as `("example-add", {"max_nodes": 4})` in a session's backend
list or `--backends example-add:max_nodes=4` on the command line; the registry validates them
against the backend's `Options` model before anything runs and reports an unknown key (with a
did-you-mean) or a bad value in one line.
"""

_RULES = """\
## The rules a backend keeps

- **`supports` answers, never acts.** It returns a `Verdict` (a reason, and a hint for the user,
  when it says no), reads the node's `NodeCheck` instead of validating again, and changes
  nothing it is given. An exception there is not fatal: the dispatcher records it as the reason
  the backend declined the node.
- **What to raise.** `compile` may raise anything when it cannot compile a partition: the session
  records a fallback (the nodes go to the next backend; with `strict=True` it is an error) and
  names your backend and the partition. Prefer `tinyabi.errors.BackendError` with one line that
  says what failed. `run` raises `BackendError` for a failure of your runtime; the session never
  returns partial outputs. Never raise from `accept` or `estimate` either (an exception is a
  refusal, or no estimate).
- **What `run` returns.** Every output of the partition graph, by name, as a numpy array with the
  dtype and shape its tensor declares (the session checks, and a wrong one is a `BackendError`
  naming you). The arrays belong to the caller: no views of your buffers that a later run would
  overwrite, and no views of the inputs.
- **Threads.** `run` may be called from several threads at once and must give each call its own
  correct answer: serialize inside the partition (a lock held for the whole run) when your
  runtime is not re-entrant, and keep a stateful run (reset, update, run) under one lock.
- **Memory.** `CompiledPartition.memory` tells the planner what you need besides the graph's
  tensors, which tinyabi places in one arena: `persistent` bytes live as long as the session and
  are summed over partitions (an interpreter's own arena, tables, state); `scratch` bytes are
  needed only while one partition runs, so the plan reserves the largest of them once.
- **Per-layer profiles (optional).** `CompiledPartition.profile(inputs)` runs once like `run` and
  also returns one `LayerCost` per node that ran: host `seconds`, counted `instructions` (a core
  under QEMU) and/or simulated `cycles` (an accelerator's model), each `None` when unknown.
  `Session.profile()` and `tinyabi run --profile` show them as rows under your partition; the
  default (`None`) shows the partition's time alone.
- **Batches (optional).** `CompiledPartition.run_batch(inputs, count)` gets `count` samples along
  a new leading axis of every input and returns every output likewise; `Session.run_batch` and
  `tinyabi compare --against` call it. The default runs the samples one by one through `run`;
  override it only if your runtime computes a batch faster, and keep the bytes those runs give.
- **Quantization.** Take every quantization parameter (multipliers, shifts, offsets, clamps,
  tables) from `tinyabi.quantization`: its functions implement the spec's arithmetic once, and
  the conformance suite checks you against it.
- **Imports.** Import only the plugin API below; anything else in tinyabi may change at any
  release.

Check a backend against the spec with the conformance suite: `tinyabi conformance --backend
my-npu [--ops CONV_2D,ADD] [--cases N] [--seed S] [--json report.json]` generates seeded
single-operator cases for every operator signature, runs each case the backend's `supports()`
claims, and compares the outputs with the reference backend under the signature's tolerance
(exit status 1 when any claimed case fails). From Python: `tinyabi.conformance.run_conformance`.
"""

#: The example plugin the guide shows whole (a test installs and runs it in a fresh venv).
EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "tests"
    / "plugins"
    / "tinyabi-example-backend"
    / "tinyabi_example_backend"
    / "plugin.py"
)


def _example() -> list[str]:
    return [
        "## A backend from scratch",
        "",
        "`tests/plugins/tinyabi-example-backend` is a complete plugin distribution: its",
        "`pyproject.toml` declares the entry point above, and this module is all of its code. It",
        "runs int8 ADD in its own numpy arithmetic, limits partitions with `accept`, declares its",
        "scratch memory and registers itself. `plugins/tinyabi-tflm` (a runtime wrapped) and",
        "`plugins/tinyabi-cmsis-nn` (a code generator) are larger real ones.",
        "",
        "```python",
        EXAMPLE.read_text().rstrip(),
        "```",
        "",
    ]


def _plugin_api() -> list[str]:
    lines = [
        "## The plugin API",
        "",
        "A plugin imports from these modules only; their `__all__` is kept stable within a spec",
        "minor version (`tinyabi.PLUGIN_API_MODULES`, checked by the test suite for the plugins",
        "in this repository).",
        "",
        "| module | exports |",
        "|---|---|",
    ]
    for name in PLUGIN_API_MODULES:
        exported = ", ".join(f"`{n}`" for n in importlib.import_module(name).__all__)
        lines.append(f"| `{name}` | {exported} |")
    return [*lines, ""]


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "(undocumented)")


def _signature(fn: Callable[..., Any]) -> str:
    """``name(param: annotation = default, ...) -> annotation`` with annotations as written."""
    sig = inspect.signature(fn)
    params = []
    for p in sig.parameters.values():
        text = p.name + (f": {p.annotation}" if p.annotation is not p.empty else "")
        params.append(text + (f" = {p.default!r}" if p.default is not p.empty else ""))
    returns = f" -> {sig.return_annotation}" if sig.return_annotation is not sig.empty else ""
    return f"{fn.__name__}({', '.join(params)}){returns}"


def render_plugin_guide() -> str:
    """The guide as Markdown."""
    lines = [_INTRO, *_example(), _RULES, *_plugin_api(), "## Hooks", "", _doc(hookspecs), ""]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("tinyabi_"):
            lines += [f"### `{_signature(fn)}`", "", _doc(fn), ""]
    lines += ["## The backend contract", "", _doc(base), ""]
    for cls in (
        base.Backend,
        base.BackendOptions,
        NodeCheck,
        base.CompiledPartition,
        base.Verdict,
        base.MemoryNeeds,
        base.Estimate,
        base.LayerCost,
        base.Pattern,
    ):
        lines += [f"### `{cls.__name__}`", "", _doc(cls), ""]
        for name, member in cls.__dict__.items():
            method: Any = (
                member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            )
            if name.startswith("_") or not inspect.isfunction(method):
                continue
            lines += [f"- `{_signature(method)}`: {' '.join(_doc(method).split())}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_plugin_guide(), end="")
