"""Planning as a pure function (:func:`tinyabi.dispatch.planner.make_plan`), spec checks that
change nothing (:func:`tinyabi.ir.validate.check_node`), and whole-partition refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinyabi
from tests.backends import CompileRaises, SubsetOptions, ToyA, toy_registry
from tests.conftest import FLOAT_MODELS, INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tinyabi.backends import Backend
from tinyabi.backends.registry import default_registry
from tinyabi.dispatch.planner import execution_graph, make_plan, partition_graphs
from tinyabi.errors import GraphError, UnsupportedOperatorError
from tinyabi.feeds import random_inputs
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Node
from tinyabi.ir.validate import NodeCheck, check_node, validate_node

# --- snapshots of a graph, to compare before and after -----------------------------------------


def _array(a: np.ndarray | None) -> Any:
    return None if a is None else (a.dtype.str, a.shape, a.tobytes(), a.flags.writeable)


def snapshot(graph: Graph) -> Any:
    """Everything planning could change: identities, names, order, attributes, tensors."""
    return (
        graph.name,
        list(graph.inputs),
        list(graph.outputs),
        [
            (id(n), n.name, n.op, list(n.inputs), list(n.outputs), repr(n.attrs), n.version)
            for n in graph.nodes
        ],
        {
            name: (
                id(t),
                t.name,
                t.dtype,
                t.shape,
                t.variable,
                _array(t.data),
                None if t.quant is None else (_array(t.quant.scale), _array(t.quant.zero_point)),
                None if t.quant is None else t.quant.axis,
            )
            for name, t in graph.tensors.items()
        },
    )


def backends(*specs: str | tuple[str, dict[str, Any]]) -> list[Backend]:
    registry = default_registry()
    return [
        registry.create(s) if isinstance(s, str) else registry.create(s[0], s[1]) for s in specs
    ]


BACKEND_LISTS = [
    ("reference",),
    ("tflm", "reference"),
    ("cmsis-nn", "tflm", "reference"),
    ("cmsis-nn", "reference"),
    (("litert", {"int8": True}), ("tflm", {"ops": ["CONV_2D"]}), "reference"),
]


@pytest.mark.parametrize("model", INT8_MODELS + FLOAT_MODELS)
def test_planning_leaves_the_graph_untouched_and_compiles_nothing(model: str) -> None:
    graph = tinyabi.load(shared_model(model))
    before = snapshot(graph)
    for specs in BACKEND_LISTS:
        for mode in ("first-claim", "cost"):
            # CompileRaises claims the convolutions: planning that compiled would raise.
            chosen = [CompileRaises(), *backends(*specs)]
            plan = make_plan(graph, chosen, mode=mode)
            assert snapshot(graph) == before, (specs, mode)
            assert sorted(plan.execution_order()) == sorted(n.name for n in graph.nodes)
            assert make_plan(graph, chosen, mode=mode) == plan  # deterministic
            partition_graphs(graph, plan)
            assert snapshot(graph) == before, (specs, mode)


def test_the_memory_aware_order_is_in_the_plan_not_in_the_graph() -> None:
    graph = tinyabi.load(shared_model("vww_96_int8"))
    stored = [n.name for n in graph.nodes]
    session = tinyabi.Session(graph)
    assert [n.name for n in session.graph.nodes] == stored  # the session keeps the graph
    order = session.plan.execution_order()
    assert sorted(order) == sorted(stored)
    assert [n.name for n in execution_graph(graph, session.plan).nodes] == order
    subgraphs = partition_graphs(graph, session.plan)
    assert [[n.name for n in g.nodes] for g in subgraphs] == [
        p.nodes for p in session.plan.partitions
    ]


def test_unassigned_nodes_are_in_the_plan_and_the_session_refuses_them() -> None:
    graph = tinyabi.load(shared_model("ad01_int8"))
    registry = toy_registry()
    toy = registry.create("toy-a", {"ops": ["FULLY_CONNECTED"], "nodes": [graph.nodes[0].name]})
    plan = make_plan(graph, [toy], fallback="error")
    unassigned = plan.unassigned
    assert [n.node for n in unassigned] == [n.name for n in graph.nodes[1:]]
    assert all(n.partition == -1 and n.declined[0].backend == "toy-a" for n in unassigned)
    assert [p.nodes for p in plan.partitions] == [[graph.nodes[0].name]]
    assert "(none)" in str(plan)
    with pytest.raises(UnsupportedOperatorError) as info:
        tinyabi.Session(
            graph,
            backends=[("toy-a", {"ops": ["FULLY_CONNECTED"], "nodes": [graph.nodes[0].name]})],
            fallback="error",
            registry=registry,
        )
    assert str(info.value).startswith(
        f"fallback is 'error' and no listed backend supports {len(unassigned)} node(s) ("
    )


# --- whole-partition refusals --------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_a_backend_that_refuses_big_partitions_gets_small_ones(limit: int) -> None:
    graph = tinyabi.load(shared_model("kws_ref_model"))
    registry = toy_registry()
    whole = tinyabi.Session(graph, backends=["toy-a"], registry=registry)
    ops = sorted({n.op for n in graph.nodes})
    s = tinyabi.Session(
        graph, backends=[("toy-a", {"ops": ops, "max_nodes": limit})], registry=registry
    )
    ours = [p for p in s.plan.partitions if p.backend == "toy-a"]
    assert ours and all(len(p.nodes) <= limit for p in ours)
    assert len(ours) > 1
    assert any("toy-a refused partition" in note for note in s.plan.notes)
    assert all(f"more than {limit}" in note for note in s.plan.notes if "refused" in note)
    feeds = random_inputs(graph)
    reference = tinyabi.Session(graph, backends=["reference"]).run(feeds)
    outputs = s.run(feeds)
    assert all(np.array_equal(outputs[k], reference[k]) for k in reference)
    assert whole.plan.partitions[0].backend == "reference"  # toy-a claims no op by default


def test_a_refused_single_node_goes_to_the_next_backend() -> None:
    graph = tinyabi.load(shared_model("ad01_int8"))

    class RefusesEverything(ToyA):
        name = "toy-refuses"

        def accept(self, partition: Graph) -> Any:
            raise RuntimeError("no partitions today")

    ops = sorted({n.op for n in graph.nodes})
    plan = make_plan(
        graph, [RefusesEverything(SubsetOptions(ops=tuple(ops))), *backends("reference")]
    )
    assert {p.backend for p in plan.partitions} == {"reference"}
    for n in plan.nodes:
        (decline,) = n.declined
        assert decline.backend == "toy-refuses"
        assert decline.reason == (
            "partition refused: toy-refuses.accept raised RuntimeError: no partitions today"
        )


# --- spec checks ---------------------------------------------------------------------------------


def test_node_construction_fills_spec_defaults_without_touching_the_given_dict() -> None:
    given = {"padding": "SAME"}
    node = Node("c", "CONV_2D", ["x", "w", None], ["y"], given)
    assert given == {"padding": "SAME"}
    assert node.attrs["fused_activation"] == "NONE" and node.attrs["padding"] == "SAME"
    extension = Node("e", "tflite.ABS", ["x"], ["y"], given)
    assert extension.attrs is given


def test_check_node_never_raises_and_never_changes_the_node() -> None:
    b = GraphBuilder("checks")
    x = b.input("x", "int8", (1, 4), quant=(0.1, 0))
    y = b.tensor("y", "int8", (1, 4), quant=(0.1, 0))
    z = b.tensor("z", "int16", (1, 4), quant=(0.1, 0))
    ok = b.node("RELU", [x], [y])
    bad = b.node("RELU", [x], [z])
    graph = b.build(outputs=[y, z])
    broken = Node("broken", "ADD", [x, "missing"], [y])
    ext = Node("ext", "toy.DOUBLE", [x], [y])
    before = snapshot(graph), repr(broken.attrs)
    assert check_node(ok, graph) == NodeCheck(signature="int8")
    assert check_node(ok, graph).valid
    bad_check = check_node(bad, graph)
    assert bad_check.signature is None and not bad_check.valid
    assert "match no signature" in (bad_check.problem or "")
    broken_check = check_node(broken, graph)
    assert not broken_check.valid and "missing" in (broken_check.problem or "")
    assert check_node(ext, graph) == NodeCheck()
    assert (snapshot(graph), repr(broken.attrs)) == before
    assert validate_node(ok, graph) == "int8"
    with pytest.raises(GraphError, match="match no signature"):
        validate_node(bad, graph)


def test_a_refused_pattern_chain_is_never_split() -> None:
    from tests.test_dispatch import PAD_CONV_SEEDS

    registry = toy_registry()
    for seed in PAD_CONV_SEEDS[:2]:
        graph = random_int8_model(seed)
        fused = registry.create("toy-fused", {"ops": ["PAD", "CONV_2D"], "max_nodes": 1})
        plan = make_plan(graph, [fused, registry.create("reference")])
        assert not any(n.pattern for n in plan.nodes if n.backend == "toy-fused")
        refused = [n for n in plan.nodes if n.op == "PAD" and n.backend == "reference"]
        assert refused, seed
        for n in refused:
            assert any(d.reason.startswith("partition refused: ") for d in n.declined)
        assert all(len(p.nodes) == 1 for p in plan.partitions if p.backend == "toy-fused")
