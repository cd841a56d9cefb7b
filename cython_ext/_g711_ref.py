"""Pure-Python reference twin of `_g711.pyx`: G.711 µ-law and A-law, written from the standard.

The rules follow ITU-T G.711 Tables 1 and 2 as coded in the ITU-T G.191 software tools: a 16-bit
two's-complement sample is reduced to 13 (A-law) or 14 (µ-law) bits, a negative sample takes the
one's complement (so `x` and `~x` land in mirror-image quantisation intervals), the magnitude is
split into a segment (exponent) and a 4-bit mantissa, and the code is inverted (µ-law: all bits;
A-law: even bits, 0x55). Vectorised with numpy so the twin is quick enough to check all inputs.
"""

from __future__ import annotations

import numpy as np

_ULAW_BIAS = 33  # offset between the A-law and µ-law thresholds, in 14-bit units
_ULAW_MAX = 0x1FFF


def _segment(magnitude: np.ndarray, base_shift: int) -> np.ndarray:
    """Segment number 0..7: how many doublings `magnitude >> base_shift` needs to reach zero."""
    seg = np.zeros(magnitude.shape, dtype=np.int32)
    rest = magnitude >> base_shift
    while np.any(rest):
        nz = rest != 0
        seg[nz] += 1
        rest = rest >> 1
    return seg


def linear_to_ulaw(samples: np.ndarray) -> bytes:
    x = np.asarray(samples, dtype=np.int32)
    negative = x < 0
    mag = (np.where(negative, ~x, x) >> 2) + _ULAW_BIAS  # 14-bit magnitude, biased
    mag = np.minimum(mag, _ULAW_MAX)
    seg = _segment(mag, 6)  # segment 0 covers biased magnitudes 33..63
    mantissa = (mag >> (seg + 1)) & 0x0F
    code = (seg << 4) | mantissa
    code = np.where(negative, code ^ 0x7F, code ^ 0xFF)
    return code.astype(np.uint8).tobytes()


def ulaw_to_linear(codes: np.ndarray) -> np.ndarray:
    c = (~np.asarray(codes, dtype=np.int32)) & 0xFF
    seg = (c >> 4) & 0x07
    mantissa = c & 0x0F
    # 14-bit magnitude at the middle of the interval, minus the bias, then left-justified to 16 bits
    mag = (((mantissa << 1) + 33) << seg) - _ULAW_BIAS
    out = np.where(c & 0x80, -mag, mag) << 2
    return out.astype(np.int16)


def linear_to_alaw(samples: np.ndarray) -> bytes:
    x = np.asarray(samples, dtype=np.int32)
    negative = x < 0
    mag = np.where(negative, ~x, x) >> 3  # 13-bit magnitude 0..4095
    seg = _segment(mag, 5)  # segment 0 and 1 share the step size
    mantissa = np.where(seg == 0, mag >> 1, mag >> seg) & 0x0F
    code = (seg << 4) | mantissa
    code = np.where(negative, code, code | 0x80) ^ 0x55
    return code.astype(np.uint8).tobytes()


def alaw_to_linear(codes: np.ndarray) -> np.ndarray:
    c = np.asarray(codes, dtype=np.int32) ^ 0x55
    seg = (c >> 4) & 0x07
    mantissa = c & 0x0F
    step_mid = (mantissa << 1) + 1  # middle of the interval, in units of half a step
    mag = np.where(seg == 0, step_mid << 1, (step_mid + 32) << seg)  # 13-bit units * 2
    out = np.where(c & 0x80, mag, -mag) << 2
    return out.astype(np.int16)
