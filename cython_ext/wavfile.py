"""WAV files as the box uses them: 8 kHz mono, 16-bit linear, µ-law or A-law.

Python's `wave` module reads only linear PCM, so the RIFF chunks are walked here. Errors are
`WavError` with the file name and what is wrong, so a tool can print one line and go on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
FORMAT_PCM, FORMAT_ALAW, FORMAT_ULAW, FORMAT_EXTENSIBLE = 1, 6, 7, 0xFFFE
_FORMAT_NAMES = {FORMAT_PCM: "linear", FORMAT_ALAW: "alaw", FORMAT_ULAW: "ulaw"}


class WavError(ValueError):
    """A WAV file the box cannot use; the message names the file."""


@dataclass(frozen=True)
class WavInfo:
    encoding: str  # "linear", "ulaw" or "alaw"
    rate: int
    channels: int
    frames: int


def read_wav(path: str | Path, *, rate: int = RATE) -> np.ndarray:
    """Read a mono WAV file at `rate` as signed 16-bit linear samples (G.711 is decoded)."""
    samples, _ = read_wav_info(path, rate=rate)
    return samples


def read_wav_info(path: str | Path, *, rate: int = RATE) -> tuple[np.ndarray, WavInfo]:
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WavError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise WavError(f"{name}: truncated fmt chunk")
            tag, channels, srate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, srate, bits)
        elif cid == b"data":
            payload = body  # a short last chunk is read as far as it goes
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise WavError(f"{name}: no fmt chunk")
    if payload is None:
        raise WavError(f"{name}: no data chunk")
    tag, channels, srate, bits = fmt
    if channels != 1:
        raise WavError(f"{name}: {channels} channels; only mono is supported")
    if srate != rate:
        raise WavError(f"{name}: sample rate {srate} Hz; only {rate} Hz is supported")
    if tag == FORMAT_PCM and bits == 16:
        samples = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
    elif tag in (FORMAT_ULAW, FORMAT_ALAW) and bits == 8:
        from cython_ext import g711

        decode = g711.ulaw_to_linear if tag == FORMAT_ULAW else g711.alaw_to_linear
        samples = decode(payload)
    else:
        raise WavError(
            f"{name}: unsupported encoding (format tag {tag}, {bits} bits); "
            "use 16-bit linear, µ-law or A-law"
        )
    info = WavInfo(_FORMAT_NAMES[tag], srate, channels, len(samples))
    return samples, info


def write_wav(
    path: str | Path, samples: np.ndarray, *, rate: int = RATE, encoding: str = "linear"
) -> None:
    """Write mono samples (int16) as 16-bit linear, µ-law or A-law WAV."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        samples = np.clip(np.rint(samples), -32768, 32767).astype(np.int16)
    if encoding == "linear":
        tag, bits, payload = FORMAT_PCM, 16, samples.astype("<i2").tobytes()
    elif encoding in ("ulaw", "alaw"):
        from cython_ext import g711

        encode = g711.linear_to_ulaw if encoding == "ulaw" else g711.linear_to_alaw
        tag, bits, payload = (
            (FORMAT_ULAW if encoding == "ulaw" else FORMAT_ALAW),
            8,
            encode(samples),
        )
    else:
        raise ValueError(f"unknown WAV encoding {encoding!r}")
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    if tag != FORMAT_PCM:
        fmt += struct.pack("<H", 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += (
        b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")
    )
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
