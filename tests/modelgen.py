"""Seeded random int8 and 16x8 models made of spec operators, for whole-model tests against
TFLM.

Each int8 model is a chain over an NHWC activation with occasional side branches (ADD, MUL and
CONCATENATION join a branch back), random shapes, strides, paddings, activations and
quantization parameters, and ends in FULLY_CONNECTED + SOFTMAX. Operators are chosen so that
TFLM accepts every model (for example LOGISTIC's fixed output quantization).
:func:`random_16x8_conv_model` builds 16x8 models (int16 activations, int8 weights) of the conv
family the same way.

The 16x8 mode (:func:`random_16x8_model`) chains the operators with int16 signatures over
int16 activations (symmetric, zero point 0): pooling, LEAKY_RELU, LOGISTIC, TANH, ADD, SUB,
MUL, CONCATENATION, QUANTIZE, PAD, TRANSPOSE, STRIDED_SLICE, then MEAN or RESHAPE and int16
SOFTMAX; the model enters from int16, int8 or float32 (through QUANTIZE) and may leave through
DEQUANTIZE or QUANTIZE to int8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Quantization

Act = tuple[str, tuple[int, ...], float, int]  # tensor name, shape, scale, zero point


class RandomModel:
    """Builds one random model; :meth:`build` returns the graph."""

    #: The element type of the activations.
    activation_dtype = "int8"

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.b = GraphBuilder(f"random_{seed}")
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def _quant(self) -> tuple[float, int]:
        return float(10 ** self.rng.uniform(-2.5, -0.5)), int(self.rng.integers(-128, 100))

    def _out(self, shape: tuple[int, ...], quant: tuple[float, int] | None = None) -> Act:
        scale, zp = quant or self._quant()
        name = self.b.tensor(self._name("t"), self.activation_dtype, shape, quant=(scale, zp))
        return name, shape, scale, zp

    def _weights(
        self, shape: tuple[int, ...], axis: int, per_channel: bool
    ) -> tuple[str, Quantization]:
        data = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        n = shape[axis] if per_channel else 1
        q = Quantization(
            self.rng.uniform(0.001, 0.02, size=n),
            np.zeros(n, np.int64),
            axis=axis if per_channel else 0,
        )
        return self.b.const(self._name("w"), data, q), q

    def _bias(self, n: int, in_scale: float, wq: Quantization) -> str:
        scale = (
            np.broadcast_to(in_scale * wq.scale.astype(np.float64), (n,))
            if wq.per_axis
            else np.array([in_scale * float(wq.scale[0])])
        )
        data = self.rng.integers(-3000, 3000, size=n).astype(np.int32)
        return self.b.const(
            self._name("b"), data, Quantization(scale, np.zeros(scale.size, np.int64))
        )

    def _activation(self) -> str:
        return str(self.rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))

    # --- operators over an NHWC activation -------------------------------------------------

    def conv(self, x: Act) -> Act:
        name, (n, h, w, c), s, _ = x
        k = int(self.rng.integers(1, 4))
        stride = int(self.rng.integers(1, 3))
        padding = str(self.rng.choice(["SAME", "VALID"]))
        dilation = int(self.rng.choice([1, 1, 2]))
        ek = (k - 1) * dilation + 1
        if padding == "VALID" and (ek > h or ek > w):
            padding = "SAME"
        oh, ow = (
            ((h + stride - 1) // stride, (w + stride - 1) // stride)
            if padding == "SAME"
            else ((h - ek) // stride + 1, (w - ek) // stride + 1)
        )
        co = int(self.rng.integers(2, 12))
        wt, wq = self._weights((co, k, k, c), 0, bool(self.rng.integers(0, 2)))
        out = self._out((n, oh, ow, co))
        self.b.node(
            "CONV_2D",
            [name, wt, self._bias(co, s, wq)],
            [out[0]],
            padding=padding,
            stride_h=stride,
            stride_w=stride,
            dilation_h=dilation,
            dilation_w=dilation,
            fused_activation=self._activation(),
        )
        return out

    def depthwise(self, x: Act) -> Act:
        name, (n, h, w, c), s, _ = x
        k = int(self.rng.integers(1, 4))
        stride = int(self.rng.integers(1, 3))
        mult = int(self.rng.choice([1, 1, 2]))
        oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
        wt, wq = self._weights((1, k, k, c * mult), 3, True)
        out = self._out((n, oh, ow, c * mult))
        self.b.node(
            "DEPTHWISE_CONV_2D",
            [name, wt, self._bias(c * mult, s, wq)],
            [out[0]],
            padding="SAME",
            stride_h=stride,
            stride_w=stride,
            depth_multiplier=mult,
            fused_activation=self._activation(),
        )
        return out

    def pool(self, x: Act) -> Act:
        name, (n, h, w, c), s, zp = x
        op = str(self.rng.choice(["AVERAGE_POOL_2D", "MAX_POOL_2D"]))
        f = int(self.rng.integers(1, 4))
        stride = int(self.rng.integers(1, 3))
        oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
        out = self._out((n, oh, ow, c), (s, zp))
        self.b.node(
            op,
            [name],
            [out[0]],
            padding="SAME",
            stride_h=stride,
            stride_w=stride,
            filter_h=f,
            filter_w=f,
            fused_activation="NONE",
        )
        return out

    def unary(self, x: Act) -> Act:
        name, shape, _, _ = x
        op = str(self.rng.choice(["RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH"]))
        # TFLM fixes these outputs' quantization; RELU6 keeps its input's.
        fixed = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0), "RELU6": x[2:]}.get(op)
        out = self._out(shape, fixed)
        attrs: dict[str, Any] = (
            {"alpha": float(self.rng.uniform(0.05, 0.5))} if op == "LEAKY_RELU" else {}
        )
        self.b.node(op, [name], [out[0]], **attrs)
        return out

    def binary(self, x: Act) -> Act:
        """ADD, SUB or MUL of the activation and a 1x1 convolution of it (a residual branch)."""
        branch = self.conv_1x1(x)
        op = str(self.rng.choice(["ADD", "SUB", "MUL"]))
        out = self._out(x[1])
        self.b.node(op, [x[0], branch[0]], [out[0]], fused_activation=self._activation())
        return out

    def conv_1x1(self, x: Act) -> Act:
        name, (n, h, w, c), s, _ = x
        wt, wq = self._weights((c, 1, 1, c), 0, True)
        out = self._out((n, h, w, c))
        self.b.node("CONV_2D", [name, wt, self._bias(c, s, wq)], [out[0]], padding="VALID")
        return out

    def concat(self, x: Act) -> Act:
        name, (n, h, w, c), s, zp = x
        other = self.requantize(x, (s, zp))
        out = self._out((n, h, w, 2 * c), (s, zp))
        self.b.node("CONCATENATION", [name, other[0]], [out[0]], axis=3, fused_activation="NONE")
        return out

    def requantize(self, x: Act, quant: tuple[float, int] | None = None) -> Act:
        out = self._out(x[1], quant)
        self.b.node("QUANTIZE", [x[0]], [out[0]])
        return out

    def pad(self, x: Act) -> Act:
        name, (n, h, w, c), s, zp = x
        p = self.rng.integers(0, 3, size=(4, 2))
        p[0] = p[3] = 0
        paddings = self.b.const(self._name("pads"), p.astype(np.int32))
        out = self._out((n, h + int(p[1].sum()), w + int(p[2].sum()), c), (s, zp))
        self.b.node("PAD", [name, paddings], [out[0]])
        return out

    def head(self, x: Act) -> Graph:
        """MEAN over H and W (or a reshape), FULLY_CONNECTED, SOFTMAX; returns the graph."""
        name, (n, h, w, c), s, zp = x
        if self.rng.integers(0, 2):
            axes = self.b.const(self._name("axes"), np.array([1, 2], dtype=np.int32))
            flat = self._out((n, c))
            self.b.node("MEAN", [name, axes], [flat[0]], keep_dims=False)
        else:
            flat = self._out((n, h * w * c), (s, zp))
            self.b.node("RESHAPE", [name], [flat[0]], new_shape=[n, h * w * c])
        units = int(self.rng.integers(2, 10))
        wt, wq = self._weights((units, flat[1][1]), 0, False)
        logits = self._out((n, units))
        self.b.node(
            "FULLY_CONNECTED",
            [flat[0], wt, self._bias(units, flat[2], wq)],
            [logits[0]],
            fused_activation="NONE",
            keep_num_dims=False,
        )
        probs = self._out((n, units), (1 / 256, -128))
        self.b.node("SOFTMAX", [logits[0]], [probs[0]], beta=float(self.rng.uniform(0.5, 2.0)))
        return self.b.build(outputs=[probs[0]])

    def build(self, layers: int = 6) -> Graph:
        h, w = (int(v) for v in self.rng.integers(4, 14, size=2))
        c = int(self.rng.integers(1, 5))
        s, zp = self._quant()
        x: Act = (self.b.input("input", "int8", (1, h, w, c), quant=(s, zp)), (1, h, w, c), s, zp)
        steps: list[Callable[[Act], Act]] = [
            self.conv,
            self.depthwise,
            self.pool,
            self.unary,
            self.binary,
            self.concat,
            self.requantize,
            self.pad,
        ]
        for _ in range(layers):
            x = steps[int(self.rng.integers(len(steps)))](x)
        return self.head(x)


def random_int8_model(seed: int, layers: int = 6) -> Graph:
    """A random int8 model made only of spec operators."""
    return RandomModel(seed).build(layers)


class Random16x8ConvModel(RandomModel):
    """Builds one random 16x8 model: int16 activations (zero point 0) and int8 weights through
    CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, ending in FULLY_CONNECTED. Biases are int64,
    int32 (where TFLM takes one) or absent; output scales follow the layer's expected spread so
    that most outputs stay inside the int16 range."""

    def _activation16(self) -> str:
        # The clamping activations are covered per operator; in a chain they mostly saturate.
        return str(self.rng.choice(["NONE", "NONE", "RELU"]))

    def _out16(self, shape: tuple[int, ...], scale: float) -> Act:
        name = self.b.tensor(self._name("t"), "int16", shape, quant=(scale, 0))
        return name, shape, scale, 0

    def _scale16(self, s_in: float, depth: int, wq: Quantization) -> float:
        spread = np.sqrt(depth) * 18900.0 * 73.0 * s_in * float(np.mean(wq.scale))
        return float(spread / self.rng.uniform(3000, 15000))

    def _bias16(self, n: int, s_in: float, wq: Quantization, kinds: list[str]) -> list[str]:
        """The node's bias input as a list (empty without one); ``kinds`` are the allowed
        bias types, ``none`` among them."""
        kind = str(self.rng.choice(kinds))
        if kind == "none":
            return []
        scale = np.broadcast_to(s_in * wq.scale.astype(np.float64), (n,) if wq.per_axis else (1,))
        data = self.rng.integers(-(2**22), 2**22, size=n).astype(kind)
        quant = Quantization(np.array(scale), np.zeros(scale.size, np.int64))
        return [self.b.const(self._name("b"), data, quant)]

    def conv16(self, x: Act) -> Act:
        name, (n, h, w, c), s, _ = x
        k, stride = int(self.rng.integers(1, 4)), int(self.rng.integers(1, 3))
        co = int(self.rng.integers(2, 10))
        wt, wq = self._weights((co, k, k, c), 0, bool(self.rng.integers(0, 2)))
        out = self._out16(
            (n, (h + stride - 1) // stride, (w + stride - 1) // stride, co),
            self._scale16(s, k * k * c, wq),
        )
        bias = self._bias16(co, s, wq, ["int64", "int32", "none"])
        self.b.node(
            "CONV_2D",
            [name, wt, *bias],
            [out[0]],
            padding="SAME",
            stride_h=stride,
            stride_w=stride,
            fused_activation=self._activation16(),
        )
        return out

    def depthwise16(self, x: Act) -> Act:
        name, (n, h, w, c), s, _ = x
        k, mult = int(self.rng.integers(1, 4)), int(self.rng.choice([1, 2]))
        wt, wq = self._weights((1, k, k, c * mult), 3, bool(self.rng.integers(0, 2)))
        out = self._out16((n, h, w, c * mult), self._scale16(s, k * k, wq))
        bias = self._bias16(c * mult, s, wq, ["int64", "none"])
        self.b.node(
            "DEPTHWISE_CONV_2D",
            [name, wt, *bias],
            [out[0]],
            padding="SAME",
            depth_multiplier=mult,
            fused_activation=self._activation16(),
        )
        return out

    def transpose_conv16(self, x: Act) -> Act:
        name, (n, h, w, c), s, _ = x
        if h * w > 100:
            return self.conv16(x)
        k, stride = int(self.rng.integers(1, 4)), int(self.rng.integers(1, 3))
        co = int(self.rng.integers(2, 8))
        wt, wq = self._weights((co, k, k, c), 0, bool(self.rng.integers(0, 2)))
        shape = (n, h * stride, w * stride, co)
        out = self._out16(shape, self._scale16(s, k * k * c, wq))
        dims = self.b.const(self._name("shape"), np.array(shape, dtype=np.int32))
        bias = self._bias16(co, s, wq, ["int64", "none"])
        self.b.node(
            "TRANSPOSE_CONV",
            [dims, wt, name, *bias],
            [out[0]],
            padding="SAME",
            stride_h=stride,
            stride_w=stride,
            fused_activation=self._activation16(),
        )
        return out

    def build(self, layers: int = 4) -> Graph:
        h, w = (int(v) for v in self.rng.integers(3, 10, size=2))
        c = int(self.rng.integers(1, 5))
        s = float(10 ** self.rng.uniform(-4, -2))
        x: Act = (self.b.input("input", "int16", (1, h, w, c), quant=(s, 0)), (1, h, w, c), s, 0)
        steps = [self.conv16, self.depthwise16, self.transpose_conv16]
        for _ in range(layers):
            x = steps[int(self.rng.integers(len(steps)))](x)
        name, (n, h, w, c), s, _ = x
        units = int(self.rng.integers(2, 10))
        wt, wq = self._weights((units, h * w * c), 0, bool(self.rng.integers(0, 2)))
        logits = self._out16((n, units), self._scale16(s, h * w * c, wq))
        bias = self._bias16(units, s, wq, ["int64", "int32", "none"])
        self.b.node(
            "FULLY_CONNECTED",
            [name, wt, *bias],
            [logits[0]],
            fused_activation="NONE",
            keep_num_dims=False,
        )
        return self.b.build(outputs=[logits[0]])


def random_16x8_conv_model(seed: int, layers: int = 4) -> Graph:
    """A random 16x8 model (int16 activations, int8 weights) of the conv family."""
    return Random16x8ConvModel(seed).build(layers)


class Random16x8Model(RandomModel):
    """Builds one random 16x8 model over the operators with int16 signatures."""

    activation_dtype = "int16"

    def _quant(self) -> tuple[float, int]:
        return float(np.float32(10 ** self.rng.uniform(-4.0, -2.5))), 0

    def unary(self, x: Act) -> Act:
        name, shape, _, _ = x
        op = str(self.rng.choice(["LEAKY_RELU", "LOGISTIC", "TANH"]))
        # int16 LOGISTIC and TANH write Q0.15.
        out = self._out(shape, (2.0**-15, 0) if op != "LEAKY_RELU" else None)
        attrs: dict[str, Any] = (
            {"alpha": float(self.rng.uniform(-0.5, 0.5))} if op == "LEAKY_RELU" else {}
        )
        self.b.node(op, [name], [out[0]], **attrs)
        return out

    def binary(self, x: Act) -> Act:
        """ADD, SUB or MUL of the activation and a requantized or activated copy of it."""
        branch = self.requantize(x) if self.rng.integers(0, 2) else self.unary(x)
        op = str(self.rng.choice(["ADD", "SUB", "MUL"]))
        low = max(x[2], branch[2])
        # ADD/SUB want s_out > 2 max(s1, s2) / 2**15; MUL wants s1 s2 / s_out < 1.
        if op == "MUL":
            scale = x[2] * branch[2] * 10 ** self.rng.uniform(0.5, 4.0)
        else:
            scale = low * 10 ** self.rng.uniform(0.0, 1.0)
        out = self._out(x[1], (float(np.float32(scale)), 0))
        self.b.node(op, [x[0], branch[0]], [out[0]], fused_activation=self._activation())
        return out

    def transpose(self, x: Act) -> Act:
        """Swap H and W (TRANSPOSE with a constant permutation)."""
        name, (n, h, w, c), s, zp = x
        perm = self.b.const(self._name("perm"), np.array([0, 2, 1, 3], dtype=np.int32))
        out = self._out((n, w, h, c), (s, zp))
        self.b.node("TRANSPOSE", [name, perm], [out[0]])
        return out

    def slice(self, x: Act) -> Act:
        """STRIDED_SLICE keeping every row from a random start, and every other column."""
        name, (n, h, w, c), s, zp = x
        top = int(self.rng.integers(0, max(1, h // 2)))
        begin = self.b.const(self._name("begin"), np.array([0, top, 0, 0], dtype=np.int32))
        end = self.b.const(self._name("end"), np.array([n, h, w, c], dtype=np.int32))
        strides = self.b.const(self._name("strides"), np.array([1, 1, 2, 1], dtype=np.int32))
        out = self._out((n, h - top, (w + 1) // 2, c), (s, zp))
        self.b.node("STRIDED_SLICE", [name, begin, end, strides], [out[0]])
        return out

    def head(self, x: Act) -> Graph:
        """MEAN over H and W (or a reshape), int16 SOFTMAX, and maybe a way out to float32 or
        int8; returns the graph."""
        name, (n, h, w, c), s, zp = x
        if self.rng.integers(0, 2):
            axes = self.b.const(self._name("axes"), np.array([1, 2], dtype=np.int32))
            flat = self._out((n, c))
            self.b.node("MEAN", [name, axes], [flat[0]], keep_dims=False)
        else:
            flat = self._out((n, h * w * c), (s, zp))
            self.b.node("RESHAPE", [name], [flat[0]], new_shape=[n, h * w * c])
        probs = self._out(flat[1], (2.0**-15, 0))
        self.b.node("SOFTMAX", [flat[0]], [probs[0]], beta=float(self.rng.uniform(0.5, 2.0)))
        way_out = int(self.rng.integers(0, 3))
        if way_out == 0:
            return self.b.build(outputs=[probs[0]])
        if way_out == 1:
            real = self.b.tensor(self._name("t"), "float32", flat[1])
            self.b.node("DEQUANTIZE", [probs[0]], [real])
            return self.b.build(outputs=[real])
        small = self.b.tensor(self._name("t"), "int8", flat[1], quant=(1 / 256, -128))
        self.b.node("QUANTIZE", [probs[0]], [small])
        return self.b.build(outputs=[small])

    def entry(self, shape: tuple[int, ...]) -> Act:
        """The model's input: int16 itself, or int8 or float32 quantized to int16."""
        s, zp = self._quant()
        source = str(self.rng.choice(["int16", "int8", "float32"]))
        if source == "int16":
            return self.b.input("input", "int16", shape, quant=(s, zp)), shape, s, zp
        quant = (float(self.rng.uniform(0.01, 0.05)), int(self.rng.integers(-20, 20)))
        x = self.b.input("input", source, shape, quant=quant if source == "int8" else None)
        out = self._out(shape, (s, zp))
        self.b.node("QUANTIZE", [x], [out[0]])
        return out

    def build(self, layers: int = 6) -> Graph:
        h, w = (int(v) for v in self.rng.integers(4, 14, size=2))
        c = int(self.rng.integers(1, 5))
        x = self.entry((1, h, w, c))
        steps: list[Callable[[Act], Act]] = [
            self.pool,
            self.unary,
            self.binary,
            self.concat,
            self.requantize,
            self.pad,
            self.transpose,
            self.slice,
        ]
        for _ in range(layers):
            x = steps[int(self.rng.integers(len(steps)))](x)
        return self.head(x)


def random_16x8_model(seed: int, layers: int = 6) -> Graph:
    """A random 16x8 model (int16 activations) made only of spec operators with int16
    signatures."""
    return Random16x8Model(seed).build(layers)
