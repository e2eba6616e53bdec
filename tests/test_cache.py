"""One cache directory: ``TINYABI_CACHE_DIR`` moves everything the plugins cache."""

from __future__ import annotations

from pathlib import Path

import pytest

import tinyabi
from tests.conftest import shared_model
from tinyabi.cache import ENV_CACHE_DIR, cache_dir


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "tinyabi"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir("a") == tmp_path / "home" / ".cache" / "tinyabi" / "a"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("a", "b") == tmp_path / "xdg" / "tinyabi" / "a" / "b"
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert cache_dir("cmsis-nn") == tmp_path / "mine" / "cmsis-nn"
    assert not (tmp_path / "mine").exists()  # asking creates nothing


def test_every_plugin_writes_under_tinyabi_cache_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tinyabi_cmsis_nn.build import cortexm
    from tinyabi_tflm import cache as tflm_cache

    root = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the default must stay untouched
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    tflm_cache.forget_memory()  # make tflm and litert measure again and write what they learn
    graph = tinyabi.load(shared_model("kws_ref_model"))
    for spec in ["tflm", ("litert", {"int8": True}), "cmsis-nn"]:
        session = tinyabi.Session(graph, backends=[spec], fallback="error", strict=True)
        name = spec if isinstance(spec, str) else spec[0]
        assert {p.backend for p in session.plan.partitions} == {name}

    assert sorted(p.name.split("-")[0] for p in (root / "tflm").glob("*.json")) == [
        "litert",
        "tflm",
    ]
    assert list((root / "cmsis-nn").rglob("*.o"))  # the library's objects
    assert list((root / "cmsis-nn").rglob("libmodel.so"))
    assert cortexm.cache_root() == root / "cmsis-nn" / "firmware"
    assert not (tmp_path / "home").exists()
    tflm_cache.forget_memory()  # later tests must not see facts about files now deleted
