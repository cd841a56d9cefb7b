"""1200-baud FSK modem for caller ID: Bell 202 and ITU-T V.23, receiver and transmitter.

Bell 202 (Telcordia GR-30) sends mark (1) at 1200 Hz and space (0) at 2200 Hz; V.23 channel 1
(ETSI EN 300 659-1) sends mark at 1300 Hz and space at 2100 Hz. Both run at 1200 baud and both
are centred on 1700 Hz, so one receiver serves both:

1. the line is mixed down by 1700 Hz (a 80-entry table: 1700 Hz makes 17 whole cycles in 80
   samples) and low-passed (4th-order Butterworth at 1100 Hz on I and Q), which keeps 600-2800 Hz
   and rejects the mixing image;
2. a frequency discriminator, Im(z[n] z*[n-1]) divided by the local power, gives the
   instantaneous frequency offset: negative for mark, positive for space, whatever the level or
   the line's tilt (a tilt changes the amplitudes of mark and space, not their frequencies);
3. a one-bit moving average (integrate and dump) feeds an asynchronous character receiver that
   finds each start bit's edge to a fraction of a sample and samples every bit in its middle
   (so a ±1 % clock error costs 0.1 bit over a character and is absorbed at each start bit);
4. during idle mark (the "mark signal" before a message), 10 ms correlators at 1200 and 1300 Hz
   (whole cycles in 80 samples, so orthogonal) measure which mark frequency is on the line:
   that is how the caller-ID receiver tells Bell 202 from V.23.

A carrier detector (smoothed baseband power, on at -44 dBm0, off at -47 dBm0) gates the receiver.
The transmitter (`fsk_modulate`) is phase-continuous and computes a whole burst at once with
numpy: caller ID is known in full before it is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from cython_ext import kernel
from cython_ext.levels import sine_peak

__all__ = [
    "FREQUENCIES",
    "FskCharacter",
    "FskError",
    "FskReceiver",
    "async_bits",
    "fsk_modulate",
]

RATE = 8000
BAUD = 1200
#: (mark Hz, space Hz) per standard
FREQUENCIES: dict[str, tuple[float, float]] = {"bell202": (1200.0, 2200.0), "v23": (1300.0, 2100.0)}
EVENT_FRAMING_ERROR = -1
EVENT_CARRIER_LOST = -2


class FskError(ValueError):
    """Bad arguments to the FSK modem (unknown standard, bad bits)."""


class FskCharacter(NamedTuple):
    """One event from the receiver.

    `value`: the character (0..255), or EVENT_FRAMING_ERROR (-1: stop bit was a space) or
    EVENT_CARRIER_LOST (-2). `position`: sample index since the receiver started of the start
    bit's edge. `lead_bits`: idle mark bits seen before this character. `e1200`/`e1300`: energy
    at 1200 Hz and 1300 Hz over that idle run (which mark frequency the sender uses).
    """

    value: int
    position: int
    lead_bits: int
    e1200: float
    e1300: float

    @property
    def mark_standard(self) -> str | None:
        """Standard ("bell202" or "v23") heard in the idle run before this character, or None."""
        if self.e1200 <= 0.0 and self.e1300 <= 0.0:
            return None
        return "bell202" if self.e1200 >= self.e1300 else "v23"


class FskReceiver:
    """Streaming 1200-baud FSK receiver for both Bell 202 and V.23 (see the module docstring).

    Feed blocks of any length to `process`; it returns the characters completed in that block.
    The same signal in blocks of 1, 7, 160 or 8000 samples gives the same characters.
    """

    def __init__(
        self,
        *,
        carrier_on_dbm0: float = -44.0,
        carrier_off_dbm0: float = -47.0,
        impl: str | None = None,
    ) -> None:
        if carrier_off_dbm0 > carrier_on_dbm0:
            raise FskError("carrier_off_dbm0 must not be above carrier_on_dbm0")
        self._rx = kernel("fsk", impl).FskReceiver(carrier_on_dbm0, carrier_off_dbm0)

    def process(self, block: np.ndarray) -> list[FskCharacter]:
        """Demodulate `block` (int16 samples at 8 kHz); return the characters it completes."""
        samples = np.ascontiguousarray(block, dtype=np.int16)
        return [FskCharacter(*ev) for ev in self._rx.process(samples)]

    def reset(self) -> None:
        self._rx.reset()

    @property
    def carrier(self) -> bool:
        """True while an FSK carrier (or anything loud in 600-2800 Hz) is on the line."""
        return bool(self._rx.carrier)

    @property
    def position(self) -> int:
        """Samples processed since start."""
        return int(self._rx.position)


def async_bits(data: Iterable[int], *, stop_bits: int = 1) -> list[int]:
    """Frame bytes for asynchronous transmission: start (0), 8 data bits LSB first, stop (1)."""
    bits: list[int] = []
    for byte in data:
        if not 0 <= byte <= 255:
            raise FskError(f"byte {byte} out of range")
        bits.append(0)
        bits.extend((byte >> i) & 1 for i in range(8))
        bits.extend([1] * stop_bits)
    return bits


def fsk_modulate(
    bits: Sequence[int],
    standard: str = "bell202",
    *,
    level_dbm0: float = -13.5,
    clock_error: float = 0.0,
) -> np.ndarray:
    """Phase-continuous FSK of `bits` at 1200 baud as int16 samples.

    `clock_error` scales every frequency and the baud rate together (0.01 = the sender's clock
    1 % fast), as a real sender with an off-nominal crystal does.
    """
    if standard not in FREQUENCIES:
        raise FskError(f"unknown FSK standard {standard!r}; expected bell202 or v23")
    if not bits:
        return np.zeros(0, dtype=np.int16)
    arr = np.asarray(bits, dtype=np.int64)
    if arr.min() < 0 or arr.max() > 1:
        raise FskError("bits must be 0 or 1")
    mark, space = FREQUENCIES[standard]
    scale = 1.0 + clock_error
    baud = BAUD * scale
    n = int(round(len(arr) * RATE / baud))
    index = np.minimum((np.arange(n) * baud / RATE).astype(np.int64), len(arr) - 1)
    freq = np.where(arr[index] == 1, mark, space) * scale
    phase = np.cumsum(2.0 * np.pi * freq / RATE) - 2.0 * np.pi * freq[0] / RATE
    samples = sine_peak(level_dbm0) * np.sin(phase)
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)
