"""Building against a CMSIS-NN source tree (``CMSIS_NN_PATH`` / the ``cmsis_nn_path`` option).

Arm's library is not on any package registry, so this checks the route with the portable
library laid out the way a CMSIS-NN checkout is (``Include/``, ``Source/<group>/*.c``): the
backend must build from that tree alone and give the same bytes. With ``CMSIS_NN_PATH`` set to
a real checkout, every other test of this plugin runs against Arm's library instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tinyabi_cmsis_nn.build import host

import tinyabi
from tests.conftest import shared_model
from tinyabi.feeds import random_inputs

PORTABLE = Path(host.__file__).resolve().parents[1] / "csrc"


def _tree(root: Path) -> Path:
    shutil.copytree(PORTABLE / "include", root / "Include")
    shutil.copytree(PORTABLE / "src", root / "Source" / "Portable")
    return root


def test_a_cmsis_nn_tree_is_built_from_its_own_files(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "CMSIS-NN")
    library = host.find_library(tree)
    assert all(tree in source.parents for source in library.sources)
    assert library.include_dirs[0] == tree / "Include"


def test_kws_built_against_a_tree_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYABI_CACHE_DIR", str(tmp_path / "cache"))
    graph = tinyabi.load(shared_model("kws_ref_model"))
    tree = _tree(tmp_path / "CMSIS-NN")
    from_tree = tinyabi.Session(graph, backends=[("cmsis-nn", {"cmsis_nn_path": str(tree)})])
    reference = tinyabi.Session(graph, backends=["reference"])
    assert {p.backend for p in from_tree.plan.partitions} == {"cmsis-nn"}
    for seed in range(2):
        feeds = random_inputs(graph, seed)
        got, want = from_tree.run(feeds), reference.run(feeds)
        assert all(got[n].tobytes() == want[n].tobytes() for n in want)
