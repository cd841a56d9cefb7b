# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled DTMF receiver (see `dtmf.py` for the design, `_dtmf_ref.py` for the twin).

All state lives in `DtmfRx`. `process()` takes a block of any length and runs a `noexcept nogil`
loop that correlates each 40-sample sub-block with the eight DTMF tones, decides each 160-sample
window and debounces the decisions; finished digits go into a fixed event buffer, which the
Python side drains between chunks, so nothing is allocated inside the loop.
"""

from libc.math cimport atan2, cos, floor, sin, sqrt
from libc.stdint cimport int16_t, int64_t

DEF SUB = 40
DEF NSUB = 4
DEF WIN = 160
DEF NTONES = 8
DEF MAX_EVENTS = 64
DEF MAX_HARM = 40

cdef double RATE = 8000.0
cdef double PI = 3.141592653589793
cdef double RMS_0DBM0 = 32767.0 * 10.0 ** (-3.14 / 20.0) / sqrt(2.0)
cdef double MIN_TONE_POWER = RMS_0DBM0 * RMS_0DBM0 * 10.0 ** (-38.0 / 10.0)
cdef double FREQ_TOL = 0.025
cdef double TWIST_HIGH_MAX = 10.0 ** (6.0 / 10.0)
cdef double TWIST_LOW_MAX = 10.0 ** (10.0 / 10.0)
cdef double NEIGHBOUR_MAX = 10.0 ** (-10.0 / 10.0)
cdef double ENERGY_RATIO_MIN = 0.70
cdef double FILL_MIN = 0.6
cdef double HARMONIC_F0_MIN = 110.0
cdef double HARMONIC_RATIO_TOL = 0.01
cdef double HARMONIC_MAX = 10.0 ** (-10.0 / 10.0)
cdef int DETECT_WINDOWS = 3
cdef int GAP_WINDOWS = 8

cdef double FREQS[NTONES]
FREQS[:] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0]

KEYS = "123A456B789C*0#D"

cdef double HANN[WIN]
cdef int _n
for _n in range(WIN):
    HANN[_n] = 0.5 - 0.5 * cos(2.0 * PI * (_n + 0.5) / WIN)


cdef class DtmfRx:
    cdef float tab_re[SUB][NTONES]
    cdef float tab_im[SUB][NTONES]
    cdef double w[NTONES]
    cdef double rot_c[NTONES][NSUB]
    cdef double rot_s[NTONES][NSUB]
    cdef double cos_tol[NTONES]
    cdef float acc_re[NTONES]
    cdef float acc_im[NTONES]
    cdef float acc_e
    cdef int fill
    cdef double xr[NSUB][NTONES]
    cdef double xi[NSUB][NTONES]
    cdef double energy[NSUB]
    cdef double ring[WIN]
    cdef int ring_pos
    cdef int64_t nsub
    cdef int cand, run, cur, misses
    cdef double run_start, cur_start, cur_end
    cdef int nev
    cdef int ev_key[MAX_EVENTS]
    cdef double ev_start[MAX_EVENTS]
    cdef double ev_end[MAX_EVENTS]

    def __cinit__(self):
        cdef int n, k, i
        for k in range(NTONES):
            self.w[k] = 2.0 * PI * FREQS[k] / RATE
            self.cos_tol[k] = cos(FREQ_TOL * self.w[k] * 2 * SUB)
            for i in range(NSUB):
                self.rot_c[k][i] = cos(self.w[k] * i * SUB)
                self.rot_s[k][i] = -sin(self.w[k] * i * SUB)
        for n in range(SUB):
            for k in range(NTONES):
                self.tab_re[n][k] = cos(2.0 * PI * n * FREQS[k] / RATE)
                self.tab_im[n][k] = -sin(2.0 * PI * n * FREQS[k] / RATE)
        self.reset()

    def reset(self):
        cdef int k, i
        for k in range(NTONES):
            self.acc_re[k] = 0.0
            self.acc_im[k] = 0.0
            for i in range(NSUB):
                self.xr[i][k] = 0.0
                self.xi[i][k] = 0.0
        for i in range(NSUB):
            self.energy[i] = 0.0
        for i in range(WIN):
            self.ring[i] = 0.0
        self.ring_pos = 0
        self.acc_e = 0.0
        self.fill = 0
        self.nsub = 0
        self.cand = -1
        self.run = 0
        self.run_start = 0.0
        self.cur = -1
        self.cur_start = 0.0
        self.cur_end = 0.0
        self.misses = 0
        self.nev = 0

    @property
    def current(self):
        return self.cur

    def process(self, const int16_t[::1] block):
        cdef Py_ssize_t pos = 0, n = block.shape[0], chunk
        events = []
        # An event needs at least one sub-block, so a chunk of MAX_EVENTS sub-blocks cannot
        # overflow the event buffer.
        while pos < n:
            chunk = min(n - pos, <Py_ssize_t>(MAX_EVENTS - 1) * SUB)
            with nogil:
                self._run(block, pos, pos + chunk)
            pos += chunk
            events.extend(self._drain())
        return events

    def flush(self):
        if self.cur >= 0:
            self._emit(self.cur, self.cur_start, self.cur_end)
            self.cur = -1
        self.run = 0
        self.cand = -1
        return self._drain()

    cdef list _drain(self):
        cdef int i
        out = [(self.ev_key[i], self.ev_start[i], self.ev_end[i]) for i in range(self.nev)]
        self.nev = 0
        return out

    cdef inline void _emit(self, int key, double start, double end) noexcept nogil:
        self.ev_key[self.nev] = key
        self.ev_start[self.nev] = start
        self.ev_end[self.nev] = end
        self.nev += 1

    cdef void _run(self, const int16_t[::1] block, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
        # Accumulate in locals, one sub-block stretch at a time, so the compiler keeps the 16
        # accumulators in vector registers (no aliasing with the state object).
        cdef Py_ssize_t j = start, end
        cdef int k, f
        cdef float x, e, x0, x1, x2, x3
        cdef float ar[NTONES]
        cdef float ai[NTONES]
        cdef const float* tr
        cdef const float* ti
        while j < stop:
            f = self.fill
            end = min(stop, j + (SUB - f))
            for k in range(NTONES):
                ar[k] = self.acc_re[k]
                ai[k] = self.acc_im[k]
            e = self.acc_e
            while j + 4 <= end:
                # Four samples per step: one dependent add per accumulator instead of four.
                x0 = block[j]
                x1 = block[j + 1]
                x2 = block[j + 2]
                x3 = block[j + 3]
                for k in range(NTONES):
                    ar[k] += (x0 * self.tab_re[f][k] + x1 * self.tab_re[f + 1][k]) + (
                        x2 * self.tab_re[f + 2][k] + x3 * self.tab_re[f + 3][k]
                    )
                    ai[k] += (x0 * self.tab_im[f][k] + x1 * self.tab_im[f + 1][k]) + (
                        x2 * self.tab_im[f + 2][k] + x3 * self.tab_im[f + 3][k]
                    )
                e += (x0 * x0 + x1 * x1) + (x2 * x2 + x3 * x3)
                self.ring[self.ring_pos + f] = x0
                self.ring[self.ring_pos + f + 1] = x1
                self.ring[self.ring_pos + f + 2] = x2
                self.ring[self.ring_pos + f + 3] = x3
                f += 4
                j += 4
            while j < end:
                x = block[j]
                tr = &self.tab_re[f][0]
                ti = &self.tab_im[f][0]
                for k in range(NTONES):
                    ar[k] += x * tr[k]
                    ai[k] += x * ti[k]
                e += x * x
                self.ring[self.ring_pos + f] = x
                f += 1
                j += 1
            for k in range(NTONES):
                self.acc_re[k] = ar[k]
                self.acc_im[k] = ai[k]
            self.acc_e = e
            self.fill = f
            if f == SUB:
                self._sub_block()

    cdef void _sub_block(self) noexcept nogil:
        cdef int i, k
        for i in range(NSUB - 1):
            for k in range(NTONES):
                self.xr[i][k] = self.xr[i + 1][k]
                self.xi[i][k] = self.xi[i + 1][k]
            self.energy[i] = self.energy[i + 1]
        for k in range(NTONES):
            self.xr[NSUB - 1][k] = self.acc_re[k]
            self.xi[NSUB - 1][k] = self.acc_im[k]
            self.acc_re[k] = 0.0
            self.acc_im[k] = 0.0
        self.energy[NSUB - 1] = self.acc_e
        self.acc_e = 0.0
        self.fill = 0
        self.ring_pos = (self.ring_pos + SUB) % WIN
        self.nsub += 1
        if self.nsub < NSUB:
            return
        self._decide(self._analyse())

    cdef int _analyse(self) noexcept nogil:
        cdef double e0 = self.energy[0], e1 = self.energy[1]
        cdef double e2 = self.energy[2], e3 = self.energy[3]
        cdef double e_max = max(max(e0, e1), max(e2, e3))
        cdef double e_min = min(min(e0, e1), min(e2, e3))
        cdef double total = e0 + e1 + e2 + e3
        cdef int group, base, k, i, best, key
        cdef double re, im, mag, best_mag, second_mag, c, s, c1, s1
        cdef double h1r, h1i, h2r, h2i, pr, pi_, power, c2
        cdef int picks[2]
        cdef double powers[2]
        cdef double zrs[2]
        cdef double zis[2]
        cdef double zr, zi, zabs, ch, sh
        if total < 2.0 * WIN * MIN_TONE_POWER or e_min < FILL_MIN * e_max:
            return -1
        for group in range(2):
            base = 4 * group
            best = -1
            best_mag = -1.0
            second_mag = -1.0
            for k in range(base, base + 4):
                re = 0.0
                im = 0.0
                for i in range(NSUB):
                    c = self.rot_c[k][i]
                    s = self.rot_s[k][i]
                    re += self.xr[i][k] * c - self.xi[i][k] * s
                    im += self.xr[i][k] * s + self.xi[i][k] * c
                mag = re * re + im * im
                if mag > best_mag:
                    second_mag = best_mag
                    best = k
                    best_mag = mag
                elif mag > second_mag:
                    second_mag = mag
            c1 = self.rot_c[best][1]
            s1 = self.rot_s[best][1]
            h1r = self.xr[0][best] + self.xr[1][best] * c1 - self.xi[1][best] * s1
            h1i = self.xi[0][best] + self.xr[1][best] * s1 + self.xi[1][best] * c1
            h2r = self.xr[2][best] + self.xr[3][best] * c1 - self.xi[3][best] * s1
            h2i = self.xi[2][best] + self.xr[3][best] * s1 + self.xi[3][best] * c1
            pr = h2r * h1r + h2i * h1i
            pi_ = h2i * h1r - h2r * h1i
            # z = phase advance over 2 sub-blocks minus the nominal one: angle = offset * 80.
            zr = pr * self.rot_c[best][2] - pi_ * self.rot_s[best][2]
            zi = pr * self.rot_s[best][2] + pi_ * self.rot_c[best][2]
            zabs = sqrt(zr * zr + zi * zi)
            if zabs == 0.0 or zr < self.cos_tol[best] * zabs:
                return -1  # |offset| > 2.5 %
            # Rotation per sub-block at the measured frequency: e^{-j w SUB} * e^{-j angle / 2}.
            ch = sqrt(0.5 * (1.0 + zr / zabs))
            sh = zi / zabs / (2.0 * ch)
            c1 = self.rot_c[best][1] * ch + self.rot_s[best][1] * sh
            s1 = self.rot_s[best][1] * ch - self.rot_c[best][1] * sh
            c = 1.0
            s = 0.0
            re = 0.0
            im = 0.0
            for i in range(NSUB):
                re += self.xr[i][best] * c - self.xi[i][best] * s
                im += self.xr[i][best] * s + self.xi[i][best] * c
                c2 = c * c1 - s * s1
                s = c * s1 + s * c1
                c = c2
            power = 2.0 * (re * re + im * im) / (WIN * WIN)
            if power < MIN_TONE_POWER or second_mag * 2.0 / (WIN * WIN) > NEIGHBOUR_MAX * power:
                return -1
            picks[group] = best
            powers[group] = power
            zrs[group] = zr
            zis[group] = zi
        if powers[1] > TWIST_HIGH_MAX * powers[0] or powers[0] > TWIST_LOW_MAX * powers[1]:
            return -1
        if (powers[0] + powers[1]) * WIN < ENERGY_RATIO_MIN * total:
            return -1
        key = picks[0] * 4 + (picks[1] - 4)
        # The voice check runs on the window that would complete a detection (it is the costly
        # test); a voiced window breaks the run. A digit already held is not re-checked.
        if (
            key != self.cur
            and key == self.cand
            and self.run == DETECT_WINDOWS - 1
            and self._voiced(
                self.w[picks[0]] + atan2(zis[0], zrs[0]) / (2 * SUB),
                self.w[picks[1]] + atan2(zis[1], zrs[1]) / (2 * SUB),
            )
        ):
            return -1
        return key

    cdef bint _voiced(self, double wl, double wh) noexcept nogil:
        # Voice check (see _dtmf_ref.voiced): collect the harmonic frequencies to test, then
        # one pass of Goertzel recurrences over the Hann-windowed window for all of them.
        cdef double f0_min = 2.0 * PI * HARMONIC_F0_MIN / RATE
        cdef double f0, v, s0, ref
        cdef double ws[MAX_HARM]
        cdef double coef[MAX_HARM]
        cdef double s1[MAX_HARM]
        cdef double s2[MAX_HARM]
        cdef double hx[WIN]
        cdef int n = 2, m, j, k, nw = 2, i
        cdef int ks[4]
        ws[0] = wl
        ws[1] = wh
        while wl / n >= f0_min:
            f0 = wl / n
            m = <int>floor(wh / f0 + 0.5)
            if m > n and abs(wh / m - f0) <= HARMONIC_RATIO_TOL * f0:
                f0 = (wl + wh) / (n + m)
                ks[0] = n - 1
                ks[1] = n + 1
                ks[2] = m - 1
                ks[3] = m + 1
                for j in range(4):
                    k = ks[j]
                    if k < 1 or k == n or k == m or (j == 2 and k == n + 1):
                        continue
                    if nw < MAX_HARM:
                        ws[nw] = k * f0
                        nw += 1
            n += 1
        if nw == 2:
            return False
        for i in range(WIN):
            hx[i] = self.ring[(self.ring_pos + i) % WIN] * HANN[i]
        for j in range(nw):
            coef[j] = 2.0 * cos(ws[j])
            s1[j] = 0.0
            s2[j] = 0.0
        for i in range(WIN):
            v = hx[i]
            for j in range(nw):
                s0 = v + coef[j] * s1[j] - s2[j]
                s2[j] = s1[j]
                s1[j] = s0
        for j in range(nw):
            s1[j] = s1[j] * s1[j] + s2[j] * s2[j] - coef[j] * s1[j] * s2[j]
        ref = min(s1[0], s1[1])
        for j in range(2, nw):
            if s1[j] > HARMONIC_MAX * ref:
                return True
        return False

    cdef void _decide(self, int key) noexcept nogil:
        cdef double e0 = self.energy[0], e1 = self.energy[1]
        cdef double e2 = self.energy[2], e3 = self.energy[3]
        cdef double win_start = <double>((self.nsub - NSUB) * SUB)
        cdef double ref
        if key >= 0 and key == self.cand:
            self.run += 1
        elif key >= 0:
            self.cand = key
            self.run = 1
            ref = (e1 + e2 + e3) / 3.0
            self.run_start = win_start + SUB * (1.0 - min(1.0, e0 / ref))
        else:
            self.cand = -1
            self.run = 0
        if key >= 0 and key == self.cur:
            self.misses = 0
            ref = (e0 + e1 + e2) / 3.0
            self.cur_end = win_start + WIN - SUB * (1.0 - min(1.0, e3 / ref))
            return
        if self.cur >= 0:
            self.misses += 1
            if self.misses >= GAP_WINDOWS or (key >= 0 and self.run >= DETECT_WINDOWS):
                self._emit(self.cur, self.cur_start, self.cur_end)
                self.cur = -1
        if self.cur < 0 and key >= 0 and self.run >= DETECT_WINDOWS:
            self.cur = key
            self.cur_start = self.run_start
            ref = (e0 + e1 + e2) / 3.0
            self.cur_end = win_start + WIN - SUB * (1.0 - min(1.0, e3 / ref))
            self.misses = 0
