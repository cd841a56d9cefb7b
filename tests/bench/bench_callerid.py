"""Caller ID receiver and call-progress detector: callbox vs spandsp, side by side.

Run: `python3 tests/bench/bench_callerid.py` (from the repository root; the compiled kernels must
be built). spandsp comes from Debian's libspandsp (`libspandsp2`/`libspandsp-dev`), called
through ctypes: `adsi_rx` with ADSI_STANDARD_CLASS (Bell 202) or ADSI_STANDARD_CLIP (V.23).

Prints:
1. throughput: channels per core in real time (seconds of audio per CPU second), 20 ms blocks,
   the same audio (caller-ID bursts between silence and speech) for both, and the ratio;
2. sensitivity: the lowest level (dBm0, 1 dB steps) at which each decodes every trial;
3. SNR sweep: messages decoded out of N at each SNR (white noise over 0-4 kHz), with the
   sender's clock 1 % off and a 6 dB line tilt (see tests/dsp/callerid_line.py);
4. the cost of the call-progress detector per 20 ms block.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "dsp")]

from callerid_line import add_noise, tilt, to_int16  # noqa: E402

from cython_ext import callerid as cid  # noqa: E402
from cython_ext.cpt import CallProgressDetector  # noqa: E402
from cython_ext.fsk import FREQUENCIES, async_bits, fsk_modulate  # noqa: E402

RATE = 8000
BLOCK = 160
ADSI_STANDARD_CLASS, ADSI_STANDARD_CLIP = 1, 2
MESSAGE = cid.CallerIdMessage(number="6175551234", name="SMITH JOHN", datetime="11221430")
RAW = cid.encode_message(MESSAGE)

PUT_MSG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)


class SpandspAdsiRx:
    """spandsp's caller-ID receiver through ctypes; collects the messages it delivers."""

    def __init__(self, lib: ctypes.CDLL, standard: str) -> None:
        self.messages: list[bytes] = []
        self._cb = PUT_MSG(self._put)
        std = ADSI_STANDARD_CLASS if standard == "bell202" else ADSI_STANDARD_CLIP
        self._lib = lib
        self._s = lib.adsi_rx_init(None, std, self._cb, None)

    def _put(self, _user: int, msg: ctypes.POINTER(ctypes.c_uint8), length: int) -> None:  # type: ignore[valid-type]
        if length > 0:
            self.messages.append(bytes(msg[:length]))

    def process(self, block: np.ndarray) -> None:
        ptr = block.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
        self._lib.adsi_rx(self._s, ptr, len(block))

    def close(self) -> None:
        self._lib.adsi_rx_free(self._s)


def load_spandsp() -> ctypes.CDLL:
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    lib = ctypes.CDLL(name)
    lib.adsi_rx_init.restype = ctypes.c_void_p
    lib.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, PUT_MSG, ctypes.c_void_p]
    lib.adsi_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.adsi_rx_free.argtypes = [ctypes.c_void_p]
    return lib


def burst(standard: str, level: float, clock: float = 0.0) -> np.ndarray:
    bits = [0, 1] * 150 + [1] * 180 + async_bits(RAW) + [1] * 10
    sig = fsk_modulate(bits, standard, level_dbm0=level, clock_error=clock).astype(np.float64)
    return np.concatenate([np.zeros(1600), sig, np.zeros(1600)])


def ours_decodes(samples: np.ndarray, standard: str) -> bool:
    rx = cid.CallerIdReceiver(impl="compiled", standard=standard)
    got: list[cid.CallerIdMessage] = []
    for i in range(0, len(samples), BLOCK):
        got += rx.process(samples[i : i + BLOCK])
    return got == [MESSAGE]


def spandsp_decodes(lib: ctypes.CDLL, samples: np.ndarray, standard: str) -> bool:
    rx = SpandspAdsiRx(lib, standard)
    for i in range(0, len(samples), BLOCK):
        rx.process(np.ascontiguousarray(samples[i : i + BLOCK]))
    rx.close()
    return rx.messages == [RAW[:-1]] or rx.messages == [RAW]


def throughput(lib: ctypes.CDLL, standard: str) -> None:
    rng = np.random.default_rng(1)
    parts = []
    for _ in range(20):
        parts.append(burst(standard, float(rng.uniform(-30, -10))))
        parts.append(rng.normal(0, 300, 3 * RATE))  # line noise / talk between bursts
    audio = to_int16(np.concatenate(parts))
    blocks = [np.ascontiguousarray(audio[i : i + BLOCK]) for i in range(0, len(audio), BLOCK)]
    seconds = len(audio) / RATE

    def run_ours() -> float:
        rx = cid.CallerIdReceiver(impl="compiled", standard=standard)
        t = time.process_time()
        for b in blocks:
            rx.process(b)
        return time.process_time() - t

    def run_spandsp() -> float:
        rx = SpandspAdsiRx(lib, standard)
        t = time.process_time()
        for b in blocks:
            rx.process(b)
        dt = time.process_time() - t
        rx.close()
        return dt

    ours = min(run_ours() for _ in range(3))
    theirs = min(run_spandsp() for _ in range(3))
    print(
        f"  {standard:8s} callbox {seconds / ours:8.0f} ch/core   spandsp {seconds / theirs:8.0f}"
        f" ch/core   ratio {theirs / ours:5.2f}x"
    )


def sensitivity(lib: ctypes.CDLL, standard: str) -> None:
    lowest: dict[str, int | None] = {"callbox": None, "spandsp": None}
    alive = {"callbox": True, "spandsp": True}
    for level in range(-4, -61, -1):
        sigs = [to_int16(burst(standard, level, c)) for c in (-0.01, 0.01)]
        if alive["callbox"]:
            alive["callbox"] = all(ours_decodes(x, standard) for x in sigs)
        if alive["spandsp"]:
            alive["spandsp"] = all(spandsp_decodes(lib, x, standard) for x in sigs)
        for name, ok in alive.items():
            if ok:
                lowest[name] = level
        if not any(alive.values()):
            break
    print(
        f"  {standard:8s} lowest level decoded (every level from -4 down to it, clock ±1 %): "
        f"callbox {lowest['callbox']} dBm0, spandsp {lowest['spandsp']} dBm0"
    )


def snr_sweep(lib: ctypes.CDLL, standard: str, trials: int) -> None:
    mark, space = FREQUENCIES[standard]
    print(
        f"  {standard}: SNR dB  callbox  spandsp   (of {trials}; -26 dBm0, clock ±1 %, tilt ±6 dB)"
    )
    for snr in (20, 15, 12, 10, 8, 6):
        ours = theirs = 0
        for seed in range(trials):
            clock = 0.01 if seed % 2 else -0.01
            sig = tilt(burst(standard, -26.0, clock), 6.0 if seed % 4 < 2 else -6.0, mark, space)
            samples = to_int16(add_noise(sig, snr, -26.0, seed))
            ours += ours_decodes(samples, standard)
            theirs += spandsp_decodes(lib, samples, standard)
        print(f"           {snr:4d}    {ours:4d}     {theirs:4d}")


def cpt_cost() -> None:
    rng = np.random.default_rng(2)
    audio = to_int16(rng.normal(0, 2000, 60 * RATE))
    blocks = [np.ascontiguousarray(audio[i : i + BLOCK]) for i in range(0, len(audio), BLOCK)]
    for impl in ("compiled", "reference"):
        det = CallProgressDetector("us", impl=impl)
        use = blocks if impl == "compiled" else blocks[:500]
        t = time.process_time()
        for b in use:
            det.process(b)
        dt = time.process_time() - t
        print(f"  call-progress detector ({impl}): {dt / len(use) * 1e6:7.1f} µs per 20 ms block")


def main() -> int:
    lib = load_spandsp()
    print("caller ID receiver throughput (20 ms blocks, same audio):")
    for standard in ("bell202", "v23"):
        throughput(lib, standard)
    print("sensitivity:")
    for standard in ("bell202", "v23"):
        sensitivity(lib, standard)
    print("noise:")
    for standard in ("bell202", "v23"):
        snr_sweep(lib, standard, trials=20)
    print("call progress:")
    cpt_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
