"""Line impairments for caller-ID and call-progress tests: noise, clock error, tilt, G.711.

A "tilted line" is modelled as a 3-tap linear-phase FIR [a, 1, a] whose gain differs by `db`
between two frequencies (for caller ID: the mark and space tones), as a long loop loses more at
high frequencies than at low (positive `db`: the high tone weaker). The filter is scaled so that
the two tones' mean level (in dB) is unchanged: a 6 dB tilt puts one tone 3 dB up, the other 3 dB
down. Noise is white Gaussian noise
over the whole 0-4 kHz band at `snr_db` below the signal's level.
"""

from __future__ import annotations

import math

import numpy as np

from cython_ext.levels import level_dbm0, rms_for

RATE = 8000


def tilt(samples: np.ndarray, db: float, low_hz: float, high_hz: float) -> np.ndarray:
    """Make `high_hz` come out `db` dB below `low_hz` (negative: above); mean level kept."""
    g = 10.0 ** (db / 20.0)
    cl = math.cos(2.0 * math.pi * low_hz / RATE)
    ch = math.cos(2.0 * math.pi * high_hz / RATE)
    a = (g - 1.0) / (2.0 * (cl - g * ch))
    x = np.asarray(samples, dtype=np.float64)
    y = np.convolve(x, [a, 1.0, a], mode="same")
    gain_low = 1.0 + 2.0 * a * cl
    gain_high = 1.0 + 2.0 * a * ch
    return y / math.sqrt(gain_low * gain_high)


def add_noise(samples: np.ndarray, snr_db: float, signal_dbm0: float, seed: int) -> np.ndarray:
    """Add white noise `snr_db` below a signal at `signal_dbm0`."""
    rng = np.random.default_rng(seed)
    x = np.asarray(samples, dtype=np.float64)
    return x + rng.normal(0.0, rms_for(signal_dbm0 - snr_db), x.size)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def in_blocks(process, samples: np.ndarray, size: int) -> list:  # type: ignore[no-untyped-def]
    """Feed `samples` to `process` in blocks of `size`; collect what it returns."""
    out: list = []
    for i in range(0, len(samples), size):
        out.extend(process(samples[i : i + size]))
    return out


__all__ = ["add_noise", "in_blocks", "level_dbm0", "tilt", "to_int16"]
