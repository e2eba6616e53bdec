"""Layers run in row bands whose outputs overlap their inputs in the arena: the arena plan is
checked independently (no two live tensors share a byte, except a banded layer's input and
output, and then no row's output lands on an input row that row or a later one still reads),
the shared models shrink, and the random chains run byte-identical with TFLM on the host (the
other cores and Arm's library: the ``chain`` family in ``test_cmsis_arm_library.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from itertools import combinations

import numpy as np
import pytest
from random_cases import assert_identical, family_graph
from tinyabi_cmsis_nn.build import host
from tinyabi_cmsis_nn.build.host import HostPartition
from tinyabi_cmsis_nn.codegen import arena, banding, layers, params
from tinyabi_cmsis_nn.codegen.banding import OPTIMISE, Optimise
from tinyabi_cmsis_nn.codegen.emit import generate
from tinyabi_cmsis_nn.codegen.layers import bandable

import tinyabi
from tests.conftest import INT8_MODELS, shared_model
from tinyabi.dispatch import align, plan_memory
from tinyabi.ir.graph import Graph


def _lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    life: dict[str, list[int]] = {name: [-1, -1] for name in graph.inputs}
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name in life:
                life[name][1] = step
        for name in node.outputs:
            life[name] = [step, step]
    for name in graph.outputs:
        life[name][1] = len(graph.nodes)
    return {k: (v[0], v[1]) for k, v in life.items()}


_MARK = re.compile(r"/\* (\d+) (pixels|output rows) per call")


def _rows_never_clobber(
    p: params.ConvParams, inp: int, out: int, backwards: bool, per_call: int, pixels: bool
) -> None:
    """Run the bands in order: each band's output bytes avoid every input byte it or a later
    band reads (a 1x1 convolution's rows being its pixels)."""
    i, o, f = p.input_dims, p.output_dims, p.filter_dims
    if pixels:
        rows, ri, ro, reads = o.h * o.w, i.c, o.c, lambda y: (y, y + 1)
    else:
        rows, ri, ro = o.h, i.w * i.c, o.w * o.c

        def reads(y: int) -> tuple[int, int]:
            top = y * p.stride.h - p.padding.h
            return max(0, top), min(i.h, top + f.h)

    bands = [range(y, min(rows, y + per_call)) for y in range(0, rows, per_call)]
    if backwards:
        bands.reverse()
    for k, band in enumerate(bands):
        start, stop = out + band[0] * ro, out + (band[-1] + 1) * ro
        for later in bands[k:]:
            for y in later:
                first, end = reads(y)
                assert stop <= inp + first * ri or inp + end * ri <= start, (band, y)


def check_plan(graph: Graph, optimise: Optimise = "performance") -> int:
    """Check the generated arena of ``graph`` planned for ``optimise``; returns the number of
    banded layers."""
    library = host.portable_library()
    generated = generate(graph, host.size_oracle(library), library, optimise)
    offsets, life = generated.offsets, _lifetimes(graph)
    banded = {}
    shared = {  # RESHAPE/SQUEEZE outputs that share their input's bytes
        (str(n.inputs[0]), n.outputs[0])
        for n in graph.nodes
        if n.op in ("RESHAPE", "SQUEEZE") and offsets[str(n.inputs[0])] == offsets[n.outputs[0]]
    }
    for layer, node in zip(generated.layers, graph.nodes):
        body = "\n".join(layer.body)
        mark = _MARK.search(body)
        if mark:
            banded[(str(node.inputs[0]), node.outputs[0])] = node, "y >= 0" in body, mark

    names = sorted(offsets)
    for a in names:
        for b in names:
            if a >= b or life[a][1] < life[b][0] or life[b][1] < life[a][0]:
                continue
            sa, sb = graph.tensor(a).nbytes, graph.tensor(b).nbytes
            if offsets[a] + sa <= offsets[b] or offsets[b] + sb <= offsets[a]:
                continue
            pair = (a, b) if (a, b) in banded or (a, b) in shared else (b, a)
            if pair in shared:
                continue
            assert pair in banded, f"{a} and {b} are live together and overlap"
            node, backwards, mark = banded[pair]
            p = params.conv_params(node, graph)
            per_call, pixels = int(mark.group(1)), mark.group(2) == "pixels"
            _rows_never_clobber(p, offsets[pair[0]], offsets[pair[1]], backwards, per_call, pixels)
    # Never larger than tinyabi's plan with the same scratch buffers.
    scratch = {i: size for i, (_, size) in generated.layout.scratch_buffers.items()}
    assert generated.layout.total <= arena.plan(graph, {}, scratch).size
    # Each layer's scratch buffer is free while the layer runs.
    for index, (offset, size) in generated.layout.scratch_buffers.items():
        for name in names:
            if life[name][0] <= index <= life[name][1]:
                start, stop = offsets[name], offsets[name] + graph.tensor(name).nbytes
                assert stop <= offset or offset + size <= start, (index, name)
    return len(banded)


@pytest.mark.parametrize("optimise", OPTIMISE)
@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8"])
def test_shared_models_run_banded_in_a_smaller_arena(name: str, optimise: Optimise) -> None:
    graph = tinyabi.load(str(shared_model(name)))
    assert check_plan(graph, optimise) > 0
    library = host.portable_library()
    generated = generate(graph, host.size_oracle(library), library, optimise)
    assert generated.layout.activations < plan_memory(graph, alignment=16).arena_bytes


@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8"])
def test_performance_takes_coarse_bands_and_size_the_smaller_arena(name: str) -> None:
    """Optimised for performance, every banded layer runs its default (coarse) bands; for
    size, the arena is smaller on the shared models, through finer bands (more calls) on
    some layers, each one the planner offered."""
    graph = tinyabi.load(str(shared_model(name)))
    library = host.portable_library()
    plans = {
        mode: generate(graph, host.size_oracle(library, target=None), library, mode)
        for mode in OPTIMISE
    }
    finer = 0
    for mode, generated in plans.items():
        assert generated.layout.optimise == mode
        for layer, node in zip(generated.layers, graph.nodes):
            mark = _MARK.search("\n".join(layer.body))
            if mark is None:
                continue
            pixels = mark.group(2) == "pixels"
            p = params.conv_params(node, graph)
            # None: too small for the coarse bands (one call), finer ones only.
            coarse = banding.bands_of(p, pixels)
            per_call = int(mark.group(1))
            offered = [b.rows_per_call for b in bandable(node, graph, mode)]
            assert per_call in offered
            if mode == "performance":
                assert coarse is not None, node.name
                assert offered == [per_call] == [coarse.rows_per_call], node.name
            else:
                finer += coarse is None or per_call < coarse.rows_per_call
    assert plans["size"].layout.total < plans["performance"].layout.total
    assert finer > 0


@pytest.mark.parametrize("optimise", OPTIMISE)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_chains_run_banded_both_ways(seed: int, optimise: Optimise) -> None:
    graph = family_graph("chain", seed)
    backend = ("cmsis-nn", {"optimise": optimise})
    session = tinyabi.Session(graph, backends=[backend], fallback="error", strict=True)
    directions, kinds = set(), set()
    for partition in session.compiled:
        assert isinstance(partition, HostPartition)
        assert partition.model.generated.layout.optimise == optimise
        check_plan(partition.graph, optimise)
        for layer in partition.model.generated.layers:
            body = "\n".join(layer.body)
            if mark := _MARK.search(body):
                directions.add("y >= 0" in body)
                kinds.add((layer.entry, mark.group(2)))
    assert directions == {False, True}
    # Depthwise and other convolutions by output rows, 1x1 convolutions by pixels (the
    # chains' 1x1 layers have too few pixels for more than one coarse band: size only).
    assert {
        ("arm_depthwise_conv_wrapper_s8", "output rows"),
        ("arm_convolve_wrapper_s8", "output rows"),
        *([("arm_convolve_1x1_s8_fast", "pixels")] if optimise == "size" else []),
    } <= kinds, kinds
    assert_identical(graph, session, runs=2, seed=seed)


def _simulated_peak(graph: Graph, scratch: dict[int, int]) -> int:
    """Run the graph one layer at a time, keeping a tensor from the layer that writes it
    (graph inputs: from the start) until after the last layer that reads it (graph outputs:
    to the end); the most bytes held at once, with the running layer's scratch buffer. A
    RESHAPE or SQUEEZE whose input dies there writes nothing new (they share the bytes)."""
    held: dict[str, int] = {name: align(graph.tensor(name).nbytes, 16) for name in graph.inputs}
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name is not None and not graph.tensor(name).is_constant:
                readers[name] = readers.get(name, 0) + 1
    peak = 0
    for step, node in enumerate(graph.nodes):
        reads = [n for n in node.inputs if n is not None and not graph.tensor(n).is_constant]
        shares = (
            node.op in ("RESHAPE", "SQUEEZE")
            and readers.get(reads[0], 0) == 1
            and reads[0] not in graph.outputs
        )
        for name in node.outputs:
            held[name] = 0 if shares else align(graph.tensor(name).nbytes, 16)
        peak = max(peak, sum(held.values()) + align(scratch.get(step, 0), 16))
        for name in reads:
            readers[name] -= 1
            if readers[name] == 0 and name not in graph.outputs:
                del held[name]
        for name in node.outputs:
            held[name] = align(graph.tensor(name).nbytes, 16)
    return peak


def _macs(graph: Graph) -> int:
    """Multiply-accumulates of the convolutions and fully connected layers, from the shapes."""
    total = 0
    for node in graph.nodes:
        if node.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out = graph.tensor(node.outputs[0])
        w = graph.tensor(str(node.inputs[1])).shape
        elements = int(np.prod(out.shape))
        if node.op == "CONV_2D":  # filter (out, h, w, in)
            total += elements * w[1] * w[2] * w[3]
        elif node.op == "DEPTHWISE_CONV_2D":  # filter (1, h, w, out)
            total += elements * w[1] * w[2]
        else:  # weights (units, depth)
            total += elements * w[-1]
    return total


def _graphs() -> list[Graph]:
    graphs = [tinyabi.load(str(shared_model(n))) for n in INT8_MODELS]
    for seed in (1, 2, 3):
        session = tinyabi.Session(family_graph("chain", seed), backends=["cmsis-nn"])
        graphs += [p.graph for p in session.compiled if isinstance(p, HostPartition)]
    return graphs


@pytest.mark.parametrize("optimise", OPTIMISE)
def test_plan_reports_the_layer_by_layer_bound_and_extra_macs(optimise: Optimise) -> None:
    """The bound, achieved arena and MACs the plan reports, against a simulated
    layer-at-a-time run, the plan's own regions and the layers' shapes."""
    library = host.portable_library()
    below = 0
    for graph in _graphs():
        oracle = host.size_oracle(library, target=None)
        layout = generate(graph, oracle, library, optimise).layout
        scratch = {i: size for i, (_, size) in layout.scratch_buffers.items()}
        assert layout.bound == _simulated_peak(graph, scratch), graph.name
        assert layout.macs == _macs(graph) and layout.extra_macs == 0
        ends = [o + s for o, s in layout.scratch_buffers.values()]
        ends += [layout.activations]
        assert layout.total == align(max(ends), 16)
        below += layout.total < layout.bound
    assert below >= 3  # kws, vww and the chains go below the bound


def test_every_band_gets_the_buffer_its_dimensions_ask_for() -> None:
    """A banded call passes its own heights and padding: the scratch reserved for the layer
    is at least what the library's size function answers for each of them, on every core."""
    from tinyabi_cmsis_nn.codegen.banding import band_shapes
    from tinyabi_cmsis_nn.codegen.layers import band_queries

    library = host.portable_library()
    graph = tinyabi.load(str(shared_model("vww_96_int8")))
    for target, optimise in [(t, m) for t in ("cortex-m4", "cortex-m55") for m in OPTIMISE]:
        oracle = host.size_oracle(library, target=target)
        generated = generate(graph, oracle, library, optimise)
        for layer, node in zip(generated.layers, graph.nodes):
            options = bandable(node, graph, optimise)
            if layer.scratch is None or not options:
                continue
            reserved = generated.layout.scratch_buffers.get(layer.index, (0, 0))[1]
            for bands in options:
                queries = band_queries(layer.scratch, bands)
                assert len(queries) == len(band_shapes(bands))
                assert all(oracle.size(q) <= reserved for q in queries)


def _overlap_options(graph: Graph, optimise: Optimise) -> dict[int, list[tuple[int, int]]]:
    return {
        i: [(banding.overlap(b), banding.overlap_above(b)) for b in options]
        for i, node in enumerate(graph.nodes)
        if (options := bandable(node, graph, optimise))
    }


def _arena_without(
    graph: Graph,
    options: dict[int, list[tuple[int, int]]],
    scratch: dict[int, int],
    without: Iterable[int],
) -> int:
    """The arena of :func:`arena.plan` with the layers ``without`` going without a buffer."""
    rest = {i: n for i, n in scratch.items() if i not in set(without)}
    return arena.plan(graph, options, rest).size


def test_planner_goes_without_a_buffer_only_where_that_lowers_the_arena() -> None:
    """:func:`arena.plan_buffer_free` against every subset of the depthwise layers going
    without their buffer: the arena it gives is the smallest of them, it takes none when no
    subset lowers the arena (a small buffer that fits where nothing is live), and every layer
    it takes is needed (giving one its buffer back makes the arena larger)."""
    taken = kept = 0
    for graph in _graphs():
        depthwise = [i for i, n in enumerate(graph.nodes) if layers.buffer_free_option(n, graph)]
        depthwise = depthwise[:4]  # 16 subsets at most
        options = _overlap_options(graph, "size")
        for need in (16, 4_464) if depthwise else ():
            scratch = {i: need for i in depthwise}
            scratch[len(graph.nodes) - 1] = 16  # a layer that cannot go without
            result, dropped = arena.plan_buffer_free(graph, options, scratch, depthwise)
            base = arena.plan(graph, options, scratch)
            size = partial(_arena_without, graph, options, scratch)
            subsets = (s for r in range(len(depthwise) + 1) for s in combinations(depthwise, r))
            best = min(size(s) for s in subsets)
            assert dropped <= set(depthwise)
            assert result.size == best == size(dropped), (graph.name, need)
            assert set(result.scratch) == {i for i in scratch if i not in dropped}
            if best < base.size:
                assert dropped and result.size < base.size
                taken += 1
            else:
                assert not dropped and result == base
                kept += 1
            for i in dropped:
                assert size(dropped - {i}) > result.size, (graph.name, need, i)
    assert taken and kept, (taken, kept)  # both cases happen
