"""One-node models of the signal library's custom operators (``tflite.custom.SignalWindow``...),
which TFLM's Python interpreter registers beside its builtins.

Each form lays out one operator as TFLM's kernels read it: the data operand first, constant
tables after it, and the attributes as the custom options, a flexbuffer map (the kernels read
its values in key order). The attribute values are the kind an audio front end uses (a 16-point
FFT, four filterbank channels). :data:`SIGNAL_KEYS` gives each form's *home* type key, the types
real models give it; the survey tries the types around it (:func:`signal_candidate_keys`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from flatbuffers import flexbuffers

from tinyabi.ir import GraphBuilder
from tinyabi_tflm.singleop import TYPE_CODES

#: An operand's element type and quantization (as in :mod:`tinyabi_tflm.singleop`).
Typed = tuple[str, Any]

#: FFT length and filterbank channels of the one-node models.
FFT = 16
CHANNELS = 4
#: Entries of PCAN's gain lookup table (4 x 32 - 3, the table TFLM's PCAN reads).
PCAN_LUT = 125


def custom_options(**attrs: Any) -> bytes:
    """The custom options of a signal operator: its attributes as a flexbuffer map."""
    return bytes(flexbuffers.Dumps(attrs))


def _node(b: GraphBuilder, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
    b.node(op, inputs, outputs, custom_options=custom_options(**attrs))


def _window(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (FFT,))
    weights = b.const("weights", np.full(FFT, 1 << 11).astype(x[0]))
    _node(b, op, [xs, weights], [b.tensor("output", y[0], (FFT,))], shift=12)


def _fft_auto_scale(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (FFT,))
    outputs = [b.tensor("output", y[0], (FFT,)), b.tensor("scale_bits", "int32", ())]
    b.node(op, [xs], outputs)


def _rfft(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (FFT,))
    out = b.tensor("output", y[0], (FFT + 2,))
    _node(b, op, [xs], [out], T=TYPE_CODES[x[0]], fft_length=FFT)


def _irfft(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (FFT + 2,))
    out = b.tensor("output", y[0], (FFT,))
    _node(b, op, [xs], [out], T=TYPE_CODES[x[0]], fft_length=FFT)


def _energy(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (FFT + 2,))
    out = b.tensor("output", y[0], (FFT // 2 + 1,))
    _node(b, op, [xs], [out], end_index=FFT // 2, start_index=1)


def filter_bank_tables(b: GraphBuilder, channels: int = CHANNELS) -> list[str]:
    """Constant tables of a triangular filterbank over bins 1.. (channel 0 is TFLM's scratch):
    weights, unweights, channel frequency starts, channel weight starts, channel widths."""
    width = 2
    starts = np.arange(1, channels + 2, dtype=np.int16)
    weights = np.tile(np.array([1 << 11, 1 << 12], np.int16), channels + 1)
    return [
        b.const("weights", weights),
        b.const("unweights", ((1 << 12) - weights).astype(np.int16)),
        b.const("channel_frequency_starts", starts),
        b.const("channel_weight_starts", (np.arange(channels + 1) * width).astype(np.int16)),
        b.const("channel_widths", np.full(channels + 1, width, np.int16)),
    ]


def _filter_bank(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (FFT // 2 + 1,))
    out = b.tensor("output", y[0], (CHANNELS,))
    _node(b, op, [xs, *filter_bank_tables(b)], [out], num_channels=CHANNELS)


def _filter_bank_square_root(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (CHANNELS,))
    scale_bits = b.const("scale_bits", np.array(0, np.int32))
    b.node(op, [xs, scale_bits], [b.tensor("output", y[0], (CHANNELS,))])


def _filter_bank_log(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (CHANNELS,))
    out = b.tensor("output", y[0], (CHANNELS,))
    _node(b, op, [xs], [out], input_correction_bits=3, output_scale=1600)


def _spectral_subtraction(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (CHANNELS,))
    outputs = [b.tensor("output", y[0], (CHANNELS,)), b.tensor("noise", y[0], (CHANNELS,))]
    _node(
        b,
        op,
        [xs],
        outputs,
        alternate_one_minus_smoothing=15729,
        alternate_smoothing=655,
        clamping=False,
        min_signal_remaining=1638,
        num_channels=CHANNELS,
        one_minus_smoothing=15729,
        smoothing=655,
        smoothing_bits=10,
        spectral_subtraction_bits=14,
    )


def _pcan(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (CHANNELS,))
    noise = b.input("noise_estimate", x[0], (CHANNELS,))
    lut = b.const("gain_lut", np.linspace(0, 1 << 12, PCAN_LUT).astype(np.int16))
    _node(b, op, [xs, noise, lut], [b.tensor("output", y[0], (CHANNELS,))], snr_shift=6)


def _framer(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    step, size = 4, 8
    xs = b.input("input", x[0], (1, 2 * step))
    outputs = [b.tensor("output", y[0], (1, 2, size)), b.tensor("valid", "bool", ())]
    _node(b, op, [xs], outputs, frame_size=size, frame_step=step, prefill=False)


def _stacker(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (CHANNELS,))
    outputs = [b.tensor("output", y[0], (3 * CHANNELS,)), b.tensor("valid", "bool", ())]
    _node(
        b,
        op,
        [xs],
        outputs,
        num_channels=CHANNELS,
        stacker_left_context=1,
        stacker_right_context=1,
        stacker_step=1,
    )


def _delay(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    xs = b.input("input", x[0], (CHANNELS,))
    _node(b, op, [xs], [b.tensor("output", y[0], (CHANNELS,))], delay_length=3)


def _overlap_add(b: GraphBuilder, op: str, x: Typed, y: Typed) -> None:
    step, size = 4, 8
    xs = b.input("input", x[0], (2, size))
    out = b.tensor("output", y[0], (2 * step,))
    _node(b, op, [xs], [out], T=TYPE_CODES[x[0]], frame_step=step)


SignalBuilder = Callable[[GraphBuilder, str, Typed, Typed], None]

#: Form -> (builder, home type key).
SIGNAL_FORMS: dict[str, tuple[SignalBuilder, str]] = {
    "signal_window": (_window, "int16"),
    "signal_fft_auto_scale": (_fft_auto_scale, "int16"),
    "signal_rfft": (_rfft, "int16"),
    "signal_irfft": (_irfft, "int16"),
    "signal_energy": (_energy, "int16->uint32"),
    "signal_filter_bank": (_filter_bank, "uint32->uint64"),
    "signal_filter_bank_square_root": (_filter_bank_square_root, "uint64->uint32"),
    "signal_filter_bank_log": (_filter_bank_log, "uint32->int16"),
    "signal_filter_bank_spectral_subtraction": (_spectral_subtraction, "uint32"),
    "signal_pcan": (_pcan, "uint32"),
    "signal_framer": (_framer, "int16"),
    "signal_stacker": (_stacker, "int16"),
    "signal_delay": (_delay, "int16"),
    "signal_overlap_add": (_overlap_add, "int16"),
}


def signal_candidate_keys(form: str, types: tuple[str, ...]) -> list[str]:
    """The keys the survey tries for a signal form: every type on both sides, and every type on
    one side with the home type on the other."""
    source, _, target = SIGNAL_FORMS[form][1].partition("->")
    target = target or source
    pairs = [(t, t) for t in types] + [(source, t) for t in types] + [(t, target) for t in types]
    return list(dict.fromkeys(s if s == t else f"{s}->{t}" for s, t in pairs))
