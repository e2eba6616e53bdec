"""Case generators by intent, each seeded and named in the report.

* ``pseudo-random``: today's random cases (:func:`tinyabi.conformance.cases.generate_cases`).
* ``full-range``: integer inputs that take every value of their type (every int8 value in one
  case for elementwise operators; the extremes of int16).
* ``special``: the integers implementations get wrong (:mod:`tinyabi.conformance.special`).
* ``shapes``: size-1 and prime extents, SAME/VALID with every stride and dilation remainder,
  broadcasting across ranks (:mod:`tinyabi.conformance.shapes`).
* ``negative``: graphs that break the spec, which a backend must decline or reject
  (:mod:`tinyabi.conformance.negative`).

A positive candidate is kept only when the reference backend accepts and runs it (its outputs
are the expected ones); a negative one only when the spec check finds the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tinyabi.backends.reference import ReferenceBackend
from tinyabi.conformance import negative, shapes, special
from tinyabi.conformance.cases import (
    ATTEMPTS_PER_CASE,
    Case,
    _candidate,
    case_rng,
    generate_cases,
)
from tinyabi.errors import InputError, TinyABIError
from tinyabi.ir.graph import Graph, numpy_dtype
from tinyabi.ir.validate import check_node
from tinyabi.spec import OperatorSpec, Signature

__all__ = [
    "DEFAULT_GENERATORS",
    "GENERATORS",
    "Candidate",
    "Generator",
    "MakeFn",
    "check_generators",
    "every_value",
    "generate",
]

Candidate = tuple[Graph, dict[str, np.ndarray]]
#: Makes the ``k``-th candidate of a generator (``k`` = cases kept so far), or ``None``.
MakeFn = Callable[[OperatorSpec, Signature, np.random.Generator, int], Candidate | None]


@dataclass(frozen=True)
class Generator:
    """A named way of making cases, and whether its cases break the spec on purpose."""

    name: str
    description: str
    make: MakeFn | None = None
    negative: bool = False
    #: The fewest cases it makes per signature of an operator, whatever count is asked (one
    #: per variant it walks through).
    min_count: Callable[[OperatorSpec], int] = field(default=lambda op: 0)
    #: Whether it has anything to make for a signature (default: always).
    applies: Callable[[Signature], bool] = field(default=lambda sig: True)


def _full_range(
    op: OperatorSpec, sig: Signature, rng: np.random.Generator, k: int
) -> Candidate | None:
    """A candidate whose integer inputs cover their type's whole range."""
    layout = shapes.widened(op, sig, rng, 256)
    candidate = _candidate(op, sig, rng, layout)
    if candidate is None:
        return None
    graph, inputs = candidate
    filled = False
    for name, data in inputs.items():
        dtype = np.dtype(numpy_dtype(graph.tensor(name).dtype))
        if not np.issubdtype(dtype, np.integer) or dtype.itemsize > 2:
            continue
        inputs[name] = every_value(dtype, data.shape, rng, start=k * max(data.size, 1))
        filled = True
    return candidate if filled else None


def every_value(
    dtype: np.dtype, shape: tuple[int, ...], rng: np.random.Generator, start: int = 0
) -> np.ndarray:
    """Values of ``dtype`` for ``shape``: every int8 value once per 256 elements (from
    ``start`` around the range when fewer), for int16 the extremes and zero, then random."""
    size = int(np.prod(shape, dtype=np.int64))
    info = np.iinfo(dtype)
    if dtype.itemsize == 1:
        values = (np.arange(size) + start) % 256 + int(info.min)
        if size >= 256:
            values = np.resize(rng.permutation(256) + int(info.min), size)
    else:
        edges = np.array([info.min, info.min + 1, -1, 0, 1, info.max - 1, info.max])
        values = rng.integers(int(info.min), int(info.max), size=size, endpoint=True)
        values[: min(size, edges.size)] = edges[: min(size, edges.size)]
        values = rng.permutation(values)
    return values.astype(dtype).reshape(shape)


GENERATORS: dict[str, Generator] = {
    "pseudo-random": Generator("pseudo-random", "random shapes, attributes, scales and data"),
    "full-range": Generator(
        "full-range",
        "integer inputs taking every value of their type",
        _full_range,
        applies=lambda sig: any(o.dtype in ("int8", "int16") for o in sig.operands.values()),
    ),
    "special": Generator(
        "special",
        "extreme zero points, multipliers near 2^-31 and 1, rounding ties, saturation, "
        "per-channel scales spanning 2^20",
        special.make,
        min_count=lambda op: len(special.TWISTS),
        applies=special.applies,
    ),
    "shapes": Generator(
        "shapes",
        "size-1 and prime extents, SAME/VALID at every stride and dilation remainder, "
        "broadcasting ranks",
        shapes.make,
        min_count=shapes.min_cases,
    ),
    "negative": Generator(
        "negative",
        "graphs that break the spec: must be declined or rejected",
        negative.make,
        negative=True,
    ),
}

#: The generators a run uses by default, in report order.
DEFAULT_GENERATORS: tuple[str, ...] = tuple(GENERATORS)


def check_generators(names: Sequence[str]) -> list[str]:
    """``names`` checked against :data:`GENERATORS` (an :class:`InputError` names the known
    ones)."""
    unknown = [n for n in names if n not in GENERATORS]
    if unknown:
        raise InputError(
            f"unknown case generator(s) {', '.join(unknown)}: known are {', '.join(GENERATORS)}"
        )
    return list(names)


def generate(
    op: OperatorSpec, signature: Signature, generator: str, count: int, seed: int = 0
) -> list[Case]:
    """Up to ``count`` cases of ``signature`` of ``op`` made by ``generator``."""
    gen = GENERATORS[generator]
    if gen.make is None:
        return generate_cases(op, signature, count, seed)
    if not gen.applies(signature):
        return []
    count = max(count, gen.min_count(op))
    rng = case_rng(op.name, f"{signature.name}/{generator}", seed)
    reference = ReferenceBackend()
    cases: list[Case] = []
    misses = 0
    for _ in range(count * ATTEMPTS_PER_CASE):
        if len(cases) == count or misses > 2 * ATTEMPTS_PER_CASE:
            break
        misses += 1
        candidate = gen.make(op, signature, rng, len(cases))
        if candidate is None:
            continue
        graph, inputs = candidate
        node = graph.nodes[0]
        check = check_node(node, graph)
        if gen.negative:
            if check.valid:
                continue
            expected: dict[str, np.ndarray] = {}
        else:
            if not reference.supports(node, graph, check):
                continue
            try:
                expected = reference.compile(graph).run(inputs)
            except (TinyABIError, ValueError, ArithmeticError):
                continue
        index, misses = len(cases), 0
        cases.append(
            Case(op.name, signature.name, index, graph, inputs, expected, generator, gen.negative)
        )
    return cases
