"""The plugin author's guide (``docs/plugins.md``), generated from the hook specifications and
the backend contract's docstrings, so the documentation cannot drift from the code.

Regenerate with ``python -m tinyabi.backends.guide > docs/plugins.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tinyabi import hookspecs
from tinyabi.backends import base
from tinyabi.ir.validate import NodeCheck

__all__ = ["render_plugin_guide"]

_INTRO = """\
# Writing a tinyabi backend plugin

_Generated from `tinyabi/hookspecs.py` and `tinyabi/backends/base.py` by
`python -m tinyabi.backends.guide`; do not edit by hand._

A backend plugin is an installable distribution that advertises a module in the `tinyabi`
entry-point group and implements the hooks below with `@tinyabi.hookspecs.hookimpl`:

```toml
[project.entry-points.tinyabi]
my_npu = "my_npu_backend.plugin"
```

```python
from pydantic import Field

from tinyabi.backends import Backend, BackendOptions, CompiledPartition, Verdict
from tinyabi.hookspecs import hookimpl


class MyNpuOptions(BackendOptions):
    device: int = Field(0, description="which NPU to run on")


class MyNpu(Backend):
    name = "my-npu"
    Options = MyNpuOptions

    def supports(self, node, graph, check):
        if check.problem is not None:  # the node breaks the spec
            return Verdict.no(check.problem)
        if node.op == "CONV_2D" and check.signature == "int8":
            return Verdict.yes()
        return Verdict.no(f"{node.op} ({check.signature}) has no NPU kernel")

    def compile(self, subgraph):
        # a CompiledPartition: run(inputs) -> outputs
        return MyNpuPartition(subgraph, device=self.options.device)


@hookimpl
def tinyabi_register_backends(registry):
    registry.add(MyNpu)
```

Users pass options as `("my-npu", {"device": 1})` in a session's backend list or
`--backends my-npu:device=1` on the command line; the registry validates them against
`Options` before anything runs and reports an unknown key or a bad value in one line.

`tests/plugins/tinyabi-toy-backend/` in the repository is a complete example, and
`plugins/tinyabi-tflm` and `plugins/tinyabi-cmsis-nn` are real ones.

Check a backend against the spec with the conformance suite: `tinyabi conformance --backend
my-npu [--ops CONV_2D,ADD] [--cases N] [--seed S] [--json report.json]` generates seeded random
single-operator cases for every operator signature, runs each case the backend's `supports()`
claims, and compares the outputs with the reference backend under the signature's tolerance
(exit status 1 when any claimed case fails). From Python: `tinyabi.conformance.run_conformance`.
"""


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
    lines = [_INTRO, "## Hooks", "", _doc(hookspecs), ""]
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
