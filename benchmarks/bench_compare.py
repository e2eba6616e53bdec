"""``tinyabi compare`` on one shared model across every backend in the repository.

Run: ``python benchmarks/bench_compare.py``. Writes the ``compare`` section of
``benchmarks/RESULTS.md``: the same random inputs (seed 0) through each backend list, outputs
against the reference backend's, latency (median of the runs), arena and persistent memory, and
the first layer where a list's result differs from the reference's. Each list names its
fallback explicitly, so what ran where is in the table ("ran on").
"""

from __future__ import annotations

from datetime import date

from results import MODELS, machine, write_section

import tinyabi
from tinyabi.backends.registry import default_registry
from tinyabi.compare import compare_backends
from tinyabi.feeds import random_inputs

MODEL = "kws_ref_model"

BackendSpec = str | tuple[str, dict[str, object]]

#: Every backend of the repository, each alone where it runs the whole model and with the
#: reference backend behind it where it declines some nodes (the NPU leaves SOFTMAX).
LISTS: list[list[BackendSpec]] = [
    ["reference"],
    ["tflm"],
    [("litert", {"int8": True})],
    ["cmsis-nn"],
    [("cmsis-nn", {"target": "cortex-m4"})],
    [("cmsis-nn", {"target": "cortex-m55"})],
    ["npu", "reference"],
]


def main() -> None:
    graph = tinyabi.load(MODELS / f"{MODEL}.tflite")
    installed = default_registry().names()
    lists = [b for b in LISTS if all((x if isinstance(x, str) else x[0]) in installed for x in b)]
    comparison = compare_backends(
        graph,
        lists,
        random_inputs(graph, 0),
        inputs="random (seed 0)",
        runs=20,
        per_layer=True,
        fallback="error",
    )
    body = "\n".join(
        [
            "## `tinyabi compare` on every backend (`bench_compare.py`)",
            "",
            f"`tinyabi compare {MODEL}.tflite --backends ... --per-layer` on {date.today()}, "
            f"{machine()}. LiteRT runs with `int8=True` (its own rounding, accepted on purpose); "
            "Cortex-M rows run under QEMU, so their latency is QEMU's wall time, not the "
            'core\'s. Every list runs with `fallback="error"`.',
            "",
            "```",
            str(comparison),
            "```",
        ]
    )
    write_section("compare", body)
    print(comparison)


if __name__ == "__main__":
    main()
