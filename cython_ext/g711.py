"""G.711 µ-law and A-law companding (ITU-T G.711), both directions, bit-exact.

The box's audio is 16-bit linear; G.711 happens at the card edge and in WAV files. The rules are
those of ITU-T G.711 Tables 1/2 as coded by the ITU-T G.191 software tools: a negative sample
takes the one's complement before quantising, so `x` and `~x` give mirror codes (µ-law and A-law
alike). Encoding takes int16 samples; decoding takes `bytes` or a uint8 array.

Every function takes `impl` ("compiled" or "reference"; default: the process's choice, see
`cython_ext.implementation()`).
"""

from __future__ import annotations

import numpy as np

from cython_ext import kernel

__all__ = ["G711Error", "alaw_to_linear", "linear_to_alaw", "linear_to_ulaw", "ulaw_to_linear"]


class G711Error(ValueError):
    """Samples or codes that cannot be companded (wrong type or out of range)."""


def _as_int16(samples: np.ndarray) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        return np.ascontiguousarray(arr.reshape(-1))
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise G711Error(f"G.711 encoding needs int16 samples, got {arr.dtype}")
    flat = arr.reshape(-1)
    if flat.size and (flat.min() < -32768 or flat.max() > 32767):
        raise G711Error("G.711 encoding: sample out of the 16-bit range")
    return np.ascontiguousarray(flat, dtype=np.int16)


def _as_codes(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(data), dtype=np.uint8)
    arr = np.asarray(data)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr.reshape(-1))
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise G711Error(f"G.711 decoding needs 8-bit codes, got {arr.dtype}")
    flat = arr.reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() > 255):
        raise G711Error("G.711 decoding: code out of the range 0..255")
    return np.ascontiguousarray(flat, dtype=np.uint8)


def linear_to_ulaw(samples: np.ndarray, impl: str | None = None) -> bytes:
    """Encode int16 samples to µ-law, one byte per sample."""
    return bytes(kernel("g711", impl).linear_to_ulaw(_as_int16(samples)))


def ulaw_to_linear(data: bytes | np.ndarray, impl: str | None = None) -> np.ndarray:
    """Decode µ-law bytes (or a uint8 array) to int16 samples."""
    return np.asarray(kernel("g711", impl).ulaw_to_linear(_as_codes(data)), dtype=np.int16)


def linear_to_alaw(samples: np.ndarray, impl: str | None = None) -> bytes:
    """Encode int16 samples to A-law (even bits inverted, as sent on the line)."""
    return bytes(kernel("g711", impl).linear_to_alaw(_as_int16(samples)))


def alaw_to_linear(data: bytes | np.ndarray, impl: str | None = None) -> np.ndarray:
    """Decode A-law bytes (or a uint8 array) to int16 samples."""
    return np.asarray(kernel("g711", impl).alaw_to_linear(_as_codes(data)), dtype=np.int16)
