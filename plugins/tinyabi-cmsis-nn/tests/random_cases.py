"""Random single-operator test graphs for the cmsis-nn backend, and how to check a session
on them: each graph holds many independent cases of one operator family (each with its own
input and output), so that one compilation covers many parameter combinations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import tinyabi
from tests.runtimes import run_tflm
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
            if k % 8 == 0:  # Cortex-M4's four-channel groups, strided too
                cin = 4 * int(rng.integers(1, 4))
                stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
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


def _chain_layer(
    c: Cases, x: str, shape: tuple[int, ...], s_in: float, last: bool
) -> tuple[str, tuple[int, ...], float]:
    """One DEPTHWISE_CONV_2D, 1x1 CONV_2D or other CONV_2D after ``x``: its output name, shape
    and scale."""
    rng = c.rng
    _, h, w, cin = shape
    kind = rng.random()
    if kind < 0.25:  # any kernel, stride and padding
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
        padding = str(rng.choice(["SAME", "VALID"]))
        if min(h - kh, w - kw) < 0:
            padding = "SAME"
        oh = conv_output_size(h, kh, stride[0], 1, padding)
        ow = conv_output_size(w, kw, stride[1], 1, padding)
        cout = 4 * int(rng.integers(1, 4))
        wname, scales = c.weights((cout, kh, kw, cin), 0, bool(rng.random() < 0.7))
        q = c.out_quant(s_in, scales, kh * kw * cin)
        y = (
            c.output((1, oh, ow, cout), q)
            if last
            else c.b.tensor(c.name("t"), "int8", (1, oh, ow, cout), quant=q)
        )
        op, attrs = "CONV_2D", {"dilation_h": 1, "dilation_w": 1}
    elif kind < 0.6:  # depthwise, any stride and padding
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
        padding = str(rng.choice(["SAME", "VALID"]))
        if min(h - kh, w - kw) < 0:
            padding = "SAME"
        mult = int(rng.choice([1, 1, 2]))
        oh = conv_output_size(h, kh, stride[0], 1, padding)
        ow = conv_output_size(w, kw, stride[1], 1, padding)
        cout = cin * mult
        wname, scales = c.weights((1, kh, kw, cout), 3, bool(rng.random() < 0.7))
        q = c.out_quant(s_in, scales, kh * kw)
        y = (
            c.output((1, oh, ow, cout), q)
            if last
            else c.b.tensor(c.name("t"), "int8", (1, oh, ow, cout), quant=q)
        )
        op, attrs = "DEPTHWISE_CONV_2D", {"depth_multiplier": mult}
    else:  # 1x1, the fast path
        kh = kw = 1
        stride, padding = (1, 1), "VALID"
        oh, ow, cout = h, w, 4 * int(rng.integers(1, 4))
        wname, scales = c.weights((cout, 1, 1, cin), 0, bool(rng.random() < 0.7))
        q = c.out_quant(s_in, scales, cin)
        y = (
            c.output((1, oh, ow, cout), q)
            if last
            else c.b.tensor(c.name("t"), "int8", (1, oh, ow, cout), quant=q)
        )
        op, attrs = "CONV_2D", {"dilation_h": 1, "dilation_w": 1}
    bias = c.bias(cout, s_in, scales)
    c.b.node(
        op,
        [x, wname, bias],
        [y],
        padding=padding,
        stride_h=stride[0],
        stride_w=stride[1],
        fused_activation=c.act(),
        **attrs,
    )
    return y, (1, oh, ow, cout), q[0]


def chain_cases(c: Cases, count: int) -> None:
    """Chains of depthwise, 1x1 and other convolutions: the generated code runs them in row
    bands, each output overlapping its input in the arena."""
    for _ in range(count):
        rng = c.rng
        shape: tuple[int, ...] = (
            1,
            int(rng.integers(2, 13)),
            int(rng.integers(1, 9)),
            4 * int(rng.integers(1, 3)),
        )
        s_in, zp_in = c.quant()
        x = c.input(shape, (s_in, zp_in))
        layers = int(rng.integers(3, 6))
        for k in range(layers):
            x, shape, s_in = _chain_layer(c, x, shape, s_in, k == layers - 1)


FAMILIES: dict[str, tuple[Callable[[Cases, int], None], int]] = {
    "chain": (chain_cases, 8),
    "conv": (conv_cases, 28),
    "depthwise": (depthwise_cases, 20),
    "fully_connected": (fully_connected_cases, 16),
    "pooling": (pool_cases, 20),
    "softmax": (softmax_cases, 10),
    "elementwise": (elementwise_cases, 16),
}


def family_graph(family: str, seed: int, count: int | None = None) -> Graph:
    """The random graph of ``family`` (a key of :data:`FAMILIES`) for ``seed``, with
    ``count`` cases (default: the family's usual number)."""
    make, usual = FAMILIES[family]
    cases = Cases(seed * 100 + len(family))
    make(cases, usual if count is None else count)
    return cases.build()
