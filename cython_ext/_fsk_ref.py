"""Reference twin of `_fsk.pyx`: the 1200-baud FSK receiver (Bell 202 and V.23) in pure Python.

Same class, same methods, same arithmetic (IEEE doubles in the same order) as the compiled
kernel, so the two give the same characters. See `cython_ext/fsk.py` for how it works.
"""

from __future__ import annotations

import math

import numpy as np

from cython_ext.levels import SINE_PEAK_0DBM0

RATE = 8000
BAUD = 1200
CENTER_HZ = 1700.0  # Bell 202 (1200/2200) and V.23 (1300/2100) share this centre
TABLE = 80  # 1700, 1200 and 1300 Hz all make whole cycles in 80 samples (10 ms)
LPF_HZ = 1100.0
BIT_WINDOW = 7  # moving-average length (one bit is 6.67 samples)
CARRIER_ALPHA = 1.0 / 64.0

EVENT_FRAMING_ERROR = -1
EVENT_CARRIER_LOST = -2

_COS = [math.cos(2.0 * math.pi * 17.0 * k / TABLE) for k in range(TABLE)]
_SIN = [math.sin(2.0 * math.pi * 17.0 * k / TABLE) for k in range(TABLE)]
_COS12 = [math.cos(2.0 * math.pi * 12.0 * k / TABLE) for k in range(TABLE)]
_SIN12 = [math.sin(2.0 * math.pi * 12.0 * k / TABLE) for k in range(TABLE)]
_COS13 = [math.cos(2.0 * math.pi * 13.0 * k / TABLE) for k in range(TABLE)]
_SIN13 = [math.sin(2.0 * math.pi * 13.0 * k / TABLE) for k in range(TABLE)]


def lowpass_sections() -> list[tuple[float, float, float, float, float]]:
    """4th-order Butterworth low-pass at LPF_HZ as two biquads (b0, b1, b2, a1, a2)."""
    sections = []
    w0 = 2.0 * math.pi * LPF_HZ / RATE
    for q in (0.54119610, 1.30656296):
        alpha = math.sin(w0) / (2.0 * q)
        cw = math.cos(w0)
        a0 = 1.0 + alpha
        b1 = (1.0 - cw) / a0
        sections.append((b1 / 2.0, b1, b1 / 2.0, -2.0 * cw / a0, (1.0 - alpha) / a0))
    return sections


def baseband_power(dbm0: float) -> float:
    """Power |z|^2 after mixing and low-pass of a sine at `dbm0` (half the amplitude, squared)."""
    amp = SINE_PEAK_0DBM0 * 10.0 ** (dbm0 / 20.0)
    return amp * amp / 4.0


class FskReceiver:
    """1200-baud FSK demodulator and async (start, 8 data, stop) character receiver.

    `process(block)` returns events `(value, position, lead_bits, e1200, e1300)`: `value` is a
    character (0..255), `EVENT_FRAMING_ERROR` or `EVENT_CARRIER_LOST`; `position` the sample
    index (since start) of the start bit; `lead_bits` the idle mark bits before it; `e1200` and
    `e1300` the energies at the two mark frequencies measured over that idle run.
    """

    def __init__(self, carrier_on_dbm0: float = -44.0, carrier_off_dbm0: float = -47.0) -> None:
        self._on = baseband_power(carrier_on_dbm0)
        self._off = baseband_power(carrier_off_dbm0)
        self._floor = self._off * 0.01
        first, second = lowpass_sections()
        self._b0, self._b1, self._b2, self._a1, self._a2 = first
        self._c0, self._c1, self._c2, self._d1, self._d2 = second
        self.reset()

    def reset(self) -> None:
        self.position = 0
        self._k = 0
        # biquad states (transposed direct form II): I path s1..s4, Q path t1..t4
        self._is1 = self._is2 = self._is3 = self._is4 = 0.0
        self._qs1 = self._qs2 = self._qs3 = self._qs4 = 0.0
        self._ip = self._qp = self._pp = 0.0
        self._power = 0.0
        self._carrier = False
        self._ring = [0.0] * BIT_WINDOW
        self._ring_pos = 0
        self._vsum = 0.0
        self._vprev = 0.0
        self._receiving = False
        self._idle = 0
        self._next_t = 0.0
        self._bitno = 0
        self._shift = 0
        self._start_pos = 0
        self._lead = 0
        self._c12 = self._s12 = self._c13 = self._s13 = 0.0
        self._clean = True
        self._e12 = self._e13 = 0.0
        self._lead_e12 = self._lead_e13 = 0.0

    @property
    def carrier(self) -> bool:
        return self._carrier

    def process(self, block: np.ndarray) -> list[tuple[int, int, int, float, float]]:
        events: list[tuple[int, int, int, float, float]] = []
        samples = np.asarray(block, dtype=np.int16)
        b0, b1, b2, a1, a2 = self._b0, self._b1, self._b2, self._a1, self._a2
        c0, c1, c2, d1, d2 = self._c0, self._c1, self._c2, self._d1, self._d2
        period = RATE / BAUD
        for xs in samples.tolist():
            x = float(xs)
            n = self.position
            k = self._k
            # mix down by 1700 Hz: z = x * exp(-j w0 n)
            xi = x * _COS[k]
            xq = -x * _SIN[k]
            # two biquads on each of I and Q
            y = b0 * xi + self._is1
            self._is1 = b1 * xi - a1 * y + self._is2
            self._is2 = b2 * xi - a2 * y
            i = c0 * y + self._is3
            self._is3 = c1 * y - d1 * i + self._is4
            self._is4 = c2 * y - d2 * i
            y = b0 * xq + self._qs1
            self._qs1 = b1 * xq - a1 * y + self._qs2
            self._qs2 = b2 * xq - a2 * y
            q = c0 * y + self._qs3
            self._qs3 = c1 * y - d1 * q + self._qs4
            self._qs4 = c2 * y - d2 * q
            p = i * i + q * q
            # frequency discriminator: Im(z[n] conj z[n-1]) / power, positive above 1700 Hz
            d = (q * self._ip - i * self._qp) / (p + self._pp + self._floor)
            self._ip, self._qp, self._pp = i, q, p
            # one-bit moving average, mark (low tone) positive
            self._vsum += d - self._ring[self._ring_pos]
            self._ring[self._ring_pos] = d
            self._ring_pos = (self._ring_pos + 1) % BIT_WINDOW
            v = -self._vsum
            self._power += (p - self._power) * CARRIER_ALPHA
            # mark-frequency correlators (standard identification), 10 ms blocks
            self._c12 += x * _COS12[k]
            self._s12 += x * _SIN12[k]
            self._c13 += x * _COS13[k]
            self._s13 += x * _SIN13[k]
            if self._carrier:
                if self._power < self._off:
                    self._carrier = False
                    self._receiving = False
                    events.append((EVENT_CARRIER_LOST, n, 0, 0.0, 0.0))
            elif self._power > self._on:
                self._carrier = True
                self._receiving = False
                self._idle = 0
                self._e12 = self._e13 = 0.0
                self._clean = False
            if not self._carrier:
                self._clean = False
            elif not self._receiving:
                if v > 0.0:
                    self._idle += 1
                else:
                    self._clean = False
                if self._vprev > 0.0 and v <= 0.0:
                    t_cross = (n - 1) + self._vprev / (self._vprev - v)
                    self._next_t = t_cross + 0.5 * period
                    self._start_pos = int(t_cross)
                    self._bitno = 0
                    self._shift = 0
                    self._receiving = True
            else:
                self._clean = False
                if self._next_t <= n:
                    frac = self._next_t - (n - 1)
                    val = self._vprev + (v - self._vprev) * frac
                    bitno = self._bitno
                    if bitno == 0:
                        if val > 0.0:
                            self._receiving = False  # not a start bit after all
                        else:
                            self._lead = self._idle
                            self._lead_e12, self._lead_e13 = self._e12, self._e13
                            self._e12 = self._e13 = 0.0
                    elif bitno <= 8:
                        if val > 0.0:
                            self._shift |= 1 << (bitno - 1)
                    else:
                        value = self._shift if val > 0.0 else EVENT_FRAMING_ERROR
                        events.append(
                            (
                                value,
                                self._start_pos,
                                (self._lead * BAUD) // RATE,
                                self._lead_e12,
                                self._lead_e13,
                            )
                        )
                        self._receiving = False
                        self._idle = 0
                    self._bitno = bitno + 1
                    self._next_t += period
            if k == TABLE - 1:
                if self._clean:
                    self._e12 += self._c12 * self._c12 + self._s12 * self._s12
                    self._e13 += self._c13 * self._c13 + self._s13 * self._s13
                self._c12 = self._s12 = self._c13 = self._s13 = 0.0
                self._clean = True
                self._k = 0
            else:
                self._k = k + 1
            self._vprev = v
            self.position = n + 1
        return events
