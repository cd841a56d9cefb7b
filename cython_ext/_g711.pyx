# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3, initializedcheck=False
"""Compiled G.711 µ-law / A-law (ITU-T G.711, rules as in the ITU-T G.191 tools).

G.711 has no state, so the kernel is a set of block functions: each takes a block of any length
and runs a `noexcept nogil` loop into an output buffer allocated once per call by the caller
wrapper (never inside the loop). Decoding uses two 256-entry tables filled at import.
"""

from libc.stdint cimport int16_t, int32_t, uint8_t

import numpy as np


cdef int16_t _ULAW_DEC[256]
cdef int16_t _ALAW_DEC[256]


cdef inline uint8_t _ulaw_encode(int32_t x) noexcept nogil:
    cdef int32_t mag, seg, rest
    cdef uint8_t mask
    if x < 0:
        mag = ((~x) >> 2) + 33
        mask = 0x7F
    else:
        mag = (x >> 2) + 33
        mask = 0xFF
    if mag > 0x1FFF:
        mag = 0x1FFF
    seg = 0
    rest = mag >> 6
    while rest:
        seg += 1
        rest >>= 1
    return <uint8_t>(((seg << 4) | ((mag >> (seg + 1)) & 0x0F)) ^ mask)


cdef inline uint8_t _alaw_encode(int32_t x) noexcept nogil:
    cdef int32_t mag, seg, rest, mantissa
    cdef uint8_t sign
    if x < 0:
        mag = (~x) >> 3
        sign = 0x00
    else:
        mag = x >> 3
        sign = 0x80
    seg = 0
    rest = mag >> 5
    while rest:
        seg += 1
        rest >>= 1
    if seg == 0:
        mantissa = (mag >> 1) & 0x0F
    else:
        mantissa = (mag >> seg) & 0x0F
    return <uint8_t>(((seg << 4) | mantissa | sign) ^ 0x55)


cdef inline int16_t _ulaw_decode(int32_t code) noexcept nogil:
    cdef int32_t c = (~code) & 0xFF
    cdef int32_t seg = (c >> 4) & 0x07
    cdef int32_t mag = ((((c & 0x0F) << 1) + 33) << seg) - 33
    if c & 0x80:
        mag = -mag
    return <int16_t>(mag << 2)


cdef inline int16_t _alaw_decode(int32_t code) noexcept nogil:
    cdef int32_t c = code ^ 0x55
    cdef int32_t seg = (c >> 4) & 0x07
    cdef int32_t mid = ((c & 0x0F) << 1) + 1
    cdef int32_t mag
    if seg == 0:
        mag = mid << 1
    else:
        mag = (mid + 32) << seg
    if not (c & 0x80):
        mag = -mag
    return <int16_t>(mag << 2)


cdef void _fill_tables() noexcept nogil:
    cdef int i
    for i in range(256):
        _ULAW_DEC[i] = _ulaw_decode(i)
        _ALAW_DEC[i] = _alaw_decode(i)


_fill_tables()


cdef void _encode_ulaw(const int16_t[::1] x, uint8_t[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = _ulaw_encode(x[i])


cdef void _encode_alaw(const int16_t[::1] x, uint8_t[::1] out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = _alaw_encode(x[i])


cdef void _decode(const uint8_t[::1] c, int16_t[::1] out, const int16_t* table) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(c.shape[0]):
        out[i] = table[c[i]]


def linear_to_ulaw(const int16_t[::1] samples):
    out = np.empty(samples.shape[0], dtype=np.uint8)
    cdef uint8_t[::1] o = out
    with nogil:
        _encode_ulaw(samples, o)
    return out.tobytes()


def linear_to_alaw(const int16_t[::1] samples):
    out = np.empty(samples.shape[0], dtype=np.uint8)
    cdef uint8_t[::1] o = out
    with nogil:
        _encode_alaw(samples, o)
    return out.tobytes()


def ulaw_to_linear(const uint8_t[::1] codes):
    out = np.empty(codes.shape[0], dtype=np.int16)
    cdef int16_t[::1] o = out
    with nogil:
        _decode(codes, o, _ULAW_DEC)
    return out


def alaw_to_linear(const uint8_t[::1] codes):
    out = np.empty(codes.shape[0], dtype=np.int16)
    cdef int16_t[::1] o = out
    with nogil:
        _decode(codes, o, _ALAW_DEC)
    return out
