"""Scratch and kernel-sum sizes, asked of the CMSIS-NN library itself at generation time.

The generator needs every layer's buffer size before it can fix ``MODEL_ARENA_SIZE``. Rather
than mirroring each ``*_get_buffer_size`` rule in Python, :class:`SizeOracle` calls the
library's own functions through ctypes on a host build of it (``build.host.build_library``).
When the library also has the ``_dsp`` and ``_mve`` variants the real CMSIS-NN provides for
host-side planning, the largest of the answers is taken, so one generated project fits every
core. The generated ``model_init`` asks the same functions again on the target and refuses
to start when the reserved space is too small.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

from tinyabi.errors import BackendError
from tinyabi_cmsis_nn.codegen.layers import SizeQuery
from tinyabi_cmsis_nn.codegen.params import ConvParams, Dims, Tile

#: Suffixes of the host-side variants of a ``*_get_buffer_size`` function in CMSIS-NN.
VARIANTS = ("", "_dsp", "_mve")


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


def _tile(t: Tile) -> CTile:
    return CTile(t.w, t.h)


def _conv(p: ConvParams, depthwise: bool) -> ctypes.Structure:
    common = (_tile(p.stride), _tile(p.padding), _tile(p.dilation))
    act = CActivation(p.act_min, p.act_max)
    if depthwise:
        return CDwConvParams(p.input_offset, p.output_offset, p.ch_mult, *common, act)
    return CConvParams(p.input_offset, p.output_offset, *common, act)


class SizeOracle:
    """Asks a host build of the CMSIS-NN library for buffer sizes."""

    def __init__(self, shared_library: Path) -> None:
        self.path = shared_library
        self._lib = ctypes.CDLL(str(shared_library))

    def size(self, query: SizeQuery) -> int:
        """The largest size any variant of ``query.function`` gives (bytes, >= 0)."""
        sizes = []
        for suffix in VARIANTS:
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
            elif isinstance(value, int):
                args.append(ctypes.c_int(value))
            else:  # pragma: no cover - the layers only use the types above
                raise TypeError(f"cannot pass {value!r} to {query.function}")
        return args
