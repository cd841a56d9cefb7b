"""Pure-Python reference twin of `_tones.pyx`: the cadenced multi-frequency tone generator.

Sample t of an "on" step (t counted from the step's start) is the rounded sum over components of
`amp * sin(2*pi * fmod(freq * t, 8000) / 8000)`; the same libm operations in the same order as the
compiled kernel, so both give identical samples.
"""

from __future__ import annotations

import math

import numpy as np

RATE = 8000.0
MAX_COMPONENTS = 4


class ToneTx:
    """Plays steps (on_samples, off_samples, [(freq, amplitude), ...]) once or repeatedly.

    `on_samples < 0` means "on forever" (a continuous tone).
    """

    def __init__(
        self,
        on: list[int],
        off: list[int],
        freqs: list[list[float]],
        amps: list[list[float]],
        repeat: bool,
    ) -> None:
        self._on = list(on)
        self._off = list(off)
        self._freqs = [list(f) for f in freqs]
        self._amps = [list(a) for a in amps]
        self._repeat = bool(repeat)
        self._step = 0
        self._pos = 0
        self._done = len(self._on) == 0

    @property
    def done(self) -> bool:
        return self._done

    def generate(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        i = 0
        while i < n and not self._done:
            on, off = self._on[self._step], self._off[self._step]
            if on < 0 or self._pos < on:
                t = self._pos
                v = 0.0
                for f, a in zip(self._freqs[self._step], self._amps[self._step], strict=True):
                    v += a * math.sin(2.0 * math.pi * math.fmod(f * t, RATE) / RATE)
                r = round(v)
                out[i] = 32767 if r > 32767 else (-32767 if r < -32767 else r)
                i += 1
                self._pos += 1
                continue
            if self._pos < on + off:
                take = min(n - i, on + off - self._pos)
                i += take  # already zero
                self._pos += take
                continue
            self._pos = 0
            self._step += 1
            if self._step == len(self._on):
                if self._repeat:
                    self._step = 0
                else:
                    self._done = True
        if not self._done and self._step < len(self._on):
            on, off = self._on[self._step], self._off[self._step]
            if on >= 0 and self._pos >= on + off:
                self._pos = 0
                self._step += 1
                if self._step == len(self._on):
                    if self._repeat:
                        self._step = 0
                    else:
                        self._done = True
        return out
