"""The one exception hierarchy of tinyabi.

Everything tinyabi raises on purpose derives from :class:`TinyABIError`, so a caller can catch
the whole family with one ``except``. The subclasses say *whose* fault it is:

* :class:`ModelError`: the model file is malformed or uses something tinyabi cannot represent.
* :class:`SpecError`: a spec file is malformed (names the file and the field).
* :class:`GraphError`: a graph breaks the spec (names the node, the operator and the rule).
* :class:`UnsupportedOperatorError`: no backend can run a node (names the operator).
* :class:`InputError`: a feed does not match the model's inputs (says what was expected).
* :class:`BackendError`: a backend failed while compiling or running (names the backend).
* :class:`OptionsError`: options given to a backend are not the ones it declares.

:class:`FallbackWarning` is the warning a session gives when a backend fails to compile a
partition and other backends take its nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyabi.dispatch.plan import Plan

__all__ = [
    "BackendError",
    "FallbackWarning",
    "GraphError",
    "InputError",
    "ModelError",
    "OptionsError",
    "SpecError",
    "TinyABIError",
    "UnsupportedOperatorError",
]


class TinyABIError(Exception):
    """Base class of every error tinyabi raises on purpose."""


class ModelError(TinyABIError):
    """A model file is malformed, truncated or inconsistent."""


class SpecError(TinyABIError):
    """A spec file is malformed or inconsistent."""


class GraphError(TinyABIError):
    """A graph or one of its nodes breaks the spec."""


class UnsupportedOperatorError(GraphError):
    """No available backend can run a node of the graph (the message names the operator and
    each backend's reason). ``plan``, when the planner got that far, is the plan with those
    nodes unassigned (a :class:`tinyabi.dispatch.Plan`), so a caller can still show it."""

    def __init__(self, message: str, plan: Plan | None = None) -> None:
        super().__init__(message)
        self.plan = plan


class InputError(TinyABIError):
    """Inputs given to a session do not match the model."""


class BackendError(TinyABIError):
    """A backend failed while compiling or running a partition."""


class OptionsError(TinyABIError):
    """Options given to a backend are unknown or have bad values (one line: the backend, the
    option, what is wrong and the options it takes)."""


class FallbackWarning(UserWarning):
    """A backend failed to compile a partition and the session gave its nodes to other
    backends (one line: the backend, the partition, the error and who runs the nodes now)."""
