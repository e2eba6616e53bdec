"""The cmsis-nn backend end to end: bytes identical with TensorFlow Lite Micro and the reference
kernels on the shared int8 models, on many random single-operator cases per operator, and on
mixed plans; the build cache; errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tinyabi_cmsis_nn.backend import CmsisNNBackend, CmsisNNOptions
from tinyabi_cmsis_nn.build import host

import tinyabi
from tests.backends import ToyA, toy_registry
from tests.conftest import INT8_MODELS, shared_model
from tests.modelgen import random_int8_model
from tests.runtimes import run_tflm
from tinyabi.backends.registry import default_registry
from tinyabi.errors import BackendError, FallbackWarning
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization
from tinyabi.ir.shapes.conv import conv_output_size
from tinyabi.tflite.exporter import export_tflite

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def random_feeds(graph: Graph, rng: np.random.Generator) -> list[np.ndarray]:
    return [
        rng.integers(-128, 128, size=graph.tensor(n).shape).astype(np.int8) for n in graph.inputs
    ]


def assert_identical(
    graph: Graph, session: tinyabi.Session, runs: int, seed: int, tflm: bool = True
) -> None:
    """``session`` gives the reference's bytes (and TFLM's) on ``runs`` random inputs."""
    rng = np.random.default_rng(seed)
    reference = tinyabi.Session(graph, backends=["reference"])
    model = export_tflite(graph) if tflm else None
    for _ in range(runs):
        feeds = random_feeds(graph, rng)
        got = session.run(feeds)
        want = reference.run(feeds)
        truth = run_tflm(model, feeds) if model is not None else list(want.values())
        for (name, expected), tf in zip(want.items(), truth):
            assert got[name].dtype == np.int8 and got[name].shape == expected.shape, name
            assert np.array_equal(got[name], expected), f"{name}: differs from the reference"
            assert np.array_equal(got[name], tf), f"{name}: differs from TFLM"


def cmsis_only(graph: Graph) -> tinyabi.Session:
    """A session that must run every node on cmsis-nn."""
    session = tinyabi.Session(graph, backends=["cmsis-nn"], fallback="error", strict=True)
    assert {p.backend for p in session.plan.partitions} == {"cmsis-nn"}
    return session


# --- shared models -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", INT8_MODELS)
def test_shared_models_match_tflm_and_reference(name: str) -> None:
    path = shared_model(name)
    graph = tinyabi.load(str(path))
    session = cmsis_only(graph)
    rng = np.random.default_rng(len(name))
    reference = tinyabi.Session(graph, backends=["reference"])
    data = path.read_bytes()
    for _ in range(3):
        feeds = random_feeds(graph, rng)
        got = session.run(feeds)
        want = reference.run(feeds)
        for (key, value), tf in zip(want.items(), run_tflm(data, feeds)):
            assert got[key].tobytes() == value.tobytes() == tf.tobytes(), key
    memory = session.plan.partitions[0]
    assert memory.persistent_bytes > 0


# --- random single-operator cases, many per graph ------------------------------------------------


class Cases:
    """Builds one graph holding many independent single-operator cases (each with its own
    input and output), so that one compilation covers many parameter combinations."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.b = GraphBuilder(f"cases_{seed}")
        self.outputs: list[str] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def quant(self) -> tuple[float, int]:
        return float(10 ** self.rng.uniform(-2.3, -0.7)), int(self.rng.integers(-128, 128))

    def act(self) -> str:
        return str(self.rng.choice(ACTIVATIONS))

    def input(self, shape: tuple[int, ...], quant: tuple[float, int] | None = None) -> str:
        return self.b.input(self.name("x"), "int8", shape, quant=quant or self.quant())

    def output(self, shape: tuple[int, ...], quant: tuple[float, int]) -> str:
        name = self.b.tensor(self.name("y"), "int8", shape, quant=quant)
        self.outputs.append(name)
        return name

    def weights(
        self, shape: tuple[int, ...], axis: int, per_channel: bool
    ) -> tuple[str, np.ndarray]:
        data = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        n = shape[axis] if per_channel else 1
        scales = self.rng.uniform(0.002, 0.03, size=n)
        q = Quantization(scales, np.zeros(n, np.int64), axis=axis if per_channel else 0)
        return self.b.const(self.name("w"), data, q), scales

    def bias(self, n: int, s_in: float, scales: np.ndarray) -> str:
        products = s_in * scales.astype(np.float32).astype(np.float64)
        q = Quantization(products, np.zeros(products.size, np.int64), axis=0)
        data = self.rng.integers(-4000, 4000, size=n).astype(np.int32)
        return self.b.const(self.name("b"), data, q)

    def out_quant(self, s_in: float, scales: np.ndarray, fan_in: int) -> tuple[float, int]:
        spread = s_in * float(np.mean(scales)) * 70.0 * 70.0 * np.sqrt(fan_in)
        return spread / float(self.rng.uniform(20, 90)), int(self.rng.integers(-40, 40))

    def build(self) -> Graph:
        return self.b.build(outputs=self.outputs)


def conv_cases(c: Cases, count: int) -> None:
    for k in range(count):
        rng = c.rng
        batch = int(rng.choice([1, 1, 2]))
        h, w = (int(v) for v in rng.integers(3, 12, size=2))
        groups = 2 if k % 7 == 3 else 1
        cin = int(rng.choice([1, 3, 4, 8])) * groups
        cout = int(rng.integers(1, 9)) * groups
        if k % 5 == 0:  # the 1x1 fast path
            kh = kw = 1
            stride: tuple[int, ...] = (1, 1)
            dilation: tuple[int, ...] = (1, 1)
            padding = "VALID"
            cin = 4 * int(rng.integers(1, 4))
            groups = 1
        else:
            kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
            stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
            dilation = (
                (1, 1) if rng.random() < 0.6 else tuple(int(v) for v in rng.integers(1, 3, size=2))
            )
            padding = str(rng.choice(["SAME", "VALID"]))
        oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
        ow = conv_output_size(w, kw, stride[1], dilation[1], padding)
        if oh < 1 or ow < 1:
            padding = "SAME"
            oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
            ow = conv_output_size(w, kw, stride[1], dilation[1], padding)
        s_in, zp_in = c.quant()
        x = c.input((batch, h, w, cin), (s_in, zp_in))
        wname, scales = c.weights((cout, kh, kw, cin // groups), 0, bool(rng.random() < 0.7))
        bias = c.bias(cout, s_in, scales) if rng.random() < 0.85 else None
        y = c.output((batch, oh, ow, cout), c.out_quant(s_in, scales, kh * kw * cin // groups))
        c.b.node(
            "CONV_2D",
            [x, wname, bias],
            [y],
            padding=padding,
            stride_h=stride[0],
            stride_w=stride[1],
            dilation_h=dilation[0],
            dilation_w=dilation[1],
            fused_activation=c.act(),
        )


def depthwise_cases(c: Cases, count: int) -> None:
    for k in range(count):
        rng = c.rng
        batch = int(rng.choice([1, 1, 2]))
        h, w = (int(v) for v in rng.integers(3, 12, size=2))
        cin = int(rng.integers(1, 9))
        mult = int(rng.choice([1, 1, 2, 3]))
        if k % 4 == 0:  # the 3x3 path
            kh = kw = 3
            batch, mult = 1, 1
            stride: tuple[int, ...] = (1, 1)
            dilation: tuple[int, ...] = (1, 1)
        else:
            kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
            stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
            dilation = (
                (1, 1) if rng.random() < 0.6 else tuple(int(v) for v in rng.integers(1, 3, size=2))
            )
        padding = str(rng.choice(["SAME", "VALID"]))
        oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
        ow = conv_output_size(w, kw, stride[1], dilation[1], padding)
        if oh < 1 or ow < 1:
            padding = "SAME"
            oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
            ow = conv_output_size(w, kw, stride[1], dilation[1], padding)
        cout = cin * mult
        s_in, zp_in = c.quant()
        x = c.input((batch, h, w, cin), (s_in, zp_in))
        wname, scales = c.weights((1, kh, kw, cout), 3, bool(rng.random() < 0.7))
        bias = c.bias(cout, s_in, scales)
        y = c.output((batch, oh, ow, cout), c.out_quant(s_in, scales, kh * kw))
        c.b.node(
            "DEPTHWISE_CONV_2D",
            [x, wname, bias],
            [y],
            padding=padding,
            stride_h=stride[0],
            stride_w=stride[1],
            dilation_h=dilation[0],
            dilation_w=dilation[1],
            depth_multiplier=mult,
            fused_activation=c.act(),
        )


def fully_connected_cases(c: Cases, count: int) -> None:
    for k in range(count):
        rng = c.rng
        depth = int(rng.integers(1, 80))
        units = int(rng.integers(1, 40))
        batch = int(rng.choice([1, 1, 3]))
        shape = (batch, depth) if k % 3 else (batch, 1, 1, depth)
        s_in, zp_in = c.quant()
        x = c.input(shape, (s_in, zp_in))
        wname, scales = c.weights((units, depth), 0, False)
        bias = c.bias(units, s_in, scales) if rng.random() < 0.8 else None
        y = c.output((batch, units), c.out_quant(s_in, scales, depth))
        c.b.node("FULLY_CONNECTED", [x, wname, bias], [y], fused_activation=c.act())


def pool_cases(c: Cases, count: int) -> None:
    for k in range(count):
        rng = c.rng
        op = "AVERAGE_POOL_2D" if k % 2 else "MAX_POOL_2D"
        batch = int(rng.choice([1, 1, 2]))
        h, w = (int(v) for v in rng.integers(2, 12, size=2))
        ch = int(rng.integers(1, 10))
        fh, fw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = str(rng.choice(["SAME", "VALID"]))
        oh = conv_output_size(h, fh, stride[0], 1, padding)
        ow = conv_output_size(w, fw, stride[1], 1, padding)
        if oh < 1 or ow < 1:
            padding = "SAME"
            oh = conv_output_size(h, fh, stride[0], 1, padding)
            ow = conv_output_size(w, fw, stride[1], 1, padding)
        q = c.quant()
        x = c.input((batch, h, w, ch), q)
        y = c.output((batch, oh, ow, ch), q)
        c.b.node(
            op,
            [x],
            [y],
            padding=padding,
            stride_h=stride[0],
            stride_w=stride[1],
            filter_h=fh,
            filter_w=fw,
            fused_activation=c.act(),
        )


def softmax_cases(c: Cases, count: int) -> None:
    for k in range(count):
        rng = c.rng
        depth = int(rng.integers(1, 40))
        shape = (1, depth) if k % 2 else (2, int(rng.integers(1, 4)), depth)
        x = c.input(shape, (float(10 ** rng.uniform(-2, 0)), int(rng.integers(-128, 128))))
        y = c.output(shape, (1.0 / 256, -128))
        c.b.node("SOFTMAX", [x], [y], beta=float(rng.choice([1.0, 0.5, 2.0])))


def elementwise_cases(c: Cases, count: int) -> None:
    for k in range(count):
        rng = c.rng
        op = "ADD" if k % 2 else "MUL"
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 7, size=rank))
        x1 = c.input(shape)
        x2 = c.input(shape)
        y = c.output(shape, c.quant())
        c.b.node(op, [x1, x2], [y], fused_activation=c.act())
    # RESHAPE and SQUEEZE of graph inputs (a copy) and of intermediates (shared bytes).
    q = c.quant()
    x = c.input((1, 1, 6, 4), q)
    y = c.output((6, 4), q)
    c.b.node("SQUEEZE", [x], [y], squeeze_dims=[0, 1])
    a = c.input((2, 3, 4))
    q = c.quant()
    s = c.b.tensor(c.name("s"), "int8", (2, 3, 4), quant=q)
    c.b.node("ADD", [a, a], [s])
    b = c.output((4, 6), q)
    c.b.node("RESHAPE", [s], [b], new_shape=[4, 6])


FAMILIES: dict[str, tuple[Callable[[Cases, int], None], int]] = {
    "conv": (conv_cases, 28),
    "depthwise": (depthwise_cases, 20),
    "fully_connected": (fully_connected_cases, 16),
    "pooling": (pool_cases, 20),
    "softmax": (softmax_cases, 10),
    "elementwise": (elementwise_cases, 16),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("seed", [1, 2])
def test_random_single_operator_cases(family: str, seed: int) -> None:
    make, count = FAMILIES[family]
    cases = Cases(seed * 100 + len(family))
    make(cases, count)
    graph = cases.build()
    assert_identical(graph, cmsis_only(graph), runs=2, seed=seed)


# --- mixed plans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 8, 21])
def test_random_models_with_declined_nodes_match_whole_model_runs(seed: int) -> None:
    """Random models mix operators cmsis-nn runs with some it declines (PAD, CONCATENATION,
    LOGISTIC, broadcasting ADD, ...): the reference takes those, the result is unchanged."""
    graph = random_int8_model(seed, layers=7)
    session = tinyabi.Session(graph, backends=["cmsis-nn"])
    backends = {p.backend for p in session.plan.partitions}
    assert "cmsis-nn" in backends
    assert_identical(graph, session, runs=2, seed=seed)


def test_toy_split_of_kws_matches_tflm() -> None:
    """kws with every DEPTHWISE_CONV_2D on a toy backend: cmsis-nn gets many small partitions
    whose inputs and outputs cross backends."""
    graph = tinyabi.load(str(shared_model("kws_ref_model")))
    registry = toy_registry([ToyA, CmsisNNBackend])
    session = tinyabi.Session(
        graph,
        backends=[("toy-a", {"ops": ["DEPTHWISE_CONV_2D"]}), "cmsis-nn"],
        fallback="error",
        registry=registry,
    )
    parts = [p.backend for p in session.plan.partitions]
    assert parts.count("cmsis-nn") >= 4 and "toy-a" in parts
    assert_identical(graph, session, runs=2, seed=5)


# --- build cache and errors ----------------------------------------------------------------------


def _tiny_graph(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"tiny{seed}")
    x = b.input("x", "int8", (1, 5, 5, 2), quant=(0.1, 2))
    w = b.const(
        "w",
        rng.integers(-127, 128, size=(3, 3, 3, 2)).astype(np.int8),
        Quantization(np.array([0.01]), np.array([0])),
    )
    y = b.tensor("y", "int8", (1, 5, 5, 3), quant=(0.2, -1))
    b.node("CONV_2D", [x, w, None], [y], padding="SAME", stride_h=1, stride_w=1)
    return b.build(outputs=[y])


def test_second_compile_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(host.ENV_CACHE_DIR, str(tmp_path))
    graph = _tiny_graph(1)
    first = CmsisNNBackend().compile(graph)
    runs = host.compiler_runs
    assert runs > 0 and any((tmp_path / "cmsis-nn").glob("*/libmodel.so"))
    second = CmsisNNBackend().compile(graph)  # a new backend, as in a new session
    assert host.compiler_runs == runs, "the second compile invoked the compiler"
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 5, 5, 2)).astype(np.int8)
    assert np.array_equal(first.run({"x": x})["y"], second.run({"x": x})["y"])
    # Both partitions share one loaded library but keep their own arenas.
    x2 = np.flip(x).copy()
    a, b = first.run({"x": x}), second.run({"x": x2})
    assert np.array_equal(a["y"], first.run({"x": x})["y"])
    assert np.array_equal(b["y"], second.run({"x": x2})["y"])


def test_compiler_failures_name_the_backend_and_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(host.ENV_CACHE_DIR, str(tmp_path))
    graph = _tiny_graph(2)
    with pytest.raises(BackendError, match=r"cmsis-nn: .*false.*failed[\s\S]*partition 'tiny2'"):
        CmsisNNBackend(CmsisNNOptions(cc="false")).compile(graph)
    with pytest.raises(BackendError, match=r"cmsis-nn.*failed to compile partition 0"):
        tinyabi.Session(graph, backends=[("cmsis-nn", {"cc": "false"})], strict=True)
    with pytest.warns(FallbackWarning, match="cmsis-nn failed to compile partition 0"):
        session = tinyabi.Session(graph, backends=[("cmsis-nn", {"cc": "false"})])
    assert [p.backend for p in session.plan.partitions] == ["reference"]
    assert [f.taken_by for f in session.fallbacks] == [["reference"]]


def test_a_missing_cmsis_nn_tree_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not a CMSIS-NN source tree"):
        CmsisNNBackend(CmsisNNOptions(cmsis_nn_path=str(tmp_path))).compile(_tiny_graph(3))


def test_backend_identity() -> None:
    backend = CmsisNNBackend()
    assert (backend.name, backend.spec_version, backend.profile) == ("cmsis-nn", "0.1", "int8")
    assert "cmsis-nn" in default_registry().names()


def test_target_option_runs_the_partition_on_qemu() -> None:
    """``target="cortex-m4"`` hands the partition to the Cortex-M build and QEMU runner."""
    import os
    import shutil

    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            message = (
                f"{tool} is missing (gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
            )
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    graph = _tiny_graph(4)
    session = tinyabi.Session(
        graph, backends=[("cmsis-nn", {"target": "cortex-m4"})], fallback="error", strict=True
    )
    assert_identical(graph, session, runs=1, seed=4)
