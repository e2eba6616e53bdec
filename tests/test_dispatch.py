"""The dispatcher: first-claim and cost assignment, partitions, fault handling, memory plan.

Backends here are the toy backends of ``tests/backends.py``, registered without entry points.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import tinyabi
from tests.backends import CONV_OPS, SubsetOptions, toy_registry
from tests.conftest import INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tinyabi.backends.registry import BackendRegistry
from tinyabi.dispatch.memory import plan_memory
from tinyabi.dispatch.partition import (
    TRANSFER_SECONDS_FIXED,
    group_partitions,
    split_partitions,
)
from tinyabi.dispatch.planner import execution_graph
from tinyabi.errors import (
    BackendError,
    FallbackWarning,
    TinyABIError,
    UnsupportedOperatorError,
)
from tinyabi.feeds import random_inputs
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph
from tinyabi.session import Session

REGISTRY: BackendRegistry = toy_registry()
SEEDS = range(50)


def _has_pad_feeding_only_conv(graph: Graph) -> bool:
    consumers = graph.consumers()
    return any(
        node.op == "PAD"
        and [graph.nodes[j].op for j in consumers.get(node.outputs[0], [])] == ["CONV_2D"]
        for node in graph.nodes
    )


#: Seeds of random models with a PAD feeding only a CONV_2D (found, not hard-coded).
PAD_CONV_SEEDS = [s for s in range(200) if _has_pad_feeding_only_conv(random_int8_model(s))][:5]


def session(model: Any, backends: Sequence[Any], **kwargs: Any) -> Session:
    """A session over the toy registry."""
    return Session(model, backends=backends, registry=REGISTRY, **kwargs)


def load(name: str) -> Graph:
    return tinyabi.load(str(shared_model(name)))


def random_model(seed: int) -> Graph:
    """Random model ``seed`` (made only of spec operators, so the reference backend runs it)."""
    return random_int8_model(seed)


def backend_of(s: Session) -> dict[str, str]:
    return {n.node: n.backend for n in s.plan.nodes}


def instance(s: Session, name: str) -> Any:
    return next(b for b in s.backends if b.name == name)


def assert_same_outputs(s: Session, graph: Graph, seed: int = 0) -> None:
    """``s`` gives byte-identical outputs to a reference-only session."""
    feeds = random_inputs(graph, seed)
    expected = Session(graph, backends=["reference"], registry=REGISTRY).run(feeds)
    got = s.run(feeds)
    assert list(got) == list(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype
        assert got[name].shape == expected[name].shape
        assert got[name].tobytes() == expected[name].tobytes(), name


# --- plan properties ------------------------------------------------------------------------


def check_partitions(s: Session) -> None:
    """Every node in exactly one partition, run by the partition's backend; partitions convex
    (checked by reachability) and in dependency order; inputs available when a partition runs;
    pattern chains in one partition."""
    plan = s.plan
    graph = execution_graph(s.graph, plan)
    names = [n.name for n in graph.nodes]
    assert [n.node for n in plan.nodes] == names
    in_parts = [name for p in plan.partitions for name in p.nodes]
    assert sorted(in_parts) == sorted(names)
    assert len(set(names)) == len(names)
    part = {name: p.index for p in plan.partitions for name in p.nodes}
    assert [p.index for p in plan.partitions] == list(range(len(plan.partitions)))
    for n in plan.nodes:
        assert part[n.node] == n.partition
        assert plan.partitions[n.partition].backend == n.backend
    # The graph runs partition by partition.
    assert [part[name] for name in names] == sorted(part[name] for name in names)

    index = {name: i for i, name in enumerate(names)}
    consumers = graph.consumers()
    succ = [
        sorted({j for out in node.outputs for j in consumers.get(out, [])}) for node in graph.nodes
    ]
    reach = [0] * len(names)  # bitset of nodes reachable from each node, itself included
    for i in reversed(range(len(names))):
        reach[i] = 1 << i
        for j in succ[i]:
            assert j > i, "stored order is not topological"
            reach[i] |= reach[j]
    for p in plan.partitions:
        mask = sum(1 << index[name] for name in p.nodes)
        for name in p.nodes:
            for j in succ[index[name]]:
                if not mask >> j & 1:
                    assert reach[j] & mask == 0, f"a path leaves partition {p.index} and returns"
                    assert part[names[j]] > p.index, "partitions out of dependency order"

    available = set(graph.inputs) | {n for n, t in graph.tensors.items() if t.is_constant}
    for p in plan.partitions:
        assert set(p.inputs) <= available, f"partition {p.index} runs before its inputs exist"
        available |= set(p.outputs)
    assert set(graph.outputs) <= available


def check_memory(s: Session, within: float | None = None) -> None:
    """Tensors with overlapping lifetimes never overlap in the arena (unless one reuses the
    other's bytes in place); lifetimes are right; the arena is at least the lower bound, which
    an independent count confirms."""
    graph, memory = execution_graph(s.graph, s.plan), s.plan.memory
    assert memory is not None
    end = len(graph.nodes)
    first: dict[str, int] = {name: -1 for name in graph.inputs}
    last: dict[str, int] = {}
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name is not None and not graph.tensor(name).is_constant:
                last[name] = step
        for name in node.outputs:
            first.setdefault(name, step)
    for name in graph.outputs:
        last[name] = end
    placements = {t.tensor: t for t in memory.tensors}
    assert len(placements) == len(memory.tensors)
    assert set(placements) == set(first)
    for name, t in placements.items():
        assert t.size == graph.tensor(name).nbytes
        assert t.offset % memory.alignment == 0
        assert t.offset + t.size <= memory.arena_bytes
        assert (t.first, t.last) == (first[name], last.get(name, first[name])), name

    def root(name: str) -> str:
        return placements[name].shares_with or name

    items = list(placements.values())
    for k, a in enumerate(items):
        for b in items[k + 1 :]:
            if root(a.tensor) == root(b.tensor):
                assert a.offset == b.offset
                continue
            if a.last < b.first or b.last < a.first:
                continue
            disjoint = a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
            assert disjoint, f"{a.tensor} and {b.tensor} overlap while both live"

    groups: dict[str, list[int]] = {}
    for t in items:
        size = -(-t.size // memory.alignment) * memory.alignment
        lo, hi, top = groups.get(root(t.tensor), [t.first, t.last, 0])
        groups[root(t.tensor)] = [min(lo, t.first), max(hi, t.last), max(top, size)]
    peak = max(
        (
            sum(size for lo, hi, size in groups.values() if lo <= step <= hi)
            for step in range(-1, end + 1)
        ),
        default=0,
    )
    assert memory.lower_bound_bytes == peak
    assert memory.arena_bytes >= memory.lower_bound_bytes
    if within is not None:
        assert memory.arena_bytes <= memory.lower_bound_bytes * (1 + within)


def expected_first_claim(
    graph: Graph, order: Sequence[tuple[str, frozenset[str] | None]]
) -> dict[str, str]:
    """Node -> the first backend in ``order`` claiming its op (``None``: claims everything)."""
    return {
        n.name: next(name for name, ops in order if ops is None or n.op in ops) for n in graph.nodes
    }


# --- first claim ------------------------------------------------------------------------------


def test_first_claim_follows_preference_order() -> None:
    graph = load("kws_ref_model")
    a = ("toy-a", {"ops": ["CONV_2D", "DEPTHWISE_CONV_2D"]})
    b = ("toy-b", {"ops": ["DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"]})
    for order in ([a, b], [b, a]):
        s = session(graph, order)
        claims = [(name, frozenset(opts["ops"])) for name, opts in order] + [("reference", None)]
        assert backend_of(s) == expected_first_claim(s.graph, claims)
        check_partitions(s)
        assert_same_outputs(s, graph)
        pool = next(n for n in s.plan.nodes if n.op == "AVERAGE_POOL_2D")
        assert pool.backend == "toy-b"
        expected = [("toy-a", "toy-a does not implement AVERAGE_POOL_2D")]
        assert [(d.backend, d.reason) for d in pool.declined] == (expected if order[0] is a else [])


def test_reference_may_come_anywhere_in_the_list() -> None:
    graph = load("kws_ref_model")
    s = session(graph, [("toy-a", {"ops": ["CONV_2D"]}), "reference", "toy-b"])
    ops = {n.op: n.backend for n in s.plan.nodes}
    assert ops["CONV_2D"] == "toy-a"
    assert set(ops.values()) == {"toy-a", "reference"}
    assert instance(s, "toy-b").compiled == []
    s = session(graph, ["reference", ("toy-a", {"ops": ["CONV_2D"]})])
    assert set(backend_of(s).values()) == {"reference"}
    assert s.plan.backends == ["reference", "toy-a"]


def test_options_reach_the_backend() -> None:
    s = session(load("kws_ref_model"), [("toy-a", {"ops": ["CONV_2D"], "max_nodes": "50"})])
    toy = instance(s, "toy-a")
    assert toy.options == SubsetOptions(ops=("CONV_2D",), max_nodes=50)
    assert toy.compiled and set(backend_of(s).values()) == {"toy-a", "reference"}
    assert s.plan.backends == ["toy-a", "reference"]


def test_fallback_may_name_another_backend() -> None:
    s = session(load("kws_ref_model"), [("toy-a", {"ops": ["CONV_2D"]})], fallback="toy-fast")
    assert set(backend_of(s).values()) == {"toy-a", "toy-fast"}
    with pytest.raises(TinyABIError, match="listed twice"):
        session(load("kws_ref_model"), ["toy-a", "toy-a"])


def test_fallback_error_lists_every_node_and_reason() -> None:
    graph = load("kws_ref_model")
    with pytest.raises(UnsupportedOperatorError) as info:
        session(graph, [("toy-a", {"ops": ["CONV_2D"]})], fallback="error")
    message = str(info.value)
    assert "fallback is 'error'" in message
    others = [n for n in graph.nodes if n.op != "CONV_2D"]
    assert f"{len(others)} node(s)" in message
    for node in others:
        assert node.describe() in message
        assert f"toy-a declined (toy-a does not implement {node.op})" in message
    for op in ("AVERAGE_POOL_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"):
        assert op in message.split(":")[0]


def extension_graph() -> Graph:
    b = GraphBuilder("ext")
    x = b.input("x", "float32", (1, 6))
    b.node("RELU", [x], [b.tensor("r", "float32", (1, 6))], name="relu_in")
    b.node("toy.DOUBLE", ["r"], [b.tensor("d", "float32", (1, 6))], name="double")
    b.node("RELU", ["d"], [b.tensor("y", "float32", (1, 6))], name="relu_out")
    return b.build(outputs=["y"])


def test_extension_nodes_go_to_a_backend_that_declares_them() -> None:
    graph = extension_graph()
    s = session(graph, ["toy-ext"])
    assert backend_of(s) == {"relu_in": "reference", "double": "toy-ext", "relu_out": "reference"}
    check_partitions(s)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(1, 6)
    assert np.array_equal(s.run([x])["y"], 2 * np.maximum(x, 0))
    # The extension partition's own memory needs reach the plan.
    assert s.plan.memory is not None and s.plan.memory.persistent_bytes == 64
    assert s.plan.memory.scratch_bytes == 32
    assert [p.persistent_bytes for p in s.plan.partitions] == [0, 64, 0]


def test_extension_nodes_without_a_backend_fail_naming_the_op() -> None:
    with pytest.raises(UnsupportedOperatorError) as info:
        session(extension_graph(), ["reference"])
    message = str(info.value)
    assert "(toy.DOUBLE)" in message and "outside the TinyABI spec" in message
    assert "relu" not in message
    with pytest.raises(UnsupportedOperatorError, match=r"\(RELU\).*toy-ext only runs toy.DOUBLE"):
        session(extension_graph(), ["toy-ext"], fallback="error")


# --- patterns ---------------------------------------------------------------------------------


def test_pattern_claims_chains_whole() -> None:
    graph = load("kws_ref_model")
    s = session(graph, ["toy-fused"])
    fused = [n for n in s.plan.nodes if n.backend == "toy-fused"]
    assert [n.op for n in fused] == ["CONV_2D", "DEPTHWISE_CONV_2D"] * 4 + ["CONV_2D"]
    assert [n.pattern for n in fused] == ["conv-dw"] * 8 + [None]
    for head, tail in zip(fused[0:8:2], fused[1:8:2]):
        assert head.partition == tail.partition
    check_partitions(s)
    assert_same_outputs(s, graph)


def test_pattern_never_takes_nodes_from_a_preferred_backend() -> None:
    graph = load("kws_ref_model")
    s = session(graph, [("toy-a", {"ops": ["DEPTHWISE_CONV_2D"]}), "toy-fused"])
    for n in s.plan.nodes:
        if n.op == "DEPTHWISE_CONV_2D":
            assert n.backend == "toy-a"
        if n.op == "CONV_2D":
            assert (n.backend, n.pattern) == ("toy-fused", None)
    s = session(graph, ["reference", "toy-fused"])
    assert set(backend_of(s).values()) == {"reference"}


@pytest.mark.parametrize("seed", PAD_CONV_SEEDS)
def test_pad_conv_pattern_on_random_models(seed: int) -> None:
    graph = random_model(seed)
    s = session(graph, [("toy-fused", {"ops": ["PAD", "CONV_2D"]})])
    chains = [n for n in s.plan.nodes if n.pattern == "pad-conv"]
    assert chains and len(chains) % 2 == 0
    ordered = execution_graph(s.graph, s.plan)
    consumers = ordered.consumers()
    index = {n.name: i for i, n in enumerate(ordered.nodes)}
    for n in chains:
        if n.op == "PAD":
            (user,) = consumers[ordered.nodes[index[n.node]].outputs[0]]
            assert s.plan.nodes[user].pattern == "pad-conv"
            assert s.plan.nodes[user].partition == n.partition
    check_partitions(s)
    assert_same_outputs(s, graph, seed)


def test_pattern_chain_stays_in_one_partition() -> None:
    # x0 -> r1 -> add <- y <- x0: y runs elsewhere, so joining r1 to x0's partition would
    # force add out of it; the RELU -> ADD chain must still end up together.
    b = GraphBuilder("chain")
    x = b.input("x", "float32", (1, 4))
    for name, op, inputs in [
        ("x0", "RELU", [x]),
        ("y", "RELU6", ["x0"]),
        ("r1", "RELU", ["x0"]),
        ("add", "ADD", ["r1", "y"]),
    ]:
        b.node(op, inputs, [b.tensor(name, "float32", (1, 4))], name=name)
    graph = b.build(outputs=["add"])
    s = session(graph, [("toy-fused", {"ops": ["RELU", "ADD"], "patterns": [("RELU", "ADD")]})])
    assert s.plan.nodes[0].pattern is None  # x0's output has two users
    part = {n.node: n.partition for n in s.plan.nodes}
    assert part["r1"] == part["add"] != part["x0"]
    assert {n.node: n.pattern for n in s.plan.nodes}["add"] == "relu-add"
    check_partitions(s)
    assert_same_outputs(s, graph)
    # Without the chain, the greedy grouping would have split it.
    nodes = [n.name for n in graph.nodes]
    labels = ["F" if n != "y" else "R" for n in nodes]
    plain = group_partitions(graph, labels)
    assert plain[nodes.index("r1")] != plain[nodes.index("add")]


# --- partitions on shared and random models -------------------------------------------------------


@pytest.mark.parametrize("name", INT8_MODELS)
def test_partitions_on_shared_models(name: str) -> None:
    graph = load(name)
    ops = sorted({n.op for n in graph.nodes})
    rng = np.random.default_rng(len(name))
    for _ in range(3):
        a = [op for op in ops if rng.random() < 0.5]
        b = [op for op in ops if rng.random() < 0.5]
        s = session(graph, [("toy-a", {"ops": a}), ("toy-b", {"ops": b})])
        claims = [("toy-a", frozenset(a)), ("toy-b", frozenset(b)), ("reference", None)]
        assert backend_of(s) == expected_first_claim(s.graph, claims)
        check_partitions(s)
        check_memory(s, within=0.05)
        assert_same_outputs(s, graph)


@pytest.mark.parametrize("seed", SEEDS)
def test_partitions_on_random_models(seed: int) -> None:
    graph = random_model(seed)
    rng = np.random.default_rng(1000 + seed)
    ops = sorted({n.op for n in graph.nodes})
    subsets = {
        name: frozenset(op for op in ops if rng.random() < 0.5) for name in ("toy-a", "toy-b")
    }
    names = ["toy-a", "toy-b"]
    rng.shuffle(names)
    order: list[tuple[str, frozenset[str] | None]] = [(n, subsets[n]) for n in names]
    if rng.random() < 0.3:
        order.insert(int(rng.integers(0, 3)), ("reference", None))
    specs = [name if ops_ is None else (name, {"ops": sorted(ops_)}) for name, ops_ in order]
    s = session(graph, specs)
    if all(name != "reference" for name, _ in order):
        order.append(("reference", None))
    assert backend_of(s) == expected_first_claim(s.graph, order)
    check_partitions(s)
    check_memory(s)
    # Deterministic: the same plan twice.
    assert session(graph, specs).plan.to_json() == s.plan.to_json()
    assert_same_outputs(s, graph, seed)


def random_dag(n: int, seed: int) -> Graph:
    """A random DAG of RELU and ADD nodes reading recent tensors (skip connections)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"dag_{seed}")
    names = [b.input("x", "float32", (1, 2))]
    for i in range(n):
        out = b.tensor(f"t{i}", "float32", (1, 2))
        window = names[-int(rng.integers(1, 8)) :]
        if rng.random() < 0.4 and len(names) > 1:
            first, second = rng.choice(len(window), size=2)
            b.node("ADD", [window[first], window[second]], [out], name=f"n{i}")
        else:
            b.node("RELU", [window[int(rng.integers(len(window)))]], [out], name=f"n{i}")
        names.append(out)
    return b.build(outputs=[names[-1]])


def test_grouping_never_makes_a_cycle_of_partitions() -> None:
    # a0 and ax on A, b0 and bz on B; aw = a0 + bz on A, by = b0 + ax on B. Joining both ADDs
    # to their backends' partitions makes each partition convex but the two feed each other.
    b = GraphBuilder("cycle")
    x = b.input("x", "float32", (1, 4))
    for name, op, inputs in [
        ("a0", "RELU", [x]),
        ("b0", "RELU", [x]),
        ("ax", "RELU", ["a0"]),
        ("bz", "RELU", ["b0"]),
        ("aw", "ADD", ["a0", "bz"]),
        ("by", "ADD", ["b0", "ax"]),
    ]:
        b.node(op, inputs, [b.tensor(name, "float32", (1, 4))], name=name)
    graph = b.build(outputs=["aw", "by"])
    a = ("toy-a", {"ops": ["RELU", "ADD"], "nodes": ["a0", "ax", "aw"]})
    s = session(graph, [a, ("toy-b", {"ops": ["RELU", "ADD"]})])
    check_partitions(s)
    assert_same_outputs(s, graph)


@pytest.mark.parametrize("seed", range(40))
def test_grouping_on_random_dags(seed: int) -> None:
    graph = random_dag(60, seed)
    rng = np.random.default_rng(seed)
    nodes = [n.name for n in graph.nodes]
    split = {name: str(rng.choice(["toy-a", "toy-b", "reference"])) for name in nodes}
    specs = [
        ("toy-a", {"ops": ["RELU", "ADD"], "nodes": [n for n in nodes if split[n] == "toy-a"]}),
        ("toy-b", {"ops": ["RELU", "ADD"], "nodes": [n for n in nodes if split[n] == "toy-b"]}),
    ]
    s = session(graph, specs)
    assert backend_of(s) == split
    check_partitions(s)
    check_memory(s)
    assert_same_outputs(s, graph, seed)


@pytest.mark.parametrize("seed", range(10))
def test_split_partitions_matches_subgraph(seed: int) -> None:
    graph = random_int8_model(seed)
    rng = np.random.default_rng(seed)
    part_of = group_partitions(graph, [str(rng.integers(0, 2)) for _ in graph.nodes])
    subgraphs = split_partitions(graph, part_of)
    for p, sub in enumerate(subgraphs):
        ref = graph.subgraph([i for i, q in enumerate(part_of) if q == p])
        assert sub.name == ref.name
        assert [n.name for n in sub.nodes] == [n.name for n in ref.nodes]
        assert (sub.inputs, sub.outputs) == (ref.inputs, ref.outputs)
        assert list(sub.tensors) == list(ref.tensors)


# --- cost mode --------------------------------------------------------------------------------


def test_cost_mode_picks_the_cheaper_backend_and_says_so() -> None:
    graph = load("kws_ref_model")
    first = session(graph, ["toy-slow", "toy-fast"])
    assert set(backend_of(first).values()) == {"toy-slow"}
    s = session(graph, ["toy-slow", "toy-fast"], mode="cost")
    assert set(backend_of(s).values()) == {"toy-fast"}
    assert all(n.first_claim == "toy-slow" for n in s.plan.nodes)
    assert len(s.plan.notes) == 1
    assert (
        f"moved {len(graph.nodes)} node(s) away from their first-claim backend" in (s.plan.notes[0])
    )
    assert "(toy-slow -> toy-fast)" in s.plan.notes[0]
    assert "note: cost mode moved" in str(s.plan)
    (part,) = s.plan.partitions
    assert part.estimated_seconds == pytest.approx(1e-4 * len(graph.nodes))
    check_partitions(s)
    assert_same_outputs(s, graph)
    assert first.plan.notes == [] and all(n.first_claim is None for n in first.plan.nodes)


@pytest.mark.parametrize(("saving", "moves"), [(TRANSFER_SECONDS_FIXED / 2, False), (1e-4, True)])
def test_cost_mode_counts_transfers(saving: float, moves: bool) -> None:
    # toy-fast runs depthwise convolutions a little faster than toy-slow: worth it only if the
    # saving beats the cost of moving the input across a partition boundary.
    graph = load("kws_ref_model")
    slow = ("toy-slow", {"seconds_per_node": 1e-3})
    fast = ("toy-fast", {"ops": ["DEPTHWISE_CONV_2D"], "seconds_per_node": 1e-3 - saving})
    s = session(graph, [slow, fast], mode="cost")
    dw = [n for n in s.plan.nodes if n.op == "DEPTHWISE_CONV_2D"]
    assert {n.backend for n in dw} == {"toy-fast" if moves else "toy-slow"}
    assert bool(s.plan.notes) == moves
    check_partitions(s)
    assert_same_outputs(s, graph)


def test_cost_mode_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="unknown planning mode"):
        session(load("ad01_int8"), ["reference"], mode="fastest")


# --- fault injection ------------------------------------------------------------------------------


def test_supports_raising_is_a_refusal_quoting_the_exception() -> None:
    graph = load("kws_ref_model")
    s = session(graph, ["fault-supports"])
    assert set(backend_of(s).values()) == {"reference"}
    for n in s.plan.nodes:
        (decline,) = n.declined
        assert decline.backend == "fault-supports"
        assert decline.reason == (
            f"fault-supports.supports raised FaultError: supports exploded on {n.node}"
        )
    assert_same_outputs(s, graph)


def test_compile_raising_warns_and_falls_back() -> None:
    graph = load("kws_ref_model")
    with pytest.warns(FallbackWarning) as record:
        s = session(graph, ["fault-compile"])
    (warning,) = record
    conv = [n.name for n in graph.nodes if n.op in CONV_OPS]
    assert str(warning.message) == (
        f"fault-compile failed to compile partition 0 ({len(conv)} nodes): "
        "FaultError: compile exploded; reference runs them"
    )
    assert warning.filename == __file__  # it points at the code that made the session
    (fallback,) = s.fallbacks
    assert (fallback.backend, fallback.partition, fallback.taken_by) == (
        "fault-compile",
        0,
        ["reference"],
    )
    assert sorted(fallback.nodes) == sorted(conv)
    assert fallback.error == "FaultError: compile exploded"
    assert f"fallback: {warning.message}" in str(s.plan).splitlines()
    assert set(backend_of(s).values()) == {"reference"}
    for n in s.plan.nodes:
        if n.op in CONV_OPS:
            assert [(d.backend, d.reason) for d in n.declined] == [
                ("fault-compile", "failed to compile it: FaultError: compile exploded")
            ]
    assert_same_outputs(s, graph)


def test_compile_returning_no_partition_is_a_compile_failure() -> None:
    graph = load("kws_ref_model")
    with pytest.warns(
        FallbackWarning, match=r"fault-none failed.*TypeError: compile returned None"
    ):
        s = session(graph, ["fault-none"])
    assert set(backend_of(s).values()) == {"reference"}
    assert_same_outputs(s, graph)


def test_compile_raising_is_an_error_in_strict_mode() -> None:
    with pytest.raises(BackendError) as info:
        session(load("kws_ref_model"), ["fault-compile"], strict=True)
    message = str(info.value)
    assert "'fault-compile' failed to compile partition" in message
    assert "FaultError: compile exploded" in message and "(9 nodes: conv_2d_0" in message


def test_compile_raising_with_nothing_to_fall_back_to() -> None:
    with (
        pytest.warns(FallbackWarning, match="fault-compile .*; nothing runs them"),
        pytest.raises(UnsupportedOperatorError, match="failed to compile it: FaultError"),
    ):
        session(
            load("ad01_int8"), [("fault-compile", {"ops": ["FULLY_CONNECTED"]})], fallback="error"
        )


def test_claim_then_refuse_in_compile_falls_back() -> None:
    graph = load("kws_ref_model")
    with pytest.warns(FallbackWarning, match="DEPTHWISE_CONV_2D is not implemented after all"):
        s = session(graph, ["fault-refuse", ("toy-a", {"ops": ["DEPTHWISE_CONV_2D"]})])
    for n in s.plan.nodes:
        if n.op == "DEPTHWISE_CONV_2D":
            assert n.backend == "toy-a"
            assert n.declined[0].backend == "fault-refuse"
    check_partitions(s)
    assert_same_outputs(s, graph)


@pytest.mark.parametrize(
    ("backend", "words"),
    [
        ("fault-run", ["failed running partition", "FaultError: run exploded"]),
        ("fault-shape", ["returned int8[", "expected int8[1, "]),
        ("fault-dtype", ["returned float32[", "expected int8["]),
        ("fault-missing", ["did not return output"]),
    ],
)
def test_run_faults_are_backend_errors(backend: str, words: list[str]) -> None:
    graph = load("kws_ref_model")
    s = session(graph, [backend])
    feeds = random_inputs(graph)
    with pytest.raises(BackendError) as info:
        s.run(feeds)
    message = str(info.value)
    assert f"backend {backend!r}" in message
    for word in words:
        assert word in message
    with pytest.raises(BackendError):
        s.profile(feeds, runs=1)
    # A good session over the same graph is unaffected.
    assert_same_outputs(session(graph, ["toy-a"]), graph)


def test_backend_that_cannot_be_created_is_named() -> None:
    with pytest.raises(BackendError, match=r"backend 'fault-create' \(plugin 'toy-plugin'\)"):
        session(load("ad01_int8"), ["fault-create"])


# --- profile and memory ---------------------------------------------------------------------------


def test_profile_reports_every_partition() -> None:
    graph = load("kws_ref_model")
    s = session(graph, [("toy-a", {"ops": ["CONV_2D"]})])
    profile = s.profile(random_inputs(graph), runs=3)
    assert profile.runs == 3
    assert [(t.index, t.backend, t.nodes) for t in profile.partitions] == [
        (p.index, p.backend, len(p.nodes)) for p in s.plan.partitions
    ]
    assert len(profile.partitions) > 2
    assert all(t.median_seconds > 0 for t in profile.partitions)
    assert profile.median_total_seconds >= sum(t.median_seconds for t in profile.partitions) * 0.5


@pytest.mark.parametrize("name", INT8_MODELS)
def test_profile_has_a_row_per_node_under_its_partition(name: str) -> None:
    """Reference partitions (also those toy-a compiles with the reference kernels) time every
    node: the rows name the plan's nodes in order, with their operators, and in one run the
    layers' times add up to no more than their partition's."""
    graph = load(name)
    s = session(graph, [("toy-a", {"ops": ["CONV_2D"]})])
    profile = s.profile(random_inputs(graph), runs=1)
    ops = {n.name: n.op for n in graph.nodes}
    for row, part in zip(profile.partitions, s.plan.partitions):
        assert [layer.node for layer in row.layers] == part.nodes
        assert [layer.op for layer in row.layers] == [ops[n] for n in part.nodes]
        seconds = [layer.median_seconds for layer in row.layers]
        assert all(t is not None and t > 0 for t in seconds)
        assert sum(t or 0.0 for t in seconds) <= row.median_seconds
        assert all(layer.instructions is None and layer.cycles is None for layer in row.layers)
        assert row.instructions is None and row.cycles is None
    assert profile.instructions is None and profile.cycles is None
    table = str(profile).splitlines()
    for node in graph.nodes:
        assert sum(line.split()[:2] == [node.name[:25], node.op] for line in table) == 1
    data = json.loads(profile.model_dump_json())
    assert [len(p["layers"]) for p in data["partitions"]] == [
        len(p.nodes) for p in s.plan.partitions
    ]


def test_profile_medians_over_runs_and_partitions_without_layers() -> None:
    """A partition whose backend cannot tell per layer (the default ``profile``) has no layer
    rows; the others have one row per node however many runs are taken."""
    graph = load("ad01_int8")
    s = session(
        graph, [("fault-lsb", {"ops": ["FULLY_CONNECTED"], "nodes": [graph.nodes[0].name]})]
    )
    profile = s.profile(random_inputs(graph), runs=5)
    assert [p.backend for p in profile.partitions] == ["fault-lsb", "reference"]
    first, rest = profile.partitions
    assert first.layers == [] and first.median_seconds > 0
    assert [layer.node for layer in rest.layers] == s.plan.partitions[1].nodes
    assert "fault-lsb" in str(profile)


def test_profile_rejects_costs_of_nodes_a_partition_does_not_hold() -> None:
    graph = load("kws_ref_model")
    s = session(graph, ["fault-profile"], strict=True)
    assert any(p.backend == "fault-profile" for p in s.plan.partitions)
    with pytest.raises(BackendError, match=r"fault-profile.*not-a-node-of-it.*not a LayerCost"):
        s.profile(random_inputs(graph), runs=1)
    assert_same_outputs(s, graph)  # run() is unaffected


@pytest.mark.parametrize("name", INT8_MODELS)
def test_memory_plan_on_shared_models(name: str) -> None:
    s = session(load(name), ["reference"])
    check_memory(s, within=0.05)


def test_memory_plan_reuses_bytes_in_place() -> None:
    b = GraphBuilder("reshape")
    x = b.input("x", "float32", (1, 2, 4))
    b.node("RELU", [x], [b.tensor("r", "float32", (1, 2, 4))], name="relu")
    b.node("RESHAPE", ["r"], [b.tensor("f", "float32", (1, 8))], name="flat", new_shape=[1, 8])
    b.node("RELU", ["f"], [b.tensor("y", "float32", (1, 8))], name="relu2")
    graph = b.build(outputs=["y"])
    memory = plan_memory(graph)
    placed = {t.tensor: t for t in memory.tensors}
    assert placed["f"].shares_with == "r" and placed["f"].offset == placed["r"].offset
    assert (placed["r"].first, placed["r"].last, placed["f"].first, placed["f"].last) == (
        0,
        1,
        1,
        2,
    )
    check_memory(session(graph, ["reference"]))


def test_session_works_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session(load("vww_96_int8"), [("toy-a", {"ops": ["CONV_2D"]}), "toy-b"])


def test_memory_plan_with_a_reshaped_constant() -> None:
    b = GraphBuilder("const_reshape")
    x = b.input("x", "float32", (1, 4))
    c = b.const("c", np.arange(4, dtype=np.float32).reshape(2, 2))
    b.node("RESHAPE", [c], [b.tensor("c4", "float32", (1, 4))], name="flat", new_shape=[1, 4])
    b.node("ADD", [x, "c4"], [b.tensor("y", "float32", (1, 4))], name="add")
    graph = b.build(outputs=["y"])
    s = session(graph, ["reference"])
    check_memory(s)
    x_value = np.ones((1, 4), np.float32)
    assert np.array_equal(s.run([x_value])["y"], x_value + np.arange(4, dtype=np.float32))
