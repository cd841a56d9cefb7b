# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled cadenced multi-frequency tone generator (twin: `_tones_ref.py`).

All state lives in `ToneTx`; `generate(n)` fills a new int16 array through `_fill`, a
`noexcept nogil` loop over the preallocated output that allocates nothing. Sample t of an "on"
step is the rounded sum of `amp * sin(2*pi * fmod(freq * t, 8000) / 8000)`, exactly as the twin.
"""

from libc.math cimport fmod, nearbyint, sin
from libc.stdint cimport int16_t, int64_t
from libc.stdlib cimport free, malloc

import numpy as np

DEF MAX_COMPONENTS = 4
cdef double RATE = 8000.0
cdef double PI = 3.141592653589793


cdef class ToneTx:
    cdef int nsteps
    cdef int64_t* on
    cdef int64_t* off
    cdef int* ncomp
    cdef double* freqs
    cdef double* amps
    cdef bint repeat
    cdef int step
    cdef int64_t pos
    cdef bint finished

    def __cinit__(self, on, off, freqs, amps, bint repeat):
        cdef int i, c
        self.nsteps = len(on)
        n = max(self.nsteps, 1)
        self.on = <int64_t*>malloc(n * sizeof(int64_t))
        self.off = <int64_t*>malloc(n * sizeof(int64_t))
        self.ncomp = <int*>malloc(n * sizeof(int))
        self.freqs = <double*>malloc(n * MAX_COMPONENTS * sizeof(double))
        self.amps = <double*>malloc(n * MAX_COMPONENTS * sizeof(double))
        if not (self.on and self.off and self.ncomp and self.freqs and self.amps):
            raise MemoryError()
        for i in range(self.nsteps):
            if len(freqs[i]) > MAX_COMPONENTS or len(amps[i]) != len(freqs[i]):
                raise ValueError(f"step {i}: at most {MAX_COMPONENTS} (freq, amplitude) pairs")
            self.on[i] = on[i]
            self.off[i] = off[i]
            self.ncomp[i] = len(freqs[i])
            for c in range(self.ncomp[i]):
                self.freqs[i * MAX_COMPONENTS + c] = freqs[i][c]
                self.amps[i * MAX_COMPONENTS + c] = amps[i][c]
        self.repeat = repeat
        self.step = 0
        self.pos = 0
        self.finished = self.nsteps == 0

    def __dealloc__(self):
        free(self.on)
        free(self.off)
        free(self.ncomp)
        free(self.freqs)
        free(self.amps)

    @property
    def done(self):
        return bool(self.finished)

    def generate(self, Py_ssize_t n):
        out = np.zeros(n, dtype=np.int16)
        cdef int16_t[::1] o = out
        with nogil:
            self._fill(o)
        return out

    cdef inline void _advance(self) noexcept nogil:
        self.pos = 0
        self.step += 1
        if self.step == self.nsteps:
            if self.repeat:
                self.step = 0
            else:
                self.finished = True

    cdef void _fill(self, int16_t[::1] out) noexcept nogil:
        cdef Py_ssize_t i = 0, n = out.shape[0], take
        cdef int64_t on, off, t
        cdef double v, r
        cdef int c, base
        while i < n and not self.finished:
            on = self.on[self.step]
            off = self.off[self.step]
            if on < 0 or self.pos < on:
                t = self.pos
                v = 0.0
                base = self.step * MAX_COMPONENTS
                for c in range(self.ncomp[self.step]):
                    v += self.amps[base + c] * sin(
                        2.0 * PI * fmod(self.freqs[base + c] * <double>t, RATE) / RATE
                    )
                r = nearbyint(v)
                if r > 32767.0:
                    r = 32767.0
                elif r < -32767.0:
                    r = -32767.0
                out[i] = <int16_t>r
                i += 1
                self.pos += 1
                continue
            if self.pos < on + off:
                take = min(n - i, on + off - self.pos)
                i += take
                self.pos += take
                continue
            self._advance()
        if not self.finished:
            on = self.on[self.step]
            off = self.off[self.step]
            if on >= 0 and self.pos >= on + off:
                self._advance()
