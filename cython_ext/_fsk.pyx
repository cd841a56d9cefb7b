# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled 1200-baud FSK receiver (Bell 202 and V.23); see `cython_ext/fsk.py`.

The twin `_fsk_ref.py` does the same arithmetic in the same order.
"""

from libc.math cimport cos, sin, M_PI
from libc.stdint cimport int16_t, int64_t

from cython_ext._fsk_ref import baseband_power, lowpass_sections

cdef enum:
    TABLE = 80
    BIT_WINDOW = 7
    CHUNK = 4096
    EV_CAP = 4096
    RATE = 8000
    BAUD = 1200

cdef double CARRIER_ALPHA = 1.0 / 64.0
cdef double COS_T[TABLE]
cdef double SIN_T[TABLE]
cdef double COS12[TABLE]
cdef double SIN12[TABLE]
cdef double COS13[TABLE]
cdef double SIN13[TABLE]

cdef int _k
for _k in range(TABLE):
    COS_T[_k] = cos(2.0 * M_PI * 17.0 * _k / TABLE)
    SIN_T[_k] = sin(2.0 * M_PI * 17.0 * _k / TABLE)
    COS12[_k] = cos(2.0 * M_PI * 12.0 * _k / TABLE)
    SIN12[_k] = sin(2.0 * M_PI * 12.0 * _k / TABLE)
    COS13[_k] = cos(2.0 * M_PI * 13.0 * _k / TABLE)
    SIN13[_k] = sin(2.0 * M_PI * 13.0 * _k / TABLE)


cdef class FskReceiver:
    cdef double on_thr, off_thr, floor_
    cdef double b0, b1, b2, a1, a2, c0, c1, c2, d1, d2
    cdef public int64_t position
    cdef int k
    cdef double is1, is2, is3, is4, qs1, qs2, qs3, qs4
    cdef double ip, qp, pp, power
    cdef bint carrier_on
    cdef double ring[BIT_WINDOW]
    cdef int ring_pos
    cdef double vsum, vprev
    cdef bint receiving, clean
    cdef int64_t idle, lead, start_pos
    cdef double next_t
    cdef int bitno, shift
    cdef double c12, s12, c13, s13, e12, e13, lead_e12, lead_e13
    # event buffer filled by the nogil loop
    cdef int n_ev
    cdef int ev_value[EV_CAP]
    cdef int64_t ev_pos[EV_CAP]
    cdef int64_t ev_lead[EV_CAP]
    cdef double ev_e12[EV_CAP]
    cdef double ev_e13[EV_CAP]

    def __init__(self, double carrier_on_dbm0=-44.0, double carrier_off_dbm0=-47.0):
        self.on_thr = baseband_power(carrier_on_dbm0)
        self.off_thr = baseband_power(carrier_off_dbm0)
        self.floor_ = self.off_thr * 0.01
        (self.b0, self.b1, self.b2, self.a1, self.a2), (
            self.c0, self.c1, self.c2, self.d1, self.d2
        ) = lowpass_sections()
        self.reset()

    def reset(self):
        cdef int i
        self.position = 0
        self.k = 0
        self.is1 = self.is2 = self.is3 = self.is4 = 0.0
        self.qs1 = self.qs2 = self.qs3 = self.qs4 = 0.0
        self.ip = self.qp = self.pp = 0.0
        self.power = 0.0
        self.carrier_on = False
        for i in range(BIT_WINDOW):
            self.ring[i] = 0.0
        self.ring_pos = 0
        self.vsum = 0.0
        self.vprev = 0.0
        self.receiving = False
        self.idle = 0
        self.next_t = 0.0
        self.bitno = 0
        self.shift = 0
        self.start_pos = 0
        self.lead = 0
        self.c12 = self.s12 = self.c13 = self.s13 = 0.0
        self.clean = True
        self.e12 = self.e13 = 0.0
        self.lead_e12 = self.lead_e13 = 0.0
        self.n_ev = 0

    @property
    def carrier(self):
        return bool(self.carrier_on)

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
                events.append(
                    (self.ev_value[i], self.ev_pos[i], self.ev_lead[i], self.ev_e12[i],
                     self.ev_e13[i])
                )
            pos += take
        return events

    cdef void _emit(self, int value, int64_t position, int64_t lead, double e12,
                    double e13) noexcept nogil:
        cdef int i = self.n_ev
        if i < EV_CAP:
            self.ev_value[i] = value
            self.ev_pos[i] = position
            self.ev_lead[i] = lead
            self.ev_e12[i] = e12
            self.ev_e13[i] = e13
            self.n_ev = i + 1

    cdef void _run(self, const int16_t *xs, Py_ssize_t count) noexcept nogil:
        cdef Py_ssize_t j
        cdef double x, xi, xq, y, i, q, p, d, v, t_cross, frac, val
        cdef double period = <double>RATE / BAUD
        cdef int64_t nn
        cdef int k, bitno, value
        self.n_ev = 0
        for j in range(count):
            x = <double>xs[j]
            nn = self.position
            k = self.k
            xi = x * COS_T[k]
            xq = -x * SIN_T[k]
            y = self.b0 * xi + self.is1
            self.is1 = self.b1 * xi - self.a1 * y + self.is2
            self.is2 = self.b2 * xi - self.a2 * y
            i = self.c0 * y + self.is3
            self.is3 = self.c1 * y - self.d1 * i + self.is4
            self.is4 = self.c2 * y - self.d2 * i
            y = self.b0 * xq + self.qs1
            self.qs1 = self.b1 * xq - self.a1 * y + self.qs2
            self.qs2 = self.b2 * xq - self.a2 * y
            q = self.c0 * y + self.qs3
            self.qs3 = self.c1 * y - self.d1 * q + self.qs4
            self.qs4 = self.c2 * y - self.d2 * q
            p = i * i + q * q
            d = (q * self.ip - i * self.qp) / (p + self.pp + self.floor_)
            self.ip = i
            self.qp = q
            self.pp = p
            self.vsum += d - self.ring[self.ring_pos]
            self.ring[self.ring_pos] = d
            self.ring_pos = (self.ring_pos + 1) % BIT_WINDOW
            v = -self.vsum
            self.power += (p - self.power) * CARRIER_ALPHA
            self.c12 += x * COS12[k]
            self.s12 += x * SIN12[k]
            self.c13 += x * COS13[k]
            self.s13 += x * SIN13[k]
            if self.carrier_on:
                if self.power < self.off_thr:
                    self.carrier_on = False
                    self.receiving = False
                    self._emit(-2, nn, 0, 0.0, 0.0)
            elif self.power > self.on_thr:
                self.carrier_on = True
                self.receiving = False
                self.idle = 0
                self.e12 = 0.0
                self.e13 = 0.0
                self.clean = False
            if not self.carrier_on:
                self.clean = False
            elif not self.receiving:
                if v > 0.0:
                    self.idle += 1
                else:
                    self.clean = False
                if self.vprev > 0.0 and v <= 0.0:
                    t_cross = (nn - 1) + self.vprev / (self.vprev - v)
                    self.next_t = t_cross + 0.5 * period
                    self.start_pos = <int64_t>t_cross
                    self.bitno = 0
                    self.shift = 0
                    self.receiving = True
            else:
                self.clean = False
                if self.next_t <= nn:
                    frac = self.next_t - (nn - 1)
                    val = self.vprev + (v - self.vprev) * frac
                    bitno = self.bitno
                    if bitno == 0:
                        if val > 0.0:
                            self.receiving = False
                        else:
                            self.lead = self.idle
                            self.lead_e12 = self.e12
                            self.lead_e13 = self.e13
                            self.e12 = 0.0
                            self.e13 = 0.0
                    elif bitno <= 8:
                        if val > 0.0:
                            self.shift |= 1 << (bitno - 1)
                    else:
                        value = self.shift if val > 0.0 else -1
                        self._emit(value, self.start_pos, (self.lead * BAUD) // RATE,
                                   self.lead_e12, self.lead_e13)
                        self.receiving = False
                        self.idle = 0
                    self.bitno = bitno + 1
                    self.next_t += period
            if k == TABLE - 1:
                if self.clean:
                    self.e12 += self.c12 * self.c12 + self.s12 * self.s12
                    self.e13 += self.c13 * self.c13 + self.s13 * self.s13
                self.c12 = 0.0
                self.s12 = 0.0
                self.c13 = 0.0
                self.s13 = 0.0
                self.clean = True
                self.k = 0
            else:
                self.k = k + 1
            self.vprev = v
            self.position = nn + 1
