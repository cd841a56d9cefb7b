"""Line echo canceller for analog trunks (ITU-T G.168 performance, G.164/G.165 tone disabler).

Every trunk returns part of what the box sends through the line's hybrid. `EchoCanceller`
removes it: `process(far, near)` takes the block the box sent to the line (`far`, the reference)
and the block that came back (`near`, same length, sample-aligned) and returns the near end with
the echo cancelled. Blocks of any length give the same result (the state is carried per sample).

How it works
------------
- **DC/high-pass** (optional): a first-order high-pass (-3 dB at about 19 Hz) on both far and
  near, so DC on the line never reaches the adaptive filter or the output.
- **Adaptive filter, one tail covering delay and dispersion**: `tail_ms` (default 128 ms =
  1024 taps at 8 kHz, a multiple of 8 ms, 16–512 ms) is one FIR filter that spans the whole
  echo path: a pure delay of up to 64 ms followed by the hybrid's dispersion fits in 128 ms
  whatever its position. The filter is split into 64-tap partitions. Output is produced per
  sample (no added latency) with the time-domain weights; every 64 samples the weights are
  updated in the frequency domain (128-point FFTs, overlap-save gradient constraint):
  the update of every bin is normalised by the far end's power in that bin over the whole tail
  (this whitens speech, which otherwise makes LMS converge slowly) plus a floor of a tenth of
  that power's mean over the bins (so bins where the far end is weak do not turn line noise,
  such as µ-law quantisation noise, into tap noise), and every tap gets an IPNLMS
  proportionate gain (one eighth uniform, seven eighths proportional to |w|, capped at 4) so
  the few taps where a G.168 echo actually lies converge fast; each partition's normaliser is
  weighted by its largest gain, which keeps the block update stable.
- **Two paths** (foreground/background): the adapting *background* filter is never heard. Its
  weights are copied to the *foreground* (the filter whose output goes to the line) when its
  error has been at least 2.2 dB smaller for two frames; it is reset from the foreground when it
  has diverged (error 6 dB above the foreground's and above the near end's power for three
  frames). Double talk may disturb the background; the foreground keeps cancelling, so the near
  end passes unharmed and nothing diverges. When both filters do worse than no filter at all
  for 64 ms, the foreground by more than 1 dB (which double talk hardly ever causes, an echo
  path change does), the background restarts from zero, which re-converges faster than
  unlearning the old path. The step shrinks
  once the background removes more than 16.5 dB (down to 30 %, less misadjustment from line
  noise), and is halved in a frame where double talk was flagged. Adaptation runs only while
  the far end talks (above -42 dBm0 within the tail) and the canceller is enabled. On a copy
  the foreground keeps only the partitions from the first to the last one holding a tap within
  34 dB of the largest, so the output filter (run per sample) spans the echo, not the whole
  tail; the background's output is only needed per frame and is computed by overlap-save in
  the frequency domain (in the compiled kernel; the twin runs it in the time domain, the same
  numbers up to rounding).
- **NLP and comfort noise**: while the far end talks and the error is 6 dB or more below the
  echo estimate (so it can only be residual echo), the output fades (6 ms) to comfort noise,
  white noise at the level of the line's background noise (minimum statistics of the error, rising
  at most 2.5 dB/s); it releases within 1 ms as soon as the error rises (near-end speech).
- **Tone disabler** (G.164/G.165): a 2100 Hz tone holding at least 50 % of the power, louder than
  -36 dBm0, for 400 ms in either direction and then reversing its phase (180 degrees within
  8 ms) disables the canceller (`disabled`, output = near end untouched). It re-enables when
  both directions stay below -36 dBm0 for 250 ms (G.165 3.4.2). A 2100 Hz tone without phase
  reversal (fax, G.164 echo-suppressor disabling) does not disable it.

The compiled kernel (`_echo.pyx`) and the pure-Python twin (`_echo_ref.py`) run the same
algorithm and constants (the kernel imports them from the twin); the kernel keeps the background
filter and the far-end spectra in float32 in a "lane layout" (eight 128-point transforms of two
partitions each per vector operation, pruned FFTs, no bit-reversal pass) with an AVX2/FMA clone
(GCC target_clones, plain x86-64 fallback), the twin runs float64; on speech their int16
outputs agree within 1 LSB.

Limits: one echo path per call within the tail; the NLP decides on power, so near-end speech
more than 6 dB below the echo estimate is treated as echo.
"""

from __future__ import annotations

import math

import numpy as np

from cython_ext import kernel

__all__ = ["EchoCanceller", "EchoCancellerError", "FRAME", "RATE"]

RATE = 8000
FRAME = 64  # samples per adaptation frame and filter partition (8 ms)
MIN_TAIL_MS, MAX_TAIL_MS = 16.0, 512.0


class EchoCancellerError(ValueError):
    """Bad configuration or blocks the canceller cannot take."""


def _as_block(samples: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise EchoCancellerError(f"{name}: expected a 1-D block, got shape {arr.shape}")
    if arr.dtype != np.int16:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise EchoCancellerError(f"{name}: expected int16 samples, got {arr.dtype}")
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise EchoCancellerError(f"{name}: sample out of the 16-bit range")
    return np.ascontiguousarray(arr, dtype=np.int16)


class EchoCanceller:
    """Cancel line echo of one channel; `process(far, near)` per block.

    `tail_ms` is the span of the echo path covered (pure delay plus dispersion), rounded up to a
    multiple of 8 ms. `nlp`, `comfort_noise`, `highpass` and `tone_disable` switch the
    non-linear processor, its comfort noise, the DC/high-pass filter and the 2100 Hz disabler.
    """

    def __init__(
        self,
        tail_ms: float = 128.0,
        nlp: bool = True,
        comfort_noise: bool = True,
        highpass: bool = True,
        tone_disable: bool = True,
        impl: str | None = None,
    ) -> None:
        if not (isinstance(tail_ms, int | float) and math.isfinite(tail_ms)):
            raise EchoCancellerError(f"tail_ms must be a number, got {tail_ms!r}")
        if not MIN_TAIL_MS <= tail_ms <= MAX_TAIL_MS:
            raise EchoCancellerError(
                f"tail_ms {tail_ms} outside {MIN_TAIL_MS:g}–{MAX_TAIL_MS:g} ms"
            )
        taps = int(math.ceil(tail_ms * RATE / 1000.0 / FRAME - 1e-9)) * FRAME
        self.tail_ms = taps * 1000.0 / RATE
        self.taps = taps
        self._impl = kernel("echo", impl).EchoCanceller(
            taps, bool(nlp), bool(comfort_noise), bool(highpass), bool(tone_disable)
        )
        self.blocks_rejected = 0

    def process(self, far: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Return `near` (int16) with the echo of `far` removed; both blocks the same length."""
        try:
            f = _as_block(far, "far")
            n = _as_block(near, "near")
            if f.size != n.size:
                raise EchoCancellerError(
                    f"far and near blocks differ in length ({f.size} vs {n.size})"
                )
        except EchoCancellerError:
            self.blocks_rejected += 1
            raise
        return np.asarray(self._impl.process(f, n), dtype=np.int16)

    def reset(self) -> None:
        """Forget the echo path and all state (a new call)."""
        self._impl.reset()

    @property
    def disabled(self) -> bool:
        """True after a 2100 Hz tone with phase reversals; clears after 250 ms of quiet."""
        return bool(self._impl.disabled)

    @property
    def erle_db(self) -> float:
        """Smoothed echo return loss enhancement of the linear canceller (dB), far-end-only."""
        return float(self._impl.erle_db)

    @property
    def converged(self) -> bool:
        """The linear canceller removes at least 10 dB of echo."""
        return bool(self._impl.converged)

    @property
    def double_talk(self) -> bool:
        """Both ends talking (error above the echo estimate while converged)."""
        return bool(self._impl.double_talk)

    @property
    def nlp_active(self) -> bool:
        """The non-linear processor is suppressing residual echo right now."""
        return bool(self._impl.nlp_active)

    @property
    def foreground_updates(self) -> int:
        """How many times the adapting filter was promoted to the output filter."""
        return int(self._impl.foreground_updates)

    def impulse_response(self) -> np.ndarray:
        """The echo path the canceller models now (float64, `taps` long)."""
        return np.asarray(self._impl.weights(), dtype=np.float64)
