"""Shape rules of the tensor operator family.

RESHAPE, SQUEEZE, CONCATENATION, PAD, TRANSPOSE and STRIDED_SLICE move data without computing
on it; QUANTIZE and DEQUANTIZE keep the shape. Operands that define the output shape (a
RESHAPE's shape, PAD's paddings, TRANSPOSE's permutation, STRIDED_SLICE's begin/end/strides)
must be constant int32 tensors: the spec has static shapes only.

The rules also enforce the operators' limits in TinyABI 0.1 (maximum ranks, unsupported
STRIDED_SLICE masks), which follow what TensorFlow Lite Micro can run. The reference kernels
call these rules, so a graph that breaks them is declined with a :class:`GraphError` both at
validation and at prepare time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyabi.errors import GraphError
from tinyabi.ir.graph import Graph, Node, Tensor
from tinyabi.ir.shapes.registry import Shape, shape_rule

__all__ = [
    "MAX_CONCAT_INPUTS",
    "MAX_RANK",
    "SlicePlan",
    "check_rank",
    "concat_axis",
    "concatenation_shape",
    "constant_ints",
    "input_tensor",
    "node_error",
    "pad_amounts",
    "pad_shape",
    "reshape_shape",
    "reshape_target",
    "resolve_reshape",
    "same_shape",
    "squeeze_axes",
    "squeeze_shape",
    "strided_slice_plan",
    "strided_slice_shape",
    "transpose_perm",
    "transpose_shape",
]

#: Highest input rank each operator supports (TFLite Micro's limits).
MAX_RANK = {
    "SQUEEZE": 8,
    "CONCATENATION": 6,
    "PAD": 5,
    "TRANSPOSE": 5,
    "STRIDED_SLICE": 4,
}
#: Most inputs a CONCATENATION may have.
MAX_CONCAT_INPUTS = 10


def node_error(node: Node, message: str) -> GraphError:
    """A :class:`GraphError` whose message starts with the node's description."""
    return GraphError(f"{node.describe()}: {message}")


def input_tensor(node: Node, graph: Graph, index: int, what: str) -> Tensor:
    """Input ``index`` of ``node``; a :class:`GraphError` naming ``what`` when it is missing."""
    if index >= len(node.inputs) or node.inputs[index] is None:
        raise node_error(node, f"missing input {index} ({what})")
    return graph.tensor(node.inputs[index])  # type: ignore[arg-type]


def constant_ints(node: Node, graph: Graph, index: int, what: str) -> np.ndarray:
    """The data of constant int32 input ``index`` as an int64 array of the tensor's shape.

    Raises :class:`GraphError` when the input is missing, not constant or not int32.
    """
    t = input_tensor(node, graph, index, what)
    if t.data is None:
        raise node_error(node, f"{what} (tensor {t.name!r}) must be a constant tensor")
    if t.dtype != "int32":
        raise node_error(node, f"{what} (tensor {t.name!r}) must be int32, not {t.dtype}")
    return np.asarray(t.data, dtype=np.int64).reshape(t.shape)


def check_rank(node: Node, shape: Shape, minimum: int = 0) -> None:
    """Raise when ``shape`` has fewer than ``minimum`` axes or more than the maximum rank of
    the node's operator."""
    if len(shape) < minimum:
        raise node_error(node, f"input rank {len(shape)} is below the minimum of {minimum}")
    limit = MAX_RANK.get(node.op)
    if limit is not None and len(shape) > limit:
        raise node_error(
            node, f"input rank {len(shape)} exceeds the operator's maximum rank of {limit}"
        )


def _count(shape: Shape) -> int:
    return math.prod(shape)


# --------------------------------------------------------------------------------------------
# RESHAPE


def reshape_target(node: Node, graph: Graph) -> list[int] | None:
    """The requested shape of a RESHAPE (possibly with one ``-1``), or ``None`` when neither
    the shape operand nor the ``new_shape`` attribute gives one.

    The shape operand wins over the attribute. A ``new_shape`` of ``[0]`` without a shape
    operand is TFLite's legacy spelling of a scalar.
    """
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        data = constant_ints(node, graph, 1, "shape")
        if data.ndim != 1:
            raise node_error(node, f"shape must be 1-D, got shape {list(data.shape)}")
        return [int(v) for v in data]
    new_shape = node.attrs.get("new_shape")
    if new_shape is None or len(new_shape) == 0:
        return None
    if list(new_shape) == [0]:
        return []
    return [int(v) for v in new_shape]


def resolve_reshape(node: Node, target: list[int], count: int) -> Shape:
    """``target`` with its ``-1`` (if any) resolved so that it holds ``count`` elements."""
    if any(d < -1 for d in target):
        raise node_error(node, f"new shape {target} has a negative dimension")
    stretch = [i for i, d in enumerate(target) if d == -1]
    if len(stretch) > 1:
        raise node_error(node, f"new shape {target} has more than one -1")
    known = _count(tuple(d for d in target if d != -1))
    shape = list(target)
    if stretch:
        if known == 0 or count % known != 0:
            raise node_error(
                node, f"cannot resolve -1 in new shape {target} for {count} input elements"
            )
        shape[stretch[0]] = count // known
    if _count(tuple(shape)) != count:
        raise node_error(
            node, f"new shape {target} holds {_count(tuple(shape))} elements, the input {count}"
        )
    return tuple(shape)


@shape_rule("RESHAPE")
def reshape_shape(node: Node, graph: Graph) -> list[Shape]:
    """RESHAPE: the shape operand, else ``new_shape``, else the declared output shape, with
    ``-1`` resolved; the element count must not change."""
    x = input_tensor(node, graph, 0, "input")
    target = reshape_target(node, graph)
    if target is None:
        target = list(graph.tensor(node.outputs[0]).shape)
    return [resolve_reshape(node, target, x.size)]


# --------------------------------------------------------------------------------------------
# SQUEEZE


def squeeze_axes(node: Node, shape: Shape) -> list[int]:
    """The (non-negative, sorted) axes a SQUEEZE removes from an input of ``shape``."""
    check_rank(node, shape)
    dims = node.attrs.get("squeeze_dims") or []
    rank = len(shape)
    if not dims:
        return [i for i, d in enumerate(shape) if d == 1]
    axes = set()
    for d in dims:
        axis = int(d) + rank if int(d) < 0 else int(d)
        if not 0 <= axis < rank:
            raise node_error(node, f"squeeze dim {d} is out of range for rank {rank}")
        if shape[axis] != 1:
            raise node_error(
                node, f"cannot squeeze dim {d}: it has size {shape[axis]} in {list(shape)}"
            )
        axes.add(axis)
    return sorted(axes)


@shape_rule("SQUEEZE")
def squeeze_shape(node: Node, graph: Graph) -> list[Shape]:
    """SQUEEZE: the input shape without the squeezed size-1 dimensions."""
    shape = input_tensor(node, graph, 0, "input").shape
    axes = set(squeeze_axes(node, shape))
    return [tuple(d for i, d in enumerate(shape) if i not in axes)]


# --------------------------------------------------------------------------------------------
# CONCATENATION


def concat_axis(node: Node, rank: int) -> int:
    """The non-negative concatenation axis of a CONCATENATION over rank-``rank`` inputs."""
    axis = int(node.attrs.get("axis", 0))
    if not -rank <= axis < rank:
        raise node_error(node, f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


@shape_rule("CONCATENATION")
def concatenation_shape(node: Node, graph: Graph) -> list[Shape]:
    """CONCATENATION: inputs of one rank that agree on every dimension but ``axis``; the
    output's ``axis`` dimension is the sum of theirs."""
    if not node.inputs or any(n is None for n in node.inputs):
        raise node_error(node, "needs one or more inputs, none omitted")
    if len(node.inputs) > MAX_CONCAT_INPUTS:
        raise node_error(
            node, f"has {len(node.inputs)} inputs; at most {MAX_CONCAT_INPUTS} are supported"
        )
    shapes = [graph.tensor(n).shape for n in node.inputs if n is not None]
    rank = len(shapes[0])
    check_rank(node, shapes[0], minimum=1)
    axis = concat_axis(node, rank)
    for shape in shapes[1:]:
        if len(shape) != rank or any(
            a != b for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != axis
        ):
            raise node_error(
                node,
                f"input shapes {[list(s) for s in shapes]} differ outside axis {axis}",
            )
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [tuple(out)]


# --------------------------------------------------------------------------------------------
# PAD


def pad_amounts(node: Node, graph: Graph) -> np.ndarray:
    """The paddings of a PAD as an int64 ``[rank, 2]`` array (before, after per axis)."""
    shape = input_tensor(node, graph, 0, "input").shape
    check_rank(node, shape, minimum=1)
    if len(node.inputs) != 2:
        raise node_error(node, f"takes 2 inputs (input, paddings), got {len(node.inputs)}")
    paddings = constant_ints(node, graph, 1, "paddings")
    if paddings.shape != (len(shape), 2):
        raise node_error(
            node,
            f"paddings must have shape [{len(shape)}, 2] for an input of rank {len(shape)}, "
            f"got {list(paddings.shape)}",
        )
    if np.any(paddings < 0):
        raise node_error(node, f"paddings must be non-negative, got {paddings.tolist()}")
    return paddings


@shape_rule("PAD")
def pad_shape(node: Node, graph: Graph) -> list[Shape]:
    """PAD: each input dimension grows by its before and after paddings."""
    shape = input_tensor(node, graph, 0, "input").shape
    paddings = pad_amounts(node, graph)
    return [tuple(int(d + p.sum()) for d, p in zip(shape, paddings))]


# --------------------------------------------------------------------------------------------
# TRANSPOSE


def transpose_perm(node: Node, graph: Graph) -> list[int]:
    """The permutation of a TRANSPOSE: output axis ``i`` is input axis ``perm[i]``."""
    shape = input_tensor(node, graph, 0, "input").shape
    check_rank(node, shape, minimum=1)
    perm = constant_ints(node, graph, 1, "perm")
    if perm.ndim != 1 or perm.size != len(shape):
        raise node_error(
            node, f"perm must be 1-D with {len(shape)} entries, got shape {list(perm.shape)}"
        )
    values = [int(p) for p in perm]
    if sorted(values) != list(range(len(shape))):
        raise node_error(node, f"perm {values} is not a permutation of 0..{len(shape) - 1}")
    return values


@shape_rule("TRANSPOSE")
def transpose_shape(node: Node, graph: Graph) -> list[Shape]:
    """TRANSPOSE: the input dimensions in the order of ``perm``."""
    shape = input_tensor(node, graph, 0, "input").shape
    return [tuple(shape[p] for p in transpose_perm(node, graph))]


# --------------------------------------------------------------------------------------------
# STRIDED_SLICE


@dataclass(frozen=True)
class SlicePlan:
    """A resolved STRIDED_SLICE: the input indices read along every axis, in output order,
    and which axes the output drops (shrink_axis_mask)."""

    indices: tuple[np.ndarray, ...]
    shrink: tuple[bool, ...]

    @property
    def full_shape(self) -> Shape:
        """The slice's shape before the shrunk axes are dropped."""
        return tuple(len(i) for i in self.indices)

    @property
    def output_shape(self) -> Shape:
        """The output shape (shrunk axes dropped)."""
        return tuple(len(i) for i, s in zip(self.indices, self.shrink) if not s)


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def strided_slice_plan(node: Node, graph: Graph) -> SlicePlan:
    """Resolve a STRIDED_SLICE's begin/end/strides and masks against its input shape.

    Per axis of size ``n`` with stride ``s`` (non-zero): a masked begin is the first element
    in the direction of travel (0 for ``s > 0``, ``n - 1`` for ``s < 0``); otherwise a negative
    begin counts from the end (``+ n``) and is clamped to ``[0, n]`` (``s > 0``) or
    ``[-1, n - 1]`` (``s < 0``). The end is resolved the same way, a masked end being ``n``
    (``s > 0``) or ``-1`` (``s < 0``). The axis reads ``begin, begin + s, ...`` while before
    ``end``. A shrunk axis reads exactly the element at ``begin``.
    """
    shape = input_tensor(node, graph, 0, "input").shape
    rank = len(shape)
    check_rank(node, shape, minimum=1)
    for attr in ("ellipsis_mask", "new_axis_mask"):
        if int(node.attrs.get(attr, 0) or 0) != 0:
            raise node_error(node, f"{attr} is not supported (must be 0)")
    if node.attrs.get("offset", False):
        raise node_error(node, "offset=true is not supported")
    if len(node.inputs) != 4:
        raise node_error(
            node, f"takes 4 inputs (input, begin, end, strides), got {len(node.inputs)}"
        )
    names = ("begin", "end", "strides")
    operands = [constant_ints(node, graph, i, w) for i, w in enumerate(names, 1)]
    for what, data in zip(names, operands):
        if data.ndim != 1 or data.size != rank:
            raise node_error(
                node,
                f"{what} must be 1-D with one entry per input axis ({rank}), "
                f"got shape {list(data.shape)}",
            )
    begin, end, strides = ([int(v) for v in d] for d in operands)
    begin_mask = int(node.attrs.get("begin_mask", 0) or 0)
    end_mask = int(node.attrs.get("end_mask", 0) or 0)
    shrink_mask = int(node.attrs.get("shrink_axis_mask", 0) or 0)
    indices: list[np.ndarray] = []
    shrink: list[bool] = []
    for axis, n in enumerate(shape):
        stride = strides[axis]
        if stride == 0:
            raise node_error(node, f"stride of axis {axis} is 0")
        is_shrunk = bool(shrink_mask >> axis & 1)
        forward = stride > 0
        if begin_mask >> axis & 1:
            start = 0 if forward else n - 1
        else:
            start = begin[axis] + n if begin[axis] < 0 else begin[axis]
            start = _clamp(start, 0, n) if forward else _clamp(start, -1, n - 1)
        if is_shrunk:
            if not forward:
                raise node_error(node, f"shrunk axis {axis} needs a positive stride")
            if not 0 <= start < n:
                raise node_error(
                    node, f"shrunk axis {axis}: begin {begin[axis]} is outside size {n}"
                )
            stop = start + 1
        elif end_mask >> axis & 1:
            stop = n if forward else -1
        else:
            stop = end[axis] + n if end[axis] < 0 else end[axis]
            stop = _clamp(stop, 0, n) if forward else _clamp(stop, -1, n - 1)
        picked = np.arange(start, stop, stride, dtype=np.int64)
        if picked.size == 0:
            raise node_error(
                node,
                f"axis {axis} selects no elements (begin {start}, end {stop}, stride {stride})",
            )
        indices.append(picked)
        shrink.append(is_shrunk)
    return SlicePlan(tuple(indices), tuple(shrink))


@shape_rule("STRIDED_SLICE")
def strided_slice_shape(node: Node, graph: Graph) -> list[Shape]:
    """STRIDED_SLICE: the number of elements each axis selects, shrunk axes dropped."""
    return [strided_slice_plan(node, graph).output_shape]


# --------------------------------------------------------------------------------------------
# QUANTIZE, DEQUANTIZE


@shape_rule("QUANTIZE", "DEQUANTIZE")
def same_shape(node: Node, graph: Graph) -> list[Shape]:
    """QUANTIZE and DEQUANTIZE keep the input shape."""
    if len(node.inputs) != 1:
        raise node_error(node, f"takes 1 input, got {len(node.inputs)}")
    return [input_tensor(node, graph, 0, "input").shape]
