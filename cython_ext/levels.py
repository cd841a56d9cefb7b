"""Signal levels in dBm0 for 16-bit linear audio, defined once for every kernel and test.

Convention (the same as spandsp's, so side-by-side figures compare like with like): a full-scale
sine (peak 32767) is +3.14 dBm0, so a 0 dBm0 sine has peak 32767 * 10**(-3.14/20) ≈ 22821.
"""

from __future__ import annotations

import math

import numpy as np

FULL_SCALE_SINE_DBM0 = 3.14
SINE_PEAK_0DBM0 = 32767.0 * 10.0 ** (-FULL_SCALE_SINE_DBM0 / 20.0)
RMS_0DBM0 = SINE_PEAK_0DBM0 / math.sqrt(2.0)


def sine_peak(dbm0: float) -> float:
    """Peak amplitude of a sine at `dbm0`."""
    return SINE_PEAK_0DBM0 * 10.0 ** (dbm0 / 20.0)


def rms_for(dbm0: float) -> float:
    """RMS value of any signal whose power is `dbm0`."""
    return RMS_0DBM0 * 10.0 ** (dbm0 / 20.0)


def level_dbm0(samples: np.ndarray) -> float:
    """Power of `samples` in dBm0 (-inf for silence)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return -math.inf
    power = float(np.mean(x * x))
    return -math.inf if power <= 0.0 else 10.0 * math.log10(power) - 20.0 * math.log10(RMS_0DBM0)
