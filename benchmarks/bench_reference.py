"""Reference backend against TFLM's Python interpreter and LiteRT, on every shared model.

Run: ``python benchmarks/bench_reference.py [--runs N]``. Writes the ``reference`` section of
``benchmarks/RESULTS.md``: median latency per inference of each runtime (after warm-up, same
random input), the reference backend's ratio to TFLM, model import time and the peak Python
memory of import + session creation + one run.
"""

from __future__ import annotations

import argparse
import tracemalloc
from datetime import date

from ai_edge_litert.interpreter import Interpreter
from results import MODELS, machine, median_seconds, write_section
from tflite_micro.python.tflite_micro import runtime

import tinyabi
from tinyabi.feeds import random_inputs

INT8 = ["kws_ref_model", "vww_96_int8", "ad01_int8"]
FLOAT = ["kws_ref_model_float32", "vww_96_float", "ad01_fp32"]


def bench_model(name: str, runs: int) -> dict[str, float | None]:
    path = MODELS / f"{name}.tflite"
    data = path.read_bytes()
    graph = tinyabi.load(data)
    import_s = median_seconds(lambda: tinyabi.load(data), runs=5, warmup=1)

    tracemalloc.start()
    session = tinyabi.Session(tinyabi.load(data), backends=["reference"])
    feeds = random_inputs(session.graph, 0)
    session.run(feeds)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    values = list(feeds.values())
    ref_s = median_seconds(lambda: session.run(feeds), runs)

    litert = Interpreter(model_content=data)
    litert.allocate_tensors()
    inputs = litert.get_input_details()
    outputs = litert.get_output_details()

    def run_litert() -> object:
        for d, v in zip(inputs, values):
            litert.set_tensor(d["index"], v)
        litert.invoke()
        return [litert.get_tensor(d["index"]) for d in outputs]

    litert_s = median_seconds(run_litert, runs)

    tflm_s = None
    if name in INT8:
        tflm = runtime.Interpreter.from_bytes(data, arena_size=4 * len(data) + (1 << 20))

        def run_tflm() -> object:
            for i, v in enumerate(values):
                tflm.set_input(v, i)
            tflm.invoke()
            return [tflm.get_output(i) for i in range(len(graph.outputs))]

        tflm_s = median_seconds(run_tflm, runs)
    return {
        "reference": ref_s,
        "tflm": tflm_s,
        "litert": litert_s,
        "import": import_s,
        "peak": peak,
    }


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds for the table, or n/a."""
    return "n/a" if seconds is None else f"{seconds * 1e3:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per model (default 50)")
    args = parser.parse_args()
    rows = []
    for name in INT8 + FLOAT:
        r = bench_model(name, args.runs)
        reference, tflm = r["reference"], r["tflm"]
        ratio = "n/a" if tflm is None or reference is None else f"{reference / tflm:.2f}x"
        rows.append(
            f"| {name} | {ms(r['reference'])} | {ms(r['tflm'])} | {ms(r['litert'])} | {ratio} "
            f"| {ms(r['import'])} | {(r['peak'] or 0) / 1e6:.1f} |"
        )
        print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## Reference backend vs TFLM and LiteRT (`bench_reference.py`)",
            "",
            f"Run on {date.today().isoformat()}: {machine()}.",
            f"Median of {args.runs} runs after 3 warm-up runs, one random input per model, "
            "latency in ms per inference including moving inputs in and outputs out. TFLM is its "
            "Python interpreter (reference C++ kernels); LiteRT uses its default CPU kernels "
            "(XNNPACK). TFLM refuses float and hybrid models (n/a). Goal: reference/TFLM at most "
            "1.00x on every int8 model.",
            "",
            "| model | reference ms | TFLM ms | LiteRT ms | reference / TFLM | import ms "
            "| peak Python MB |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    write_section("reference", body)


if __name__ == "__main__":
    main()
