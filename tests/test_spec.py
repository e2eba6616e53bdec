"""The spec files load, render, and the committed reference is up to date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tinyabi.errors import SpecError
from tinyabi.kernels import has_kernel
from tinyabi.spec import load_spec, load_spec_from, spec_dir
from tinyabi.spec.render import json_schema, render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_spec_loads_and_names_match_files() -> None:
    spec = load_spec()
    assert spec.version == "0.1"
    assert spec.operators, "the spec has no operators"
    for name, op in spec.operators.items():
        assert name == op.name


def test_committed_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "spec.md").read_text()
    assert committed == render_markdown(load_spec()), (
        "docs/spec.md is out of date: run `tinyabi spec -o docs/spec.md`"
    )


def test_every_spec_operator_has_a_reference_kernel() -> None:
    missing = [op for op in load_spec().operators if not has_kernel(op)]
    assert not missing, f"spec operators without a reference kernel: {missing}"


def test_json_schema_describes_the_spec_format() -> None:
    schema = json_schema()
    assert schema["title"] == "TinyABI spec"
    assert {"version", "abi", "operators"} <= set(schema["properties"])
    json.dumps(schema)  # serializable


def _copy_spec(tmp_path: Path) -> Path:
    folder = tmp_path / "tinyabi-0.1"
    shutil.copytree(spec_dir(), folder)
    return folder


def test_malformed_operator_file_names_file_and_field(tmp_path: Path) -> None:
    folder = _copy_spec(tmp_path)
    path = folder / "ops" / "CONV_2D.yaml"
    path.write_text(path.read_text().replace("version: 1", "version: zero", 1))
    with pytest.raises(SpecError, match=r"CONV_2D\.yaml: field version"):
        load_spec_from(folder, "0.1")


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    folder = _copy_spec(tmp_path)
    path = folder / "ops" / "CONV_2D.yaml"
    path.write_text(path.read_text() + "colour: blue\n")
    with pytest.raises(SpecError, match=r"CONV_2D\.yaml: field colour"):
        load_spec_from(folder, "0.1")


def test_signature_naming_unknown_operand_is_rejected(tmp_path: Path) -> None:
    folder = _copy_spec(tmp_path)
    path = folder / "ops" / "CONV_2D.yaml"
    path.write_text(
        path.read_text().replace(
            "      filter: {dtype: float32}", "      weights: {dtype: float32}", 1
        )
    )
    with pytest.raises(SpecError, match=r"CONV_2D\.yaml: .*unknown operands \['weights'\]"):
        load_spec_from(folder, "0.1")


def test_broken_abi_file_names_the_file(tmp_path: Path) -> None:
    folder = _copy_spec(tmp_path)
    (folder / "abi.yaml").write_text("element_types: [unclosed\n")
    with pytest.raises(SpecError, match=r"abi\.yaml"):
        load_spec_from(folder, "0.1")


def test_float_dot_products_declare_the_dot_product_verify_mode() -> None:
    """Reductions whose summation order is free are verified against the float32 dot-product
    error bound, not a fixed relative tolerance (TOSA's dot-product mode)."""
    from tinyabi.spec import load_spec

    spec = load_spec()
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
        tol = spec.operators[op].signature("float32").tolerance
        assert tol.kind == "dot_product" and tol.ulp == 1.0, op
