"""spandsp's DTMF receiver and generator through ctypes (Debian libspandsp2 / libspandsp-dev).

The independent peer for the DTMF tests and the benchmark. A missing library raises OSError:
tests fail, never skip.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

_lib: ctypes.CDLL | None = None
REPORT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int)


def lib() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = ctypes.CDLL(ctypes.util.find_library("spandsp") or "libspandsp.so.2")
        _lib.dtmf_rx_init.restype = ctypes.c_void_p
        _lib.dtmf_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        _lib.dtmf_rx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        _lib.dtmf_rx_get.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        _lib.dtmf_rx_free.argtypes = [ctypes.c_void_p]
        _lib.dtmf_rx_set_realtime_callback.argtypes = [ctypes.c_void_p, REPORT, ctypes.c_void_p]
        _lib.dtmf_tx_init.restype = ctypes.c_void_p
        _lib.dtmf_tx_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        _lib.dtmf_tx_put.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        _lib.dtmf_tx_set_level.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        _lib.dtmf_tx_set_timing.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        _lib.dtmf_tx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        _lib.dtmf_tx.restype = ctypes.c_int
        _lib.dtmf_tx_free.argtypes = [ctypes.c_void_p]
    return _lib


class SpandspDtmfRx:
    """spandsp `dtmf_rx` with default parameters; `events` holds (digit, start, end) in samples."""

    def __init__(self) -> None:
        self._l = lib()
        self._s = self._l.dtmf_rx_init(None, None, None)
        self.events: list[tuple[str, int, int]] = []
        self._t = 0
        self._down: tuple[str, int] | None = None
        self._cb = REPORT(self._report)
        self._l.dtmf_rx_set_realtime_callback(self._s, self._cb, None)

    def _report(self, _user: int, code: int, _level: int, _delay: int) -> None:
        if code:
            self._down = (chr(code), self._t)
        elif self._down is not None:
            self.events.append((self._down[0], self._down[1], self._t))
            self._down = None

    def process(self, x: np.ndarray, block: int = 160) -> None:
        x = np.ascontiguousarray(x, dtype=np.int16)
        for i in range(0, len(x), block):
            part = x[i : i + block]
            self._t = i + len(part)  # spandsp reports at the end of the block that decides
            self._l.dtmf_rx(self._s, part.ctypes.data, len(part))

    def digits(self) -> str:
        buf = ctypes.create_string_buffer(256)
        n = self._l.dtmf_rx_get(self._s, buf, 255)
        return buf.raw[:n].decode()

    def close(self) -> None:
        self._l.dtmf_rx_free(self._s)


def spandsp_detect(x: np.ndarray) -> list[tuple[str, int, int]]:
    rx = SpandspDtmfRx()
    rx.process(np.concatenate([np.asarray(x, dtype=np.int16), np.zeros(800, dtype=np.int16)]))
    rx.close()
    return rx.events


def spandsp_generate(
    digits: str, level: int = -10, twist: int = 0, on_ms: int = 50, off_ms: int = 55
) -> np.ndarray:
    """spandsp's `dtmf_tx` output for `digits` (level of the low tone; high = level + twist)."""
    sp = lib()
    s = sp.dtmf_tx_init(None, None, None)
    sp.dtmf_tx_set_level(s, level, twist)
    sp.dtmf_tx_set_timing(s, on_ms, off_ms)
    sp.dtmf_tx_put(s, digits.encode(), len(digits))
    out = []
    buf = np.zeros(160, dtype=np.int16)
    while True:
        n = sp.dtmf_tx(s, buf.ctypes.data, 160)
        if n <= 0:
            break
        out.append(buf[:n].copy())
    sp.dtmf_tx_free(s)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)
