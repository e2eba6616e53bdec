"""CMSIS-NN backend: per-layer instructions under QEMU, and the cost estimate's error per layer.

Run: ``python benchmarks/bench_cmsis_layers.py [--cmsis-nn PATH] [--save F | --load F] [--fit]``
(needs ``arm-none-eabi-gcc``, newlib and ``qemu-system-arm``). For kws, vww and ad01 on
Cortex-M4 and Cortex-M55 with both kernel libraries (tinyabi's portable copy and Arm's
CMSIS-NN), it runs the partition's ``profile`` (``model_run`` built with ``-DMODEL_PROFILE``,
every layer counted with SysTick under ``-icount shift=0``; outputs checked equal to TFLM's)
and compares each layer's count with ``tinyabi_cmsis_nn.cost.layer_instructions``. ``--fit``
fits the coefficients again from the counts (least squares per core, library and layer kind)
and prints them as the Python literal of ``cost.COEFFICIENTS``; it also reports the error of
a leave-one-model-out fit (coefficients from the two other models), the error to expect on a
model the fit has not seen. Writes the ``cmsis-nn-layers`` section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import pprint
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from bench_cmsis_nn import INT8, Library, _libraries
from results import MODELS, write_section
from tflite_micro.python.tflite_micro import runtime
from tinyabi_cmsis_nn import cost
from tinyabi_cmsis_nn.build.qemu_partition import CortexMPartition

import tinyabi
from tinyabi.feeds import random_inputs

CORES = ["cortex-m4", "cortex-m55"]
#: One measured layer: model, core, library, node index, kind, MACs, outputs, instructions.
Row = dict[str, object]


def measure(libraries: list[Library]) -> list[Row]:
    """Profile every model on every core with every library; one row per layer."""
    rows: list[Row] = []
    for name in INT8:
        data = (MODELS / f"{name}.tflite").read_bytes()
        graph = tinyabi.load(data)
        feeds = random_inputs(graph, 0)
        interpreter = runtime.Interpreter.from_bytes(data, arena_size=4 * len(data) + (1 << 20))
        for i, n in enumerate(graph.inputs):
            interpreter.set_input(feeds[n], i)
        interpreter.invoke()
        expected = [np.array(interpreter.get_output(i)) for i in range(len(graph.outputs))]
        for library in libraries:
            for core in CORES:
                session = tinyabi.Session(
                    graph,
                    backends=[("cmsis-nn", {**library.options(), "target": core})],
                    fallback="error",
                    strict=True,
                )
                (partition,) = session.compiled
                assert isinstance(partition, CortexMPartition)
                result = partition.profile(feeds)
                assert result is not None
                outputs, costs = result
                for out, want in zip(outputs.values(), expected):
                    if out.tobytes() != want.tobytes():
                        raise SystemExit(f"{name} {core} {library.label}: differs from TFLM")
                for index, (node, c) in enumerate(zip(graph.nodes, costs)):
                    f = cost.layer_features(node, graph)
                    rows.append(
                        {
                            "model": name,
                            "core": core,
                            "library": library.label,
                            "node": index,
                            "kind": f.kind,
                            "macs": f.macs,
                            "outputs": f.outputs,
                            "pixels": f.pixels,
                            "instructions": c.instructions,
                        }
                    )
                print(name, core, library.label, sum(int(c.instructions or 0) for c in costs))
    return rows


def _columns(kind: str, rows: list[Row]) -> list[str]:
    """The features a kind is fitted on: as many as its distinct layers allow."""
    macs = any(int(r["macs"]) for r in rows)  # type: ignore[call-overload]
    wanted = ["macs", "outputs", "pixels", "one"] if macs else ["outputs", "one"]
    distinct = len({(r["macs"], r["outputs"], r["pixels"]) for r in rows})
    return wanted[: max(1, min(len(wanted), distinct - 1 if distinct > 2 else 1))]


Table = dict[tuple[str, str], dict[str, tuple[float, float, float, float]]]


def fit(rows: list[Row]) -> Table:
    """Least squares per (core, library, kind) on the relative error, without negative
    coefficients (a feature whose coefficient comes out negative is dropped)."""
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(str(r["core"]), str(r["library"]), str(r["kind"]))].append(r)
    table: Table = defaultdict(dict)
    for (core, library, kind), group in sorted(groups.items()):
        if kind in ("reshape", "squeeze"):
            continue
        columns = _columns(kind, group)
        while True:
            x = np.array(
                [[1.0 if c == "one" else float(r[c]) for c in columns] for r in group]  # type: ignore[arg-type]
            )
            y = np.array([float(r["instructions"]) for r in group])  # type: ignore[arg-type]
            weight = 1.0 / np.maximum(y, 1.0)  # minimise relative, not absolute, error
            coef, *_ = np.linalg.lstsq(x * weight[:, None], y * weight, rcond=None)
            if (coef >= 0).all() or len(columns) == 1:
                break
            columns = [c for c, v in zip(columns, coef) if v >= 0] or columns[:1]
        values = dict(zip(columns, (round(float(max(v, 0.0)), 4) for v in coef)))
        table[(core, library)][kind] = (
            values.get("macs", 0.0),
            values.get("outputs", 0.0),
            values.get("pixels", 0.0),
            values.get("one", 0.0),
        )
    return dict(table)


def _estimate(r: Row, table: Table) -> float:
    per_mac, per_output, per_pixel, per_layer = table.get(
        (str(r["core"]), str(r["library"])), {}
    ).get(str(r["kind"]), (0.0, 0.0, 0.0, 0.0))
    f = [float(r[k]) for k in ("macs", "outputs", "pixels")]  # type: ignore[arg-type]
    return per_mac * f[0] + per_output * f[1] + per_pixel * f[2] + per_layer


def _shipped(r: Row, graphs: dict[str, tinyabi.Graph]) -> float:
    graph = graphs[str(r["model"])]
    node = graph.nodes[int(r["node"])]  # type: ignore[call-overload]
    return cost.layer_instructions(node, graph, str(r["core"]), str(r["library"]))


def errors(rows: list[Row], estimates: list[float]) -> tuple[float, float, float]:
    """Median and largest relative error per layer (layers of 1,000 instructions or more),
    and the largest relative error of a model's total."""
    per_layer = [
        abs(e - float(r["instructions"])) / float(r["instructions"])  # type: ignore[arg-type]
        for r, e in zip(rows, estimates)
        if int(r["instructions"]) >= 1000  # type: ignore[call-overload]
    ]
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r, e in zip(rows, estimates):
        totals[str(r["model"])][0] += float(r["instructions"])  # type: ignore[arg-type]
        totals[str(r["model"])][1] += e
    worst_total = max(abs(e - m) / m for m, e in totals.values())
    return statistics.median(per_layer), max(per_layer), worst_total


def leave_one_model_out(rows: list[Row]) -> list[float]:
    """Each layer's estimate from coefficients fitted on the other models (kinds the other
    models lack: fitted on all)."""
    everything = fit(rows)
    estimates = []
    fitted = {m: fit([r for r in rows if r["model"] != m]) for m in INT8}
    for r in rows:
        table = fitted[str(r["model"])]
        key = (str(r["core"]), str(r["library"]))
        if str(r["kind"]) not in table.get(key, {}):
            table = everything
        estimates.append(_estimate(r, table))
    return estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmsis-nn", metavar="PATH", help="Arm's CMSIS-NN source tree")
    parser.add_argument("--save", type=Path, help="write the measured rows to this JSON file")
    parser.add_argument("--load", type=Path, help="read measured rows instead of measuring")
    parser.add_argument("--fit", action="store_true", help="print refitted coefficients")
    args = parser.parse_args()
    libraries, described = _libraries(args.cmsis_nn)
    rows: list[Row] = json.loads(args.load.read_text()) if args.load else measure(libraries)
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1) + "\n")
    if args.fit:
        print("COEFFICIENTS = ", end="")
        pprint.pprint(fit(rows), width=100, sort_dicts=True)
    graphs = {name: tinyabi.load((MODELS / f"{name}.tflite").read_bytes()) for name in INT8}
    table_rows = []
    for core in CORES:
        for library in [lib.label for lib in libraries]:
            subset = [r for r in rows if r["core"] == core and r["library"] == library]
            if not subset:
                continue
            shipped = errors(subset, [_shipped(r, graphs) for r in subset])
            held_out = errors(subset, leave_one_model_out(subset))
            table_rows.append(
                f"| {core} | {library} | {len(subset)} | {shipped[0]:.1%} | {shipped[1]:.1%} "
                f"| {shipped[2]:.1%} | {held_out[0]:.1%} | {held_out[1]:.1%} "
                f"| {held_out[2]:.1%} |"
            )
            print(table_rows[-1])
    kinds: dict[str, int] = defaultdict(int)
    for r in rows:
        kinds[str(r["kind"])] += 1
    lines = [
        "## CMSIS-NN per-layer cost estimate (`bench_cmsis_layers.py`)",
        "",
        f"Kernel libraries: {described}.",
        "Each layer of kws, vww and ad01 counted under QEMU (`CortexMPartition.profile`: the "
        "generated `model_run` built with `-DMODEL_PROFILE`, SysTick around each layer under "
        "`-icount shift=0`; the layer counts add up to the unprofiled `model_run` count to "
        "within a few instructions per layer; outputs checked equal to TFLM's) and compared "
        "with `tinyabi_cmsis_nn.cost.layer_instructions` (per kind of layer: per MAC, per "
        "output element, per output position, per call; fitted per core and library to "
        "these counts). Relative error |estimate - measured| / measured per layer (layers "
        "of at least 1,000 "
        "instructions; RESHAPEs are free) and of each model's total. *in-sample* = the "
        "shipped coefficients, fitted on all three models; *held out* = each model estimated "
        "with coefficients fitted on the other two (kinds only one model has keep the "
        "all-model fit), the error to expect on a new model of the same kinds. Layers per kind: "
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        + ". ADD, MUL and MAX_POOL_2D do not occur in these models and use a generic "
        "per-element rate. The large held-out errors come from kinds with two or three layers "
        "in all (the non-1x1 first convolutions, the average pools, the softmaxes: held out, "
        "they are extrapolated from one other model's layer) and, on Cortex-M55 with Arm's "
        "library, ad01's fully connected layers extrapolated from the two tiny classifier "
        "layers of kws and vww.",
        "",
        "| core | library | layers | in-sample median | in-sample max | worst model total "
        "| held-out median | held-out max | held-out worst total |",
        "|---|---|---|---|---|---|---|---|---|",
        *table_rows,
    ]
    write_section("cmsis-nn-layers", "\n".join(lines))


if __name__ == "__main__":
    main()
