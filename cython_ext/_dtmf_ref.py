"""Pure-Python reference twin of `_dtmf.pyx`: the DTMF receiver and generator.

Same classes, methods and arithmetic order as the compiled kernel (see `dtmf.py` for the design);
numpy does the per-sub-block correlations. Blocks of any length are buffered into 40-sample
sub-blocks, so the result does not depend on how the signal is cut.
"""

from __future__ import annotations

import math

import numpy as np

RATE = 8000
SUB = 40  # sub-block (hop) length in samples: 5 ms
NSUB = 4  # sub-blocks per analysis window: 160 samples, 20 ms
WIN = SUB * NSUB
LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
FREQS = LOW + HIGH
KEYS = "123A456B789C*0#D"  # row = low tone, column = high tone

# Thresholds (see dtmf.py and cython_ext/README.md for where each number comes from).
RMS_0DBM0 = 32767.0 * 10.0 ** (-3.14 / 20.0) / math.sqrt(2.0)
MIN_TONE_POWER = RMS_0DBM0**2 * 10.0 ** (-38.0 / 10.0)  # per tone, -38 dBm0
FREQ_TOL = 0.025  # accept |offset| <= 2.5 %: midway between the 1.5 % accept and 3.5 % reject
TWIST_HIGH_MAX = 10.0 ** (6.0 / 10.0)  # high group may be up to 6 dB above the low group
TWIST_LOW_MAX = 10.0 ** (10.0 / 10.0)  # low group may be up to 10 dB above the high group
NEIGHBOUR_MAX = 10.0 ** (-10.0 / 10.0)  # other tones of a group at least 10 dB down
ENERGY_RATIO_MIN = 0.70  # the two tones carry at least 70 % of the window's energy
FILL_MIN = 0.6  # every sub-block holds at least 60 % of the energy of the fullest one
HARMONIC_F0_MIN = 110.0  # Hz: lowest voice pitch the harmonic check looks for
HARMONIC_RATIO_TOL = 0.01  # the two tones are harmonics k*F0 if their F0 estimates agree to 1 %
HARMONIC_MAX = 10.0 ** (-10.0 / 10.0)  # a neighbouring harmonic 10 dB below the weaker tone: voice
DETECT_WINDOWS = 3  # consecutive agreeing windows to detect a digit
GAP_WINDOWS = 8  # windows without the digit that end it (fewer are bridged)

_n = np.arange(SUB)
# Correlation tables: column k is the k-th tone; cos and sin (of -w n) interleaved as re/im.
_TAB_RE = np.cos(2.0 * np.pi * np.outer(_n, FREQS) / RATE)
_TAB_IM = -np.sin(2.0 * np.pi * np.outer(_n, FREQS) / RATE)
_W = 2.0 * np.pi * np.asarray(FREQS) / RATE
_ROT_C = [[math.cos(w * i * SUB) for i in range(NSUB)] for w in _W]
_ROT_S = [[-math.sin(w * i * SUB) for i in range(NSUB)] for w in _W]
_COS_TOL = [math.cos(FREQ_TOL * w * 2 * SUB) for w in _W]
_HANN = [0.5 - 0.5 * math.cos(2.0 * math.pi * (n + 0.5) / WIN) for n in range(WIN)]


def hann_powers(ring: list[float], start: int, ws: list[float]) -> list[float]:
    """|Hann-windowed DFT|^2 at each of `ws` (rad/sample) of the 160 samples in `ring` from
    `start`, by Goertzel's recurrence: s = x + 2cos(w) s1 - s2, |X|^2 = s1^2 + s2^2 - 2cos(w) s1 s2.
    """
    hx = [ring[(start + n) % WIN] * _HANN[n] for n in range(WIN)]
    out = []
    for w in ws:
        coef = 2.0 * math.cos(w)
        s1 = 0.0
        s2 = 0.0
        for v in hx:
            s0 = v + coef * s1 - s2
            s2 = s1
            s1 = s0
        out.append(s1 * s1 + s2 * s2 - coef * s1 * s2)
    return out


def voiced(ring: list[float], start: int, wl: float, wh: float) -> bool:
    """True when the two tones look like harmonics n*F0, m*F0 of one voice with F0 >= 110 Hz
    and a neighbouring harmonic (n±1, m±1) carries energy within 10 dB of the weaker tone."""
    f0_min = 2.0 * math.pi * HARMONIC_F0_MIN / RATE
    ws = [wl, wh]
    n = 2
    while wl / n >= f0_min:
        f0 = wl / n
        m = int(math.floor(wh / f0 + 0.5))
        if m > n and abs(wh / m - f0) <= HARMONIC_RATIO_TOL * f0:
            f0 = (wl + wh) / (n + m)
            for j, k in enumerate((n - 1, n + 1, m - 1, m + 1)):
                if k < 1 or k in (n, m) or (j == 2 and k == n + 1):
                    continue
                ws.append(k * f0)
        n += 1
    if len(ws) == 2:
        return False
    powers = hann_powers(ring, start, ws)
    ref = min(powers[0], powers[1])
    return any(p > HARMONIC_MAX * ref for p in powers[2:])


def analyse_window(
    xr: np.ndarray,
    xi: np.ndarray,
    energy: np.ndarray,
    ring: list[float],
    start: int,
    held: int = -1,
    completes: int = -1,
) -> int:
    """Decide one 160-sample window from its sub-block correlations: a key index 0..15 or -1.

    `xr`, `xi`: (NSUB, 8) real/imaginary correlations of each sub-block with each tone (relative to
    the sub-block's start), oldest first; `energy`: (NSUB,) sum of squares of each sub-block;
    `ring`, `start`: the window's samples as a circular buffer and where the oldest one is;
    `held`: the digit currently held (not re-checked for voice); `completes`: the key whose run
    this window would complete (only that window gets the voice check).
    """
    e_max = max(energy[0], energy[1], energy[2], energy[3])
    e_min = min(energy[0], energy[1], energy[2], energy[3])
    total = energy[0] + energy[1] + energy[2] + energy[3]
    if total < 2.0 * WIN * MIN_TONE_POWER or e_min < FILL_MIN * e_max:
        return -1
    picks = [0, 0]
    powers = [0.0, 0.0]
    turns = [0.0, 0.0]
    for group in range(2):
        base = 4 * group
        best, best_mag, second_mag = -1, -1.0, -1.0
        for k in range(base, base + 4):
            # Window correlation at the nominal frequency: sub-block i is rotated by -w*i*SUB.
            re = 0.0
            im = 0.0
            for i in range(NSUB):
                c = _ROT_C[k][i]
                s = _ROT_S[k][i]
                re += xr[i, k] * c - xi[i, k] * s
                im += xr[i, k] * s + xi[i, k] * c
            mag = re * re + im * im
            if mag > best_mag:
                second_mag = best_mag
                best, best_mag = k, mag
            elif mag > second_mag:
                second_mag = mag
        # Frequency offset from the phase advance between the window's two halves.
        c1, s1 = _ROT_C[best][1], _ROT_S[best][1]
        h1r = xr[0, best] + xr[1, best] * c1 - xi[1, best] * s1
        h1i = xi[0, best] + xr[1, best] * s1 + xi[1, best] * c1
        h2r = xr[2, best] + xr[3, best] * c1 - xi[3, best] * s1
        h2i = xi[2, best] + xr[3, best] * s1 + xi[3, best] * c1
        pr = h2r * h1r + h2i * h1i
        pi_ = h2i * h1r - h2r * h1i
        # z = phase advance over 2 sub-blocks minus the nominal one: angle = offset * 80.
        c2, s2 = _ROT_C[best][2], _ROT_S[best][2]
        zr = pr * c2 - pi_ * s2
        zi = pr * s2 + pi_ * c2
        zabs = math.sqrt(zr * zr + zi * zi)
        if zabs == 0.0 or zr < _COS_TOL[best] * zabs:
            return -1  # |offset| > 2.5 %
        # Rotation per sub-block at the measured frequency: e^{-j w SUB} * e^{-j angle / 2}.
        ch = math.sqrt(0.5 * (1.0 + zr / zabs))
        sh = zi / zabs / (2.0 * ch)
        c1 = _ROT_C[best][1] * ch + _ROT_S[best][1] * sh
        s1 = _ROT_S[best][1] * ch - _ROT_C[best][1] * sh
        c, s = 1.0, 0.0
        re = 0.0
        im = 0.0
        for i in range(NSUB):
            re += xr[i, best] * c - xi[i, best] * s
            im += xr[i, best] * s + xi[i, best] * c
            c, s = c * c1 - s * s1, c * s1 + s * c1
        power = 2.0 * (re * re + im * im) / (WIN * WIN)
        if power < MIN_TONE_POWER or second_mag * 2.0 / (WIN * WIN) > NEIGHBOUR_MAX * power:
            return -1
        picks[group] = best
        powers[group] = power
        turns[group] = math.atan2(zi, zr)
    low, high = powers
    if high > TWIST_HIGH_MAX * low or low > TWIST_LOW_MAX * high:
        return -1
    if (low + high) * WIN < ENERGY_RATIO_MIN * total:
        return -1
    key = picks[0] * 4 + (picks[1] - 4)
    # The voice check runs on the window that would complete a detection (it is the costly
    # test); a voiced window breaks the run. A digit already held is not re-checked.
    wl = _W[picks[0]] + turns[0] / (2 * SUB)
    wh = _W[picks[1]] + turns[1] / (2 * SUB)
    if key != held and key == completes and voiced(ring, start, wl, wh):
        return -1
    return key


class DtmfRx:
    """DTMF receiver state: sub-block accumulation, the last 4 sub-blocks, the debouncer."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(SUB, dtype=np.float64)
        self._ring = [0.0] * WIN  # the last 160 samples, oldest at self._ring_pos
        self._fill = 0
        self._xr = np.zeros((NSUB, 8))
        self._xi = np.zeros((NSUB, 8))
        self._energy = np.zeros(NSUB)
        self._ring_pos = 0
        self._nsub = 0  # sub-blocks completed since reset
        self._cand = -1  # key of the current run of agreeing windows
        self._run = 0
        self._run_start = 0.0  # estimated start (samples) of the run's first window
        self._cur = -1  # digit held (validly detected), -1 for none
        self._cur_start = 0.0
        self._cur_end = 0.0  # estimated end of its last window
        self._misses = 0
        self._events: list[tuple[int, float, float]] = []

    @property
    def current(self) -> int:
        return self._cur

    def process(self, block: np.ndarray) -> list[tuple[int, float, float]]:
        x = np.asarray(block, dtype=np.int16)
        pos = 0
        n = len(x)
        while pos < n:
            take = min(SUB - self._fill, n - pos)
            self._buf[self._fill : self._fill + take] = x[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == SUB:
                self._fill = 0
                self._sub_block()
        events, self._events = self._events, []
        return events

    def flush(self) -> list[tuple[int, float, float]]:
        """End a digit still held (end of input)."""
        if self._cur >= 0:
            self._events.append((self._cur, self._cur_start, self._cur_end))
            self._cur = -1
        self._run = 0
        self._cand = -1
        events, self._events = self._events, []
        return events

    def _sub_block(self) -> None:
        b = self._buf
        self._ring[self._ring_pos : self._ring_pos + SUB] = b.tolist()
        self._ring_pos = (self._ring_pos + SUB) % WIN
        self._xr[:-1] = self._xr[1:]
        self._xi[:-1] = self._xi[1:]
        self._energy[:-1] = self._energy[1:]
        self._xr[-1] = b @ _TAB_RE
        self._xi[-1] = b @ _TAB_IM
        self._energy[-1] = float(b @ b)
        self._nsub += 1
        if self._nsub < NSUB:
            return
        completes = self._cand if self._run == DETECT_WINDOWS - 1 else -1
        key = analyse_window(
            self._xr, self._xi, self._energy, self._ring, self._ring_pos, self._cur, completes
        )
        self._decide(key)

    def _decide(self, key: int) -> None:
        e = self._energy
        win_start = (self._nsub - NSUB) * SUB
        if key >= 0 and key == self._cand:
            self._run += 1
        elif key >= 0:
            self._cand = key
            self._run = 1
            ref = (e[1] + e[2] + e[3]) / 3.0
            self._run_start = win_start + SUB * (1.0 - min(1.0, e[0] / ref))
        else:
            self._cand = -1
            self._run = 0
        if key >= 0 and key == self._cur:
            self._misses = 0
            ref = (e[0] + e[1] + e[2]) / 3.0
            self._cur_end = win_start + WIN - SUB * (1.0 - min(1.0, e[3] / ref))
            return
        if self._cur >= 0:
            self._misses += 1
            if self._misses >= GAP_WINDOWS or (key >= 0 and self._run >= DETECT_WINDOWS):
                self._events.append((self._cur, self._cur_start, self._cur_end))
                self._cur = -1
        if self._cur < 0 and key >= 0 and self._run >= DETECT_WINDOWS:
            self._cur = key
            self._cur_start = self._run_start
            ref = (e[0] + e[1] + e[2]) / 3.0
            self._cur_end = win_start + WIN - SUB * (1.0 - min(1.0, e[3] / ref))
            self._misses = 0
