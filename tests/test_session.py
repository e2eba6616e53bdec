"""The run API: feeds are checked, never cast; outputs come back by name."""

from __future__ import annotations

import numpy as np
import pytest

import tinyabi
from tests.conftest import shared_model
from tinyabi.errors import InputError, TinyABIError


@pytest.fixture(scope="module")
def session() -> tinyabi.Session:
    return tinyabi.Session(tinyabi.load(shared_model("ad01_int8")), backends=["reference"])


def test_feeds_by_name_and_by_position_agree(session: tinyabi.Session) -> None:
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 640)).astype(np.int8)
    by_name = session.run({"input_1": x})
    by_position = session.run([x])
    assert list(by_name) == ["Identity"]
    assert by_name["Identity"].tobytes() == by_position["Identity"].tobytes()


@pytest.mark.parametrize(
    ("feeds", "words"),
    [
        (
            {"input_2": np.zeros((1, 640), np.int8)},
            ["missing ['input_1']", "unexpected ['input_2']"],
        ),
        ([np.zeros((1, 640), np.float32)], ["input_1", "expected dtype int8", "float32"]),
        ([np.zeros((1, 641), np.int8)], ["expected shape [1, 640]", "[1, 641]"]),
        ([np.zeros((1, 640), np.int8)] * 2, ["takes 1 inputs", "got 2"]),
        ([[0] * 640], ["expected a numpy array"]),
    ],
)
def test_bad_feeds_get_clear_errors(
    session: tinyabi.Session, feeds: object, words: list[str]
) -> None:
    with pytest.raises(InputError) as info:
        session.run(feeds)  # type: ignore[arg-type]
    for word in words:
        assert word in str(info.value)


def test_errors_share_one_base_class() -> None:
    assert issubclass(InputError, TinyABIError)


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(TinyABIError, match="warp-drive"):
        tinyabi.Session(tinyabi.load(shared_model("ad01_int8")), backends=["warp-drive"])
