"""A small PNG reader for tests: 8-bit, non-interlaced greyscale, RGB or RGBA (what headless
Chromium writes), decoded with zlib and struct only."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


@dataclass(frozen=True)
class Image:
    """Decoded pixels, ``height x width x channels`` ``uint8``."""

    pixels: np.ndarray

    @property
    def width(self) -> int:
        """Pixels across."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Pixels down."""
        return int(self.pixels.shape[0])

    def colours(self) -> set[tuple[int, ...]]:
        """The distinct colours (channel tuples) of the image."""
        flat = self.pixels.reshape(-1, self.pixels.shape[2])
        return {tuple(int(c) for c in row) for row in np.unique(flat, axis=0)}


def _paeth(line: bytearray, prev: bytes, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        line[i] = (line[i] + pred) & 0xFF


def _average(line: bytearray, prev: bytes, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        line[i] = (line[i] + ((a + prev[i]) >> 1)) & 0xFF


def read_png(data: bytes) -> Image:
    """Decode ``data``; ``ValueError`` for anything this reader does not handle."""
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG file")
    pos, chunks, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or interlace != 0 or colour_type not in CHANNELS:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
    bpp = CHANNELS[colour_type]
    stride = width * bpp
    raw = zlib.decompress(b"".join(chunks))
    if len(raw) != height * (stride + 1):
        raise ValueError("PNG data has the wrong length")
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for r in range(height):
        start = r * (stride + 1)
        kind = raw[start]
        row = np.frombuffer(raw, np.uint8, stride, start + 1)
        if kind == 0:
            line = row.copy()
        elif kind == 1:  # sub: a running sum along each channel
            line = (np.cumsum(row.reshape(width, bpp), axis=0, dtype=np.uint64) & 0xFF).astype(
                np.uint8
            )
            line = line.reshape(stride)
        elif kind == 2:  # up
            line = (row.astype(np.uint16) + prev).astype(np.uint8)
        elif kind in (3, 4):
            buffer = bytearray(row.tobytes())
            (_average if kind == 3 else _paeth)(buffer, prev.tobytes(), bpp)
            line = np.frombuffer(bytes(buffer), np.uint8)
        else:
            raise ValueError(f"bad PNG filter type {kind} in row {r}")
        out[r] = line
        prev = line
    return Image(out.reshape(height, width, bpp))
