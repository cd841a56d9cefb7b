"""DTMF (touch-tone) receiver and generator, ITU-T Q.23/Q.24 and Telcordia receiver figures.

Receiver design (the numbers are constants in `_dtmf.pyx` / `_dtmf_ref.py`):

- Every 40-sample sub-block (5 ms) is correlated with the eight DTMF frequencies (complex, one
  multiply-add pair per tone per sample) and its energy summed. The last four sub-blocks form a
  160-sample (20 ms) analysis window, decided every 5 ms.
- A window is a digit when: every sub-block holds >= 60 % of the energy of the fullest one (the
  tone fills the window: this is what makes durations and gaps measurable to a sub-block); in each
  group the strongest tone's frequency, measured from the phase advance between the window's two
  halves, is within 2.5 % of nominal (the midpoint between the 1.5 % that must be accepted and the
  3.5 % that must be rejected); the window is re-summed at the measured frequency so that an
  off-frequency tone loses no level; each tone is >= -38 dBm0; the other tones of each group are
  >= 10 dB down; twist (high minus low) is between -10 and +6 dB; the two tones carry >= 70 % of
  the window's energy; and, on the window that would complete a detection, the pair is not two
  harmonics of one voice (if both are multiples of a pitch >= 110 Hz, every neighbouring
  harmonic must be more than 10 dB below the weaker tone; Hann-windowed Goertzel powers).
- Debouncing: 3 agreeing windows in a row detect a digit (tones of ~31 ms and more are accepted,
  ~26 ms and less rejected); 8 windows without it end the digit (drop-outs up to ~20 ms are
  bridged, gaps of ~29 ms and more separate digits); a different digit held for 3 windows ends
  the current one at once.
- Start and end are estimated to a fraction of a sub-block from the energy of the first and last
  sub-blocks of the first and last valid windows, in samples since the detector started.

Digits are reported when they end (`process()` returns them); `current` shows a digit as soon as
it is validly detected (the media engine reports key-down early); `flush()` ends a digit still
held at the end of the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cython_ext import kernel
from cython_ext.tones import ToneGenerator, ToneSpec

__all__ = ["DTMF_KEYS", "DtmfDetector", "DtmfDigit", "DtmfError", "DtmfGenerator", "dtmf_signal"]

DTMF_KEYS = "123A456B789C*0#D"
LOW_FREQS = (697.0, 770.0, 852.0, 941.0)
HIGH_FREQS = (1209.0, 1336.0, 1477.0, 1633.0)
RATE = 8000


class DtmfError(ValueError):
    """Bad DTMF input: an unknown digit, a bad level or timing, samples that are not int16."""


@dataclass(frozen=True)
class DtmfDigit:
    """One detected digit; `start` and `end` in samples since the detector started (or reset)."""

    digit: str
    start: int
    end: int

    @property
    def start_ms(self) -> float:
        return self.start * 1000.0 / RATE

    @property
    def end_ms(self) -> float:
        return self.end * 1000.0 / RATE


def _as_block(block: np.ndarray) -> np.ndarray:
    arr = np.asarray(block)
    if arr.dtype != np.int16:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise DtmfError(f"DTMF detector needs int16 samples, got {arr.dtype}")
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise DtmfError("DTMF detector: sample out of the 16-bit range")
        arr = arr.astype(np.int16)
    return np.ascontiguousarray(arr.reshape(-1))


class DtmfDetector:
    """DTMF receiver for one channel: feed blocks of any length, get digits as they end."""

    def __init__(self, impl: str | None = None) -> None:
        self._rx = kernel("dtmf", impl).DtmfRx()

    def _digits(self, events: list[tuple[int, float, float]]) -> list[DtmfDigit]:
        return [
            DtmfDigit(DTMF_KEYS[key], int(round(start)), int(round(end)))
            for key, start, end in events
        ]

    def process(self, block: np.ndarray) -> list[DtmfDigit]:
        """Feed int16 samples; returns the digits that ended within them."""
        if not (
            type(block) is np.ndarray
            and block.dtype == np.int16
            and block.ndim == 1
            and block.flags.c_contiguous
        ):
            block = _as_block(block)
        events = self._rx.process(block)
        return self._digits(events) if events else []

    def flush(self) -> list[DtmfDigit]:
        """End of input: returns the digit still held, if any."""
        return self._digits(self._rx.flush())

    @property
    def current(self) -> str | None:
        """The digit held right now (once validly detected), else None."""
        key = int(self._rx.current)
        return None if key < 0 else DTMF_KEYS[key]

    def reset(self) -> None:
        """Forget everything; sample times restart at 0."""
        self._rx.reset()


def dtmf_spec(
    digits: str,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    on_ms: float = 80.0,
    off_ms: float = 80.0,
) -> ToneSpec:
    """The tone spec that dials `digits`: each digit on for `on_ms`, then `off_ms` of silence.

    `level_dbm0` is the low-group tone's level; the high-group tone is `twist_db` above it.
    """
    if on_ms <= 0 or off_ms < 0:
        raise DtmfError(f"DTMF timing must be on > 0 and off >= 0 ms (got {on_ms}, {off_ms})")
    if not -60.0 <= level_dbm0 <= 3.0 or not -20.0 <= twist_db <= 20.0:
        raise DtmfError(f"DTMF level {level_dbm0} dBm0 / twist {twist_db} dB out of range")
    if not digits:
        raise DtmfError("no DTMF digits to dial")
    steps = []
    for ch in digits:
        key = ch.upper()
        if key not in DTMF_KEYS:
            raise DtmfError(f"not a DTMF digit: {ch!r} (expected one of {DTMF_KEYS})")
        k = DTMF_KEYS.index(key)
        comps = ((LOW_FREQS[k // 4], level_dbm0), (HIGH_FREQS[k % 4], level_dbm0 + twist_db))
        steps.append((on_ms, off_ms, comps))
    return ToneSpec((), tuple(steps), False, f"dtmf {digits}")


class DtmfGenerator:
    """Dials a string of DTMF digits as int16 samples, block by block; zeros once `done`."""

    def __init__(
        self,
        digits: str,
        level_dbm0: float = -10.0,
        twist_db: float = 0.0,
        on_ms: float = 80,
        off_ms: float = 80,
        impl: str | None = None,
    ) -> None:
        self.digits = digits
        self._gen = ToneGenerator(dtmf_spec(digits, level_dbm0, twist_db, on_ms, off_ms), impl)

    @property
    def done(self) -> bool:
        return self._gen.done

    def generate(self, n: int) -> np.ndarray:
        return self._gen.generate(n)


def dtmf_signal(
    digits: str,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    on_ms: float = 80,
    off_ms: float = 80,
    impl: str | None = None,
) -> np.ndarray:
    """The whole dialled string as one int16 array (each digit's off time included)."""
    spec = dtmf_spec(digits, level_dbm0, twist_db, on_ms, off_ms)
    n = sum(
        int(round(on * RATE / 1000)) + int(round(off * RATE / 1000)) for on, off, _ in spec.steps()
    )
    return DtmfGenerator(digits, level_dbm0, twist_db, on_ms, off_ms, impl).generate(n)
