"""Declared backend options: validated by the registry before anything runs, one-line errors,
the same models for the command line's ``NAME:KEY=VALUE`` text."""

from __future__ import annotations

from typing import Any

import pytest

import tinyabi
from tests.conftest import assert_one_line_error, shared_model, tinyabi_cli
from tinyabi.backends.registry import default_registry
from tinyabi.cli import backend_list
from tinyabi.errors import OptionsError

REAL_BACKENDS = ["reference", "tflm", "litert", "cmsis-nn"]


def create(name: str, options: dict[str, Any]) -> Any:
    return default_registry().create(name, options)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        (
            "cmsis-nn",
            {"targt": "cortex-m4"},
            "backend 'cmsis-nn': unknown option 'targt' (did you mean 'target'?); "
            "its options are target, cc, cmsis_nn_path, optimise",
        ),
        ("reference", {"foo": "bar"}, "backend 'reference' takes no options; got 'foo'"),
        (
            "tflm",
            {"bogus": 1},
            "backend 'tflm': unknown option 'bogus'; its options are ops, nodes",
        ),
        (
            "litert",
            {"thread": 2},
            "backend 'litert': unknown option 'thread' (did you mean 'threads'?); "
            "its options are ops, nodes, kernels, threads, int8",
        ),
    ],
)
def test_unknown_options_name_the_key_a_guess_and_the_allowed_ones(
    name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(OptionsError) as info:
        create(name, options)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "options", "start"),
    [
        (
            "cmsis-nn",
            {"target": "cortex-m0"},
            "backend 'cmsis-nn': option 'target' = 'cortex-m0': ",
        ),
        (
            "cmsis-nn",
            {"optimise": "speed"},
            "backend 'cmsis-nn': option 'optimise' = 'speed': ",
        ),
        ("litert", {"threads": "many"}, "backend 'litert': option 'threads' = 'many': "),
        ("litert", {"kernels": "fastest"}, "backend 'litert': option 'kernels' = 'fastest': "),
        ("tflm", {"ops": 3}, "backend 'tflm': option 'ops' = 3: "),
    ],
)
def test_bad_values_name_the_option_and_pydantic_s_reason(
    name: str, options: dict[str, Any], start: str
) -> None:
    with pytest.raises(OptionsError) as info:
        create(name, options)
    message = str(info.value)
    assert message.startswith(start) and "\n" not in message
    assert "its options are" in message


def test_command_line_text_converts_through_the_declared_models() -> None:
    ((name, options),) = backend_list("litert:threads=4:int8=true:ops=CONV_2D+ADD")
    backend = create(name, dict(options))
    assert (backend.options.threads, backend.options.int8) == (4, True)
    assert backend.options.ops == ("CONV_2D", "ADD")
    assert create("cmsis-nn", {"target": "cortex-m4"}).options.target == "cortex-m4"
    ((name, options),) = backend_list("cmsis-nn:optimise=size")
    assert create(name, dict(options)).options.optimise == "size"
    assert create("cmsis-nn", {}).options.optimise == "performance"


def test_every_declared_option_has_a_description() -> None:
    for name in REAL_BACKENDS:
        fields = default_registry().get(name).cls.Options.model_fields
        for key, field in fields.items():
            assert field.description, f"{name} option {key} has no description"


def test_session_validates_options_before_planning() -> None:
    with pytest.raises(OptionsError, match="backend 'tflm': unknown option 'bogus'"):
        tinyabi.Session(shared_model("ad01_int8"), backends=[("tflm", {"bogus": 1})])


@pytest.mark.parametrize(
    ("backends", "words"),
    [
        ("cmsis-nn:targt=cortex-m4", ["unknown option 'targt'", "target, cc, cmsis_nn_path"]),
        ("cmsis-nn:optimise=speed", ["option 'optimise' = 'speed'", "performance", "size"]),
        ("reference:foo=bar", ["backend 'reference' takes no options; got 'foo'"]),
    ],
)
def test_cli_option_errors_are_one_line(backends: str, words: list[str]) -> None:
    model = str(shared_model("ad01_int8"))
    assert_one_line_error(tinyabi_cli("run", model, "--backends", backends), *words)
