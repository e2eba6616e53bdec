"""Scratch and kernel-sum sizes, asked of the CMSIS-NN library itself at generation time.

The generator needs every layer's buffer size before it can fix ``MODEL_ARENA_SIZE``. Rather
than mirroring each ``*_get_buffer_size`` rule in Python, :class:`SizeOracle` calls the
library's own functions through ctypes on a host build of it (``build.host.size_oracle``).
Arm's CMSIS-NN also exports ``_dsp`` and ``_mve`` variants of most of them for host-side
planning: an oracle made for a core (:data:`VARIANTS_BY_TARGET`) asks that core's variant
(the plain function where the library exports no such variant: its answer on the host is the
plain-C one, which is also what the core's build returns for those functions); an oracle made
for no particular core takes the largest answer of all variants, so that one generated
project fits every core. The generated ``model_init`` asks the same functions again on the
target and refuses to start when the reserved space is too small.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

from tinyabi.errors import BackendError
from tinyabi_cmsis_nn.codegen.layers import SizeQuery
from tinyabi_cmsis_nn.codegen.params import ConvParams, Dims, Tile, TransposeConvParams

#: Suffixes of the host-side variants of a ``*_get_buffer_size`` function in CMSIS-NN.
VARIANTS = ("", "_dsp", "_mve")
#: The variant that gives each target's sizes: plain C on the host, the DSP extension on
#: Cortex-M4, MVE (Helium) on Cortex-M55.
VARIANTS_BY_TARGET = {"host": "", "cortex-m4": "_dsp", "cortex-m55": "_mve"}
#: The ``*_get_buffer_size`` functions the generated layers ask (the oracle's library is built
#: from the sources that define these and their variants).
SIZE_FUNCTIONS = (
    "arm_convolve_1x1_s8_fast_get_buffer_size",
    "arm_convolve_s8_get_buffer_size",
    "arm_convolve_wrapper_s8_get_buffer_size",
    "arm_depthwise_conv_wrapper_s8_get_buffer_size",
    "arm_fully_connected_s8_get_buffer_size",
    "arm_avgpool_s8_get_buffer_size",
    "arm_convolve_wrapper_s16_get_buffer_size",
    "arm_depthwise_conv_wrapper_s16_get_buffer_size",
    "arm_fully_connected_s16_get_buffer_size",
    "arm_avgpool_s16_get_buffer_size",
    "arm_transpose_conv_s8_get_buffer_size",
)


class CDims(ctypes.Structure):
    """``cmsis_nn_dims``."""

    _fields_ = [
        ("n", ctypes.c_int32),
        ("h", ctypes.c_int32),
        ("w", ctypes.c_int32),
        ("c", ctypes.c_int32),
    ]


class CTile(ctypes.Structure):
    """``cmsis_nn_tile`` (width first)."""

    _fields_ = [("w", ctypes.c_int32), ("h", ctypes.c_int32)]


class CActivation(ctypes.Structure):
    """``cmsis_nn_activation``."""

    _fields_ = [("min", ctypes.c_int32), ("max", ctypes.c_int32)]


class CConvParams(ctypes.Structure):
    """``cmsis_nn_conv_params``."""

    _fields_ = [
        ("input_offset", ctypes.c_int32),
        ("output_offset", ctypes.c_int32),
        ("stride", CTile),
        ("padding", CTile),
        ("dilation", CTile),
        ("activation", CActivation),
    ]


class CDwConvParams(ctypes.Structure):
    """``cmsis_nn_dw_conv_params``."""

    _fields_ = [
        ("input_offset", ctypes.c_int32),
        ("output_offset", ctypes.c_int32),
        ("ch_mult", ctypes.c_int32),
        ("stride", CTile),
        ("padding", CTile),
        ("dilation", CTile),
        ("activation", CActivation),
    ]


class CTransposeConvParams(ctypes.Structure):
    """``cmsis_nn_transpose_conv_params``."""

    _fields_ = [
        ("input_offset", ctypes.c_int32),
        ("output_offset", ctypes.c_int32),
        ("stride", CTile),
        ("padding", CTile),
        ("padding_offsets", CTile),
        ("dilation", CTile),
        ("activation", CActivation),
    ]


def _transpose(p: TransposeConvParams) -> CTransposeConvParams:
    return CTransposeConvParams(
        p.input_offset,
        p.output_offset,
        _tile(p.stride),
        _tile(p.padding),
        _tile(p.padding_offsets),
        CTile(1, 1),
        CActivation(p.act_min, p.act_max),
    )


def _tile(t: Tile) -> CTile:
    return CTile(t.w, t.h)


def _conv(p: ConvParams, depthwise: bool) -> ctypes.Structure:
    common = (_tile(p.stride), _tile(p.padding), _tile(p.dilation))
    act = CActivation(p.act_min, p.act_max)
    if depthwise:
        return CDwConvParams(p.input_offset, p.output_offset, p.ch_mult, *common, act)
    return CConvParams(p.input_offset, p.output_offset, *common, act)


def variant_of(target: str | None) -> str | None:
    """The size-function variant of ``target`` (``None``: every variant, the largest wins)."""
    if target is None:
        return None
    try:
        return VARIANTS_BY_TARGET[target]
    except KeyError:
        known = ", ".join(VARIANTS_BY_TARGET)
        raise BackendError(f"cmsis-nn: unknown target {target!r}; known: {known}") from None


class SizeOracle:
    """Asks a host build of the CMSIS-NN library for buffer sizes: of the ``variant``
    (``""``, ``"_dsp"``, ``"_mve"``) or, when ``variant`` is ``None``, of every variant."""

    def __init__(self, shared_library: Path, variant: str | None = None) -> None:
        self.path = shared_library
        self.variant = variant
        self._lib = ctypes.CDLL(str(shared_library))

    def for_variant(self, variant: str | None) -> SizeOracle:
        """The same library asked for another variant."""
        return SizeOracle(self.path, variant)

    def size(self, query: SizeQuery) -> int:
        """The size ``query.function`` gives for the oracle's variant, or the largest of all
        variants (bytes, >= 0)."""
        if query.fixed is not None:
            return query.fixed
        sizes = []
        suffixes: tuple[str, ...] = VARIANTS
        if self.variant is not None:
            exported = getattr(self._lib, query.function + self.variant, None) is not None
            suffixes = (self.variant if exported else "",)
        for suffix in suffixes:
            function = getattr(self._lib, query.function + suffix, None)
            if function is None:
                continue
            function.restype = ctypes.c_int32
            value = int(function(*self._arguments(query)))
            if value < 0:
                raise BackendError(
                    f"cmsis-nn: {query.function}{suffix} refused the layer's dimensions "
                    f"(returned {value})"
                )
            sizes.append(value)
        if not sizes:
            raise BackendError(f"cmsis-nn: the library {self.path} has no {query.function}")
        return max(sizes)

    def _arguments(self, query: SizeQuery) -> Sequence[object]:
        depthwise = query.function.startswith("arm_depthwise")
        args: list[object] = []
        for value in query.py_args:
            if isinstance(value, Dims):
                args.append(ctypes.byref(CDims(value.n, value.h, value.w, value.c)))
            elif isinstance(value, ConvParams):
                args.append(ctypes.byref(_conv(value, depthwise)))
            elif isinstance(value, TransposeConvParams):
                args.append(ctypes.byref(_transpose(value)))
            elif isinstance(value, int):
                args.append(ctypes.c_int(value))
            else:  # pragma: no cover - the layers only use the types above
                raise TypeError(f"cannot pass {value!r} to {query.function}")
        return args
