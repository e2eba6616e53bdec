"""Batched evaluation on the reference backend: 1,000 samples through ``Session.run_batch``
against one ``Session.run`` per sample, on every shared model.

Run: ``python benchmarks/bench_batch.py [--samples N] [--chunk C]``. Writes the ``batch``
section of ``benchmarks/RESULTS.md``: seconds for all samples each way (best of five rounds,
timed in turn), the speed-up, and that both give the same bytes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date

import numpy as np
from results import MODELS, machine, write_section

import tinyabi
from tinyabi.ir.graph import numpy_dtype

MODEL_NAMES = [
    "kws_ref_model",
    "vww_96_int8",
    "ad01_int8",
    "kws_ref_model_float32",
    "vww_96_float",
    "ad01_fp32",
]


def samples(graph: tinyabi.Graph, count: int) -> dict[str, np.ndarray]:
    """``count`` random samples per input, stacked along a new leading axis."""
    rng = np.random.default_rng(0)
    feeds = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        dtype = numpy_dtype(t.dtype)
        if np.issubdtype(dtype, np.integer):
            feeds[name] = rng.integers(-128, 128, (count, *t.shape)).astype(dtype)
        else:
            feeds[name] = rng.uniform(-1, 1, (count, *t.shape)).astype(dtype)
    return feeds


def interleaved_best(
    first: Callable[[], object], second: Callable[[], object], repeat: int = 5
) -> tuple[float, float]:
    """The shortest wall times of ``first`` and ``second`` over ``repeat`` rounds, timed in
    turn so that both see the same load on a shared machine."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, into in zip((first, second), times):
            start = time.perf_counter()
            fn()
            into.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def bench_model(name: str, count: int, chunk: int) -> tuple[float, float, bool]:
    session = tinyabi.Session(MODELS / f"{name}.tflite", backends=["reference"])
    feeds = samples(session.graph, count)
    singles = [{n: v[i] for n, v in feeds.items()} for i in range(count)]
    session.run_batch(feeds, chunk=chunk)  # prepares the kernels for the batch sizes

    def one_by_one() -> list[dict[str, np.ndarray]]:
        return [session.run(s) for s in singles]

    batched = session.run_batch(feeds, chunk=chunk)
    loop = one_by_one()
    same = all(
        batched[n][i].tobytes() == loop[i][n].tobytes() for i in range(count) for n in batched
    )
    loop_s, batch_s = interleaved_best(one_by_one, lambda: session.run_batch(feeds, chunk=chunk))
    return loop_s, batch_s, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000, help="samples (default 1000)")
    parser.add_argument("--chunk", type=int, default=256, help="run_batch chunk (default 256)")
    args = parser.parse_args()
    rows = []
    for name in MODEL_NAMES:
        loop_s, batch_s, same = bench_model(name, args.samples, args.chunk)
        rows.append(
            f"| {name} | {loop_s:.3f} | {batch_s:.3f} | {loop_s / batch_s:.2f}x "
            f"| {'yes' if same else 'NO'} |"
        )
        print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## Batched evaluation on the reference backend (`bench_batch.py`)",
            "",
            f"Run on {date.today().isoformat()}: {machine()}.",
            f"{args.samples} random samples per model through one `Session.run` each, and "
            f"through `Session.run_batch(feeds, chunk={args.chunk})`; seconds for all samples, "
            "best of 5 rounds timed in turn (kernels already prepared). Nodes with small outputs "
            "(heads, pooling, FULLY_CONNECTED, SOFTMAX; convolutions only up to "
            "`ReferencePartition.BATCH_WINDOW_ELEMENTS` outputs per sample) take the stacked "
            "samples in one call; the large convolutions run sample by sample, each sample "
            "through all of them in turn so that its tensors stay in cache (stacked, they ran up "
            "to 3x slower on this machine), which bounds the speed-up of the convolutional "
            "models. Same bytes: the batched outputs equal the runs one by one.",
            "",
            "| model | one by one s | batched s | speed-up | same bytes |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    write_section("batch", body)


if __name__ == "__main__":
    main()
