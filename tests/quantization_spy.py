"""Observing which :mod:`tinyabi.quantization` parameter functions a node's parameters come from.

:func:`spy_on_parameters` wraps every function the spec's ``parameters`` fields name, in its
module, so that every caller reaching it through the module (as kernels, constraints and code
generators do) is recorded with the node it asked about. :func:`expected_functions` says which
functions a node must get its parameters from: its operator's, when its signature is quantized.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import validate_node
from tinyabi.spec import Spec, load_spec


@dataclass
class ParameterSpy:
    """The parameter functions called so far, per node name (dotted paths)."""

    calls: dict[str, set[str]] = field(default_factory=dict)

    def record(self, node: Node, path: str) -> None:
        """Note that ``path`` computed parameters of ``node``."""
        self.calls.setdefault(node.name, set()).add(path)

    def clear(self) -> None:
        """Forget every call (before the next graph)."""
        self.calls.clear()

    def check(self, node: Node, graph: Graph, who: str, spec: Spec | None = None) -> bool:
        """Assert that ``node`` got its parameters from its operator's function(s) and from no
        other operator's; returns whether the node has a quantized signature at all."""
        expected = expected_functions(node, graph, spec)
        got = self.calls.get(node.name, set())
        if not expected:
            assert not got, f"{who}: {node.describe()} has no quantized signature, yet called {got}"
            return False
        assert got, f"{who}: {node.describe()} got its parameters without {expected}"
        assert got <= set(expected), f"{who}: {node.describe()} called {got}, not {expected}"
        return True


def parameter_paths(spec: Spec | None = None) -> list[str]:
    """Every dotted path the spec's ``parameters`` fields name."""
    spec = spec or load_spec()
    return sorted({p for op in spec.operators.values() for p in op.parameter_functions})


def resolve(path: str) -> tuple[Any, str]:
    """``(module, attribute name)`` of a dotted path ``package.module.function``."""
    module_name, name = path.rsplit(".", 1)
    return importlib.import_module(module_name), name


def expected_functions(node: Node, graph: Graph, spec: Spec | None = None) -> list[str]:
    """The parameter functions ``node`` must use: its operator's when its first input or its
    output is quantized in the node's signature, else none."""
    spec = spec or load_spec()
    op = spec.operators.get(node.op)
    if op is None or not op.parameter_functions:
        return []
    signature = validate_node(node, graph, spec)
    if signature is None:
        return []
    operands = op.signature(signature).operands
    ends = (op.inputs[0].name, op.outputs[0].name)
    quantized = any(n in operands and operands[n].quantization != "none" for n in ends)
    return op.parameter_functions if quantized else []


def spy_on_parameters(monkeypatch: pytest.MonkeyPatch) -> ParameterSpy:
    """Wrap every parameter function in its module for the test's duration."""
    spy = ParameterSpy()
    for path in parameter_paths():
        module, name = resolve(path)
        original: Callable[[Node, Graph], Any] = getattr(module, name)

        def wrapper(
            node: Node,
            graph: Graph,
            _original: Callable[[Node, Graph], Any] = original,
            _path: str = path,
        ) -> Any:
            spy.record(node, _path)
            return _original(node, graph)

        monkeypatch.setattr(module, name, functools.wraps(original)(wrapper))
    return spy
