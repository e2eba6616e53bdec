"""Lossless weight compression: zero runs or a 16-entry palette, whichever is smaller.

The NPU's weight decoder sits between the DMA engine and the weight buffer, so compressed
weights cost fewer DMA bytes (and less flash). Two codecs:

* **zero runs**: a token byte ``t``; ``t < 128`` is followed by ``t + 1`` literal bytes,
  ``t >= 128`` stands for ``t - 127`` zero bytes (1 to 128).
* **palette**: for blocks with at most 16 distinct values: one byte ``n``, the ``n`` palette
  bytes, then one 4-bit index per weight, two per byte (low nibble first).

:func:`compress` picks the smallest of raw, zero runs and palette; :func:`decompress` inverts it.
"""

from __future__ import annotations

import numpy as np

from tinyabi.errors import BackendError
from tinyabi_npu.stream import Codec

_MAX_LITERAL = 128
_MAX_ZEROS = 128


def _zero_runs(data: np.ndarray) -> bytes:
    raw = data.tobytes()
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        if raw[i] == 0:
            j = i
            while j < n and raw[j] == 0 and j - i < _MAX_ZEROS:
                j += 1
            out.append(127 + (j - i))
            i = j
            continue
        j = i
        # A literal ends at a run of two zeros (one zero is cheaper inside the literal).
        while (
            j < n and j - i < _MAX_LITERAL and not (raw[j] == 0 and j + 1 < n and raw[j + 1] == 0)
        ):
            j += 1
        out.append(j - i - 1)
        out += raw[i:j]
        i = j
    return bytes(out)


def _palette(data: np.ndarray) -> bytes | None:
    values, inverse = np.unique(data.view(np.uint8), return_inverse=True)
    if values.size > 16:
        return None
    index: np.ndarray = inverse.astype(np.uint8).reshape(-1)
    if index.size % 2:
        index = np.append(index, np.uint8(0))
    packed = index[0::2] | (index[1::2] << 4)
    return bytes([values.size]) + values.tobytes() + packed.tobytes()


def compress(data: np.ndarray, enabled: bool = True) -> tuple[Codec, bytes]:
    """The smallest encoding of the int8 block ``data``: (codec, stored bytes)."""
    raw = np.ascontiguousarray(data, dtype=np.int8).reshape(-1)
    best = (Codec.RAW, raw.tobytes())
    if not enabled:
        return best
    for codec, stored in ((Codec.ZERO_RUNS, _zero_runs(raw)), (Codec.PALETTE, _palette(raw))):
        if stored is not None and len(stored) < len(best[1]):
            best = (codec, stored)
    return best


def decompress(codec: Codec, stored: bytes, size: int) -> np.ndarray:
    """``size`` int8 weights from a stored block; :class:`BackendError` when it is corrupt."""
    if codec == Codec.RAW:
        out = np.frombuffer(stored, dtype=np.int8)
    elif codec == Codec.PALETTE:
        if not stored or len(stored) < 1 + stored[0] + (size + 1) // 2:
            raise BackendError("NPU weight block (palette) is truncated")
        n = stored[0]
        palette = np.frombuffer(stored, dtype=np.int8, count=n, offset=1)
        packed = np.frombuffer(stored, dtype=np.uint8, offset=1 + n)
        index = np.empty(packed.size * 2, dtype=np.uint8)
        index[0::2], index[1::2] = packed & 15, packed >> 4
        if size and int(index[:size].max()) >= n:
            raise BackendError("NPU weight block (palette) has an index beyond its palette")
        out = palette[index[:size]]
    else:
        out = _decode_zero_runs(stored, size)
    if out.size != size:
        raise BackendError(f"NPU weight block holds {out.size} weights, not {size}")
    return out


def _decode_zero_runs(stored: bytes, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=np.int8)
    src = np.frombuffer(stored, dtype=np.int8)
    i = pos = 0
    while i < len(stored):
        token = stored[i]
        i += 1
        if token >= 128:
            pos += token - 127
        else:
            count = token + 1
            if i + count > len(stored) or pos + count > size:
                raise BackendError("NPU weight block (zero runs) is corrupt")
            out[pos : pos + count] = src[i : i + count]
            i += count
            pos += count
        if pos > size:
            raise BackendError("NPU weight block (zero runs) is longer than its layer")
    return out[:pos] if pos != size else out
