# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled call-progress tone classifier; see `cython_ext/cpt.py`.

The twin `_cpt_ref.py` does the same arithmetic in the same order.
"""

from libc.math cimport cos, sin, fmod, M_PI
from libc.stdint cimport int16_t, int64_t

from cython_ext._cpt_ref import power_for

cdef enum:
    SUB = 80
    NSUB = 4
    WIN = 320
    MAX_FREQS = 32
    MAX_CLASSES = 32
    CHUNK = 8000
    EV_CAP = 128  # one event per 10 ms hop at most: 100 per 8000-sample chunk
    SILENCE = 0
    OTHER = 1

cdef double TWO_PI = 2.0 * M_PI


cdef class CptAnalyzer:
    cdef int nf, nc
    cdef double w[MAX_FREQS]
    cdef double coef[MAX_FREQS]
    cdef int ca[MAX_CLASSES]
    cdef int cb[MAX_CLASSES]
    cdef int cc[MAX_CLASSES]
    cdef double silence_thr, tone_thr, purity, twist
    cdef public int64_t position
    cdef int n, slot, filled, run_hops
    cdef double s1[MAX_FREQS]
    cdef double s2[MAX_FREQS]
    cdef double energy
    cdef double phase[MAX_FREQS]
    cdef double xr[NSUB][MAX_FREQS]
    cdef double xi[NSUB][MAX_FREQS]
    cdef double e[NSUB]
    cdef double pw[MAX_FREQS]
    cdef public double total
    cdef public int current_class
    cdef public int64_t current_start
    cdef int n_ev
    cdef int ev_class[EV_CAP]
    cdef int64_t ev_start[EV_CAP]
    cdef int64_t ev_end[EV_CAP]

    def __init__(self, freqs, classes, double silence_dbm0=-45.0, double tone_dbm0=-42.0,
                 double purity=0.75, double twist_db=10.0):
        cdef int k
        if not 0 < len(freqs) <= MAX_FREQS or not 0 < len(classes) <= MAX_CLASSES:
            raise ValueError("CptAnalyzer: 1..32 frequencies and 1..32 classes")
        self.nf = len(freqs)
        self.nc = len(classes)
        for k in range(self.nf):
            self.w[k] = TWO_PI * float(freqs[k]) / 8000
            self.coef[k] = 2.0 * cos(self.w[k])
        for k in range(self.nc):
            a, b, c = classes[k]
            if not 0 <= a < self.nf or not -1 <= b < self.nf or not -1 <= c < self.nf:
                raise ValueError("CptAnalyzer: class refers to an unknown frequency")
            if c >= 0 and b < 0:
                raise ValueError("CptAnalyzer: a class's frequencies come first, then -1")
            self.ca[k] = a
            self.cb[k] = b
            self.cc[k] = c
        self.silence_thr = power_for(silence_dbm0) * WIN
        self.tone_thr = power_for(tone_dbm0) * WIN
        self.purity = purity
        self.twist = 10.0 ** (-twist_db / 10.0)
        self.reset()

    def reset(self):
        cdef int k, i
        self.position = 0
        self.n = 0
        for k in range(MAX_FREQS):
            self.s1[k] = 0.0
            self.s2[k] = 0.0
            self.phase[k] = 0.0
            self.pw[k] = 0.0
            for i in range(NSUB):
                self.xr[i][k] = 0.0
                self.xi[i][k] = 0.0
        for i in range(NSUB):
            self.e[i] = 0.0
        self.energy = 0.0
        self.slot = 0
        self.filled = 0
        self.current_class = SILENCE
        self.current_start = 0
        self.run_hops = 0
        self.total = 0.0
        self.n_ev = 0

    @property
    def powers(self):
        return [self.pw[k] for k in range(self.nf)]

    def process(self, const int16_t[::1] block):
        cdef Py_ssize_t n = block.shape[0]
        cdef Py_ssize_t pos = 0, take
        cdef int i
        events = []
        while pos < n:
            take = n - pos if n - pos < CHUNK else CHUNK
            with nogil:
                self._run(&block[pos], take)
            for i in range(self.n_ev):
                events.append((self.ev_class[i], self.ev_start[i], self.ev_end[i]))
            pos += take
        return events

    cdef void _run(self, const int16_t *xs, Py_ssize_t count) noexcept nogil:
        cdef Py_ssize_t j
        cdef int k, nf = self.nf
        cdef double x, s0
        self.n_ev = 0
        for j in range(count):
            x = <double>xs[j]
            for k in range(nf):
                s0 = x + self.coef[k] * self.s1[k] - self.s2[k]
                self.s2[k] = self.s1[k]
                self.s1[k] = s0
            self.energy += x * x
            self.n += 1
            self.position += 1
            if self.n == SUB:
                self._end_sub_block()

    cdef void _end_sub_block(self) noexcept nogil:
        cdef int k, nf = self.nf, slot = self.slot, cls
        cdef double w, yr, yi, ph, c, s, re, im, total
        cdef int64_t window_start
        for k in range(nf):
            w = self.w[k]
            yr = self.s1[k] - cos(w) * self.s2[k]
            yi = sin(w) * self.s2[k]
            ph = self.phase[k] + w * (SUB - 1)
            c = cos(ph)
            s = sin(ph)
            self.xr[slot][k] = yr * c + yi * s
            self.xi[slot][k] = yi * c - yr * s
            self.phase[k] = fmod(self.phase[k] + w * SUB, TWO_PI)
            self.s1[k] = 0.0
            self.s2[k] = 0.0
        self.e[slot] = self.energy
        self.energy = 0.0
        self.n = 0
        self.slot = (slot + 1) % NSUB
        if self.filled < NSUB:
            self.filled += 1
            if self.filled < NSUB:
                return
        total = self.e[0] + self.e[1] + self.e[2] + self.e[3]
        for k in range(nf):
            re = self.xr[0][k] + self.xr[1][k] + self.xr[2][k] + self.xr[3][k]
            im = self.xi[0][k] + self.xi[1][k] + self.xi[2][k] + self.xi[3][k]
            self.pw[k] = 2.0 * (re * re + im * im) / WIN
        self.total = total
        cls = self._classify(total)
        window_start = self.position - WIN
        if cls != self.current_class:
            if self.run_hops > 0 and self.n_ev < EV_CAP:
                self.ev_class[self.n_ev] = self.current_class
                self.ev_start[self.n_ev] = self.current_start
                self.ev_end[self.n_ev] = window_start + WIN - 2 * SUB
                self.n_ev += 1
            self.current_class = cls
            self.current_start = window_start + SUB if window_start > 0 else 0
            self.run_hops = 0
        self.run_hops += 1

    cdef int _classify(self, double total) noexcept nogil:
        cdef int best = OTHER, c, b, cc
        cdef double best_purity = self.purity, pa, pb, pc, strongest, floor, tone, purity
        if total < self.silence_thr:
            return SILENCE
        for c in range(self.nc):
            pa = self.pw[self.ca[c]]
            b = self.cb[c]
            if b >= 0:
                pb = self.pw[b]
                cc = self.cc[c]
                pc = self.pw[cc] if cc >= 0 else pb
                strongest = max(pa, pb, pc)
                floor = self.twist * strongest
                if pa < floor or pb < floor or pc < floor:
                    continue
                tone = pa + pb + (pc if cc >= 0 else 0.0)
            else:
                tone = pa
            if tone < self.tone_thr:
                continue
            purity = tone / total
            if purity > best_purity:
                best_purity = purity
                best = c + 2
        return best
