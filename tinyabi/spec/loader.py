"""Load and validate the spec files under ``specs/tinyabi-<version>/``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tinyabi.errors import SpecError
from tinyabi.spec.models import OperatorSpec, Spec, TensorABI

__all__ = ["SPEC_VERSION", "load_spec", "load_spec_from", "spec_dir", "specs_root"]

#: The spec version this release of tinyabi implements.
SPEC_VERSION = "0.1"

_Model = TypeVar("_Model", bound=BaseModel)


def specs_root() -> Path:
    """The folder that holds ``tinyabi-<version>/`` spec folders.

    ``tinyabi/spec/data`` is a symbolic link to ``specs/`` at the repository root, which a built
    wheel turns into a copy inside the package.
    """
    here = Path(__file__).parent
    for candidate in (here / "data", here.resolve().parents[1] / "specs"):
        if candidate.is_dir():
            return candidate
    raise SpecError(f"no spec folder found near {here}")


def spec_dir(version: str = SPEC_VERSION) -> Path:
    """The folder of one spec version."""
    path = specs_root() / f"tinyabi-{version}"
    if not path.is_dir():
        raise SpecError(f"spec version {version} not found: {path} does not exist")
    return path


def _read(path: Path, model: type[_Model]) -> _Model:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"{path}: {problems}") from None


def load_spec_from(folder: Path, version: str) -> Spec:
    """Read and validate a spec folder (``abi.yaml`` and ``ops/*.yaml``)."""
    abi = _read(folder / "abi.yaml", TensorABI)
    operators: dict[str, OperatorSpec] = {}
    for path in sorted((folder / "ops").glob("*.yaml")):
        op = _read(path, OperatorSpec)
        if op.name != path.stem:
            raise SpecError(f"{path}: field name: {op.name!r} does not match the file name")
        operators[op.name] = op
    return Spec(version=version, abi=abi, operators=operators)


@functools.cache
def load_spec(version: str = SPEC_VERSION) -> Spec:
    """The spec of ``version``, validated (cached)."""
    return load_spec_from(spec_dir(version), version)
