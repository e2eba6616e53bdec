"""The conformance suite as pytest items, for a vendor's CI (registered as the ``pytest11``
entry point ``tinyabi``).

``pytest --tinyabi-backend my-npu`` collects one item per case, named by the case id
(``tinyabi-conformance::CONV_2D/int8/special/3``): a PASS passes, NOT CLAIMED is skipped with
the backend's reason, MISMATCH and ERROR fail with the message. ``--tinyabi-include``,
``--tinyabi-exclude`` and ``--tinyabi-xfail`` take id patterns as in the CLI (``-k`` works as
usual); ``pytest -n N`` (pytest-xdist) distributes the items, and replaces a worker that a
crashing backend takes down (the case is then reported as failed). Without
``--tinyabi-backend`` the plugin adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tinyabi.backends.base import Backend
    from tinyabi.conformance.cases import Case
    from tinyabi.conformance.selection import Selection

__all__ = [
    "ConformanceCollector",
    "ConformanceFailure",
    "ConformanceItem",
    "pytest_addoption",
    "pytest_collection_modifyitems",
]

_BACKEND = pytest.StashKey["Backend"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--tinyabi-*`` options."""
    group = parser.getgroup("tinyabi", "tinyabi conformance suite")
    group.addoption(
        "--tinyabi-backend",
        metavar="NAME[:KEY=VALUE...]",
        help="run the tinyabi conformance suite on this backend, one item per case",
    )
    group.addoption("--tinyabi-ops", metavar="A,B", help="only these operators (default: all)")
    group.addoption(
        "--tinyabi-cases", type=int, default=5, help="cases per signature and generator"
    )
    group.addoption("--tinyabi-seed", type=int, default=0, help="seed of the cases")
    group.addoption("--tinyabi-generators", metavar="A,B", help="case generators (default: all)")
    for name, what in (
        ("include", "only cases whose id matches"),
        ("exclude", "not the cases whose id matches"),
        ("xfail", "cases expected to fail"),
    ):
        group.addoption(
            f"--tinyabi-{name}", action="append", default=[], metavar="PATTERN", help=what
        )


def _names(text: str | None) -> list[str]:
    return [i.strip() for i in (text or "").split(",") if i.strip()]


def _selection(config: pytest.Config) -> Selection:
    from tinyabi.conformance.selection import Selection

    def patterns(name: str) -> tuple[str, ...]:
        return tuple(p for item in config.getoption(name) for p in _names(item))

    return Selection(
        include=patterns("tinyabi_include"),
        exclude=patterns("tinyabi_exclude"),
        xfail=patterns("tinyabi_xfail"),
    )


def _cases(config: pytest.Config) -> Iterator[Case]:
    from tinyabi.conformance.generators import DEFAULT_GENERATORS, check_generators, generate
    from tinyabi.spec import load_spec

    spec = load_spec()
    ops = [o.upper() for o in _names(config.getoption("tinyabi_ops"))] or sorted(spec.operators)
    generators = check_generators(
        _names(config.getoption("tinyabi_generators")) or list(DEFAULT_GENERATORS)
    )
    count, seed = config.getoption("tinyabi_cases"), config.getoption("tinyabi_seed")
    for name in ops:
        if name not in spec.operators:
            raise pytest.UsageError(f"--tinyabi-ops: {name} is not a spec operator")
        op = spec.operators[name]
        for sig in op.signatures:
            for gen in generators:
                yield from generate(op, sig, gen, count, seed)


class ConformanceItem(pytest.Item):
    """One conformance case run on the backend under test."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def _backend(self) -> Backend:
        config = self.config
        if _BACKEND not in config.stash:
            from tinyabi.cli import backend_list
            from tinyabi.conformance.runner import make_backend

            (spec,) = backend_list(config.getoption("tinyabi_backend"))
            config.stash[_BACKEND] = make_backend(spec)
        return config.stash[_BACKEND]

    def runtest(self) -> None:
        """Run the case; skip when not claimed, fail on any failing status."""
        from tinyabi.conformance.isolation import attempt
        from tinyabi.conformance.outcome import Status
        from tinyabi.conformance.runner import judge
        from tinyabi.spec import load_spec

        case = self.case
        tol = load_spec().operators[case.op].signature(case.signature).tolerance
        result = judge(case, attempt(self._backend(), case.graph, case.inputs), tol)
        if result.status is Status.NOT_CLAIMED:
            pytest.skip(f"not claimed: {result.message}")
        if result.status is not Status.PASS:
            raise ConformanceFailure(result.status.value, result.stage, result.message, case)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The failing status, stage, message and the case's parameters."""
        if isinstance(excinfo.value, ConformanceFailure):
            return excinfo.value.describe()
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        """Where the item comes from: the spec operator and the case id."""
        return f"spec:{self.case.op}", None, self.case.id


class ConformanceFailure(Exception):
    """A case that did not pass, with what the report would say about it."""

    def __init__(self, status: str, stage: str | None, message: str, case: Case) -> None:
        super().__init__(f"{status} ({stage}): {message}")
        self.status, self.stage, self.message, self.case = status, stage, message, case

    def describe(self) -> str:
        """Status, stage, message and parameters, one per line."""
        params = self.case.params()
        tensors = ", ".join(f"{k}: {v}" for k, v in params["tensors"].items())
        attrs = ", ".join(f"{k}={v}" for k, v in params["attrs"].items())
        return f"{self.case.id} {self}\n  tensors {tensors}\n  attrs {attrs}"


class ConformanceCollector(pytest.Collector):
    """The generated cases, as items."""

    def collect(self) -> list[pytest.Item]:
        """One item per selected case."""
        selection = _selection(self.config)
        items: list[pytest.Item] = []
        for case in _cases(self.config):
            if not selection.selects(case.id):
                continue
            item = ConformanceItem.from_parent(self, name=case.id, case=case)
            if selection.expects_failure(case.id):
                item.add_marker(pytest.mark.xfail(reason="expected to fail (--tinyabi-xfail)"))
            items.append(item)
        return items


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """With ``--tinyabi-backend``, add the conformance items to the collected ones."""
    if not config.getoption("tinyabi_backend"):
        return
    collector = ConformanceCollector.from_parent(session, name="tinyabi-conformance")
    items.extend(collector.collect())
