"""Reference twin of `_cpt.pyx`: the call-progress tone classifier in pure Python.

Same class, methods and arithmetic order as the compiled kernel; see `cython_ext/cpt.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cython_ext.levels import RMS_0DBM0

RATE = 8000
SUB = 80  # sub-block, and the hop between decisions: 10 ms
NSUB = 4  # sub-blocks per analysis window: 320 samples, 40 ms (25 Hz resolution)
WIN = SUB * NSUB
MAX_FREQS = 32
MAX_CLASSES = 32
SILENCE = 0
OTHER = 1
TWO_PI = 2.0 * math.pi


def power_for(dbm0: float) -> float:
    """Mean-square value of a signal at `dbm0`."""
    return RMS_0DBM0 * RMS_0DBM0 * 10.0 ** (dbm0 / 10.0)


class CptAnalyzer:
    """Classifies each 40 ms window (every 10 ms) as silence, "other" (energy that is no known
    tone: speech, music, noise) or one of the configured tone classes (one to three frequencies
    given as indices into `freqs`, -1 for none), and reports each run of one class as
    `(class, start, end)` in samples when it ends.

    Class 0 is silence, 1 "other", 2 + i the i-th entry of `classes`.
    """

    def __init__(
        self,
        freqs: Sequence[float],
        classes: Sequence[tuple[int, int, int]],
        silence_dbm0: float = -45.0,
        tone_dbm0: float = -42.0,
        purity: float = 0.75,
        twist_db: float = 10.0,
    ) -> None:
        if not 0 < len(freqs) <= MAX_FREQS or not 0 < len(classes) <= MAX_CLASSES:
            raise ValueError("CptAnalyzer: 1..32 frequencies and 1..32 classes")
        self._nf = len(freqs)
        self._w = [TWO_PI * float(f) / RATE for f in freqs]
        self._coef = [2.0 * math.cos(w) for w in self._w]
        self._ca = [int(c[0]) for c in classes]
        self._cb = [int(c[1]) for c in classes]
        self._cc = [int(c[2]) for c in classes]
        for a, b, c in zip(self._ca, self._cb, self._cc, strict=True):
            if not 0 <= a < self._nf or not -1 <= b < self._nf or not -1 <= c < self._nf:
                raise ValueError("CptAnalyzer: class refers to an unknown frequency")
            if c >= 0 and b < 0:
                raise ValueError("CptAnalyzer: a class's frequencies come first, then -1")
        self._silence = power_for(silence_dbm0) * WIN
        self._tone = power_for(tone_dbm0) * WIN
        self._purity = purity
        self._twist = 10.0 ** (-twist_db / 10.0)
        self.reset()

    def reset(self) -> None:
        nf = self._nf
        self.position = 0
        self._n = 0  # samples in the current sub-block
        self._s1 = [0.0] * nf
        self._s2 = [0.0] * nf
        self._energy = 0.0
        self._phase = [0.0] * nf  # w * (start of the current sub-block), mod 2 pi
        self._xr = [[0.0] * nf for _ in range(NSUB)]
        self._xi = [[0.0] * nf for _ in range(NSUB)]
        self._e = [0.0] * NSUB
        self._slot = 0
        self._filled = 0
        self.current_class = SILENCE
        self.current_start = 0
        self._run_hops = 0
        self.powers = [0.0] * nf  # last window's tone powers (for tests and tuning)
        self.total = 0.0

    def process(self, block: np.ndarray) -> list[tuple[int, int, int]]:
        events: list[tuple[int, int, int]] = []
        nf = self._nf
        coef = self._coef
        s1 = self._s1
        s2 = self._s2
        for xs in np.asarray(block, dtype=np.int16).tolist():
            x = float(xs)
            for k in range(nf):
                s0 = x + coef[k] * s1[k] - s2[k]
                s2[k] = s1[k]
                s1[k] = s0
            self._energy += x * x
            self._n += 1
            self.position += 1
            if self._n == SUB:
                self._end_sub_block(events)
        return events

    def _end_sub_block(self, events: list[tuple[int, int, int]]) -> None:
        nf = self._nf
        slot = self._slot
        for k in range(nf):
            w = self._w[k]
            # sum x[m] e^{-jw m} over the sub-block = e^{-jw(N-1)} (s1 - e^{-jw} s2)
            yr = self._s1[k] - math.cos(w) * self._s2[k]
            yi = math.sin(w) * self._s2[k]
            ph = self._phase[k] + w * (SUB - 1)
            c = math.cos(ph)
            s = math.sin(ph)
            # multiply by e^{-j ph}: absolute phase, so sub-blocks add coherently
            self._xr[slot][k] = yr * c + yi * s
            self._xi[slot][k] = yi * c - yr * s
            self._phase[k] = math.fmod(self._phase[k] + w * SUB, TWO_PI)
            self._s1[k] = 0.0
            self._s2[k] = 0.0
        self._e[slot] = self._energy
        self._energy = 0.0
        self._n = 0
        self._slot = (slot + 1) % NSUB
        if self._filled < NSUB:
            self._filled += 1
            if self._filled < NSUB:
                return
        total = self._e[0] + self._e[1] + self._e[2] + self._e[3]
        for k in range(nf):
            re = self._xr[0][k] + self._xr[1][k] + self._xr[2][k] + self._xr[3][k]
            im = self._xi[0][k] + self._xi[1][k] + self._xi[2][k] + self._xi[3][k]
            self.powers[k] = 2.0 * (re * re + im * im) / WIN
        self.total = total
        cls = self._classify(total)
        window_start = self.position - WIN
        if cls != self.current_class:
            if self._run_hops > 0:
                events.append(
                    (self.current_class, self.current_start, window_start + WIN - 2 * SUB)
                )
            self.current_class = cls
            self.current_start = window_start + SUB if window_start > 0 else 0
            self._run_hops = 0
        self._run_hops += 1

    def _classify(self, total: float) -> int:
        if total < self._silence:
            return SILENCE
        best = OTHER
        best_purity = self._purity
        p = self.powers
        for c in range(len(self._ca)):
            pa = p[self._ca[c]]
            b = self._cb[c]
            if b >= 0:
                pb = p[b]
                cc = self._cc[c]
                pc = p[cc] if cc >= 0 else pb
                strongest = max(pa, pb, pc)
                floor = self._twist * strongest
                if pa < floor or pb < floor or pc < floor:
                    continue
                tone = pa + pb + (pc if cc >= 0 else 0.0)
            else:
                tone = pa
            if tone < self._tone:
                continue
            purity = tone / total
            if purity > best_purity:
                best_purity = purity
                best = c + 2
        return best
