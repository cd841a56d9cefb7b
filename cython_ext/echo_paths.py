"""Hybrid echo paths of ITU-T G.168 Annex D (models D.2–D.9) for simulated lines and tests.

The coefficients come from `cython_ext/data/g168_echo_paths.json`, a copy of the project's
shared `../shared/data/g168_echo_paths.json` (the numbers published in G.168 Annex D, also
shipped in Debian's libspandsp-dev as `g168models.h`); the copy lives in the repository so the
box and CI do not depend on a folder outside it.

`echo_path()` turns a model into an impulse response at 8 kHz: the integer coefficients times
the model's gain K, normalised, moved behind a pure delay of 0–64 ms and scaled to an echo
return loss (ERL) of 6–20 dB. ERL is defined, like G.168's, for a speech-like signal: the path's
power gain averaged over a reference long-term speech spectrum (flat 200–800 Hz, falling
6 dB/octave from 800 to 3400 Hz, nothing outside; `SPEECH_WEIGHTING`). Normalising by plain
energy instead (the loss white noise sees) would give D.6 only 2–3 dB of loss for real speech at
a nominal 6 dB; with this weighting espeak-ng speech sees the nominal ERL within 2 dB
on all eight models (`speech_erl_db()` measures it).

`LineEcho` is the stateful convolver the simulated telephone line uses: it applies a path
blockwise (blocks of any length give the same result) to what the box transmits and returns the
echo that comes back; `change()` swaps the path mid-call (G.168 echo path change) keeping the
signal history.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources

import numpy as np

__all__ = [
    "EchoPathError",
    "LineEcho",
    "MODELS",
    "RATE",
    "echo_path",
    "model_coefficients",
    "speech_weighted_gain",
    "speech_erl_db",
]

RATE = 8000
MODELS = ("D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9")
MAX_DELAY_MS = 64.0
ERL_RANGE_DB = (6.0, 20.0)
SPEECH_WEIGHTING = "flat 200-800 Hz, -6 dB/octave 800-3400 Hz"
_NFFT = 4096


class EchoPathError(ValueError):
    """An unknown model or a delay/ERL outside what G.168 Annex D lines cover."""


@cache
def _table() -> dict[str, tuple[float, tuple[int, ...]]]:
    text = resources.files("cython_ext").joinpath("data/g168_echo_paths.json").read_text()
    models = json.loads(text)["models"]
    return {
        name: (float(m["gain"]), tuple(int(c) for c in m["coeffs"])) for name, m in models.items()
    }


def model_coefficients(model: str) -> np.ndarray:
    """The model's published coefficients times its gain K (float64, un-normalised)."""
    name = model.upper().replace(".", "")
    table = _table()
    if name not in table:
        raise EchoPathError(f"unknown G.168 echo path model {model!r}; expected one of {MODELS}")
    gain, coeffs = table[name]
    return np.asarray(coeffs, dtype=np.float64) * gain


def echo_path(model: str = "D2", delay_ms: float = 0.0, erl_db: float = 6.0) -> np.ndarray:
    """Impulse response (float64, 8 kHz) of G.168 model `model` behind `delay_ms` of pure delay.

    The delay is rounded to whole samples (0–64 ms); the response is scaled so that its energy is
    `10**(-erl_db/10)` (ERL 6–20 dB). Length: delay samples + the model's length.
    """
    if not 0.0 <= delay_ms <= MAX_DELAY_MS:
        raise EchoPathError(f"pure delay {delay_ms} ms outside 0–{MAX_DELAY_MS:g} ms")
    lo, hi = ERL_RANGE_DB
    if not lo <= erl_db <= hi:
        raise EchoPathError(f"echo return loss {erl_db} dB outside {lo:g}–{hi:g} dB")
    h = model_coefficients(model)
    h = h / math.sqrt(speech_weighted_gain(h)) * 10.0 ** (-erl_db / 20.0)
    delay = int(round(delay_ms * RATE / 1000.0))
    return np.concatenate([np.zeros(delay), h])


def speech_weighted_gain(h: np.ndarray) -> float:
    """Power gain of impulse response `h` averaged over the reference speech spectrum."""
    freqs = np.fft.rfftfreq(_NFFT, 1.0 / RATE)
    weight = np.where(freqs < 800.0, 1.0, (800.0 / np.maximum(freqs, 1.0)) ** 2)
    weight[(freqs < 200.0) | (freqs > 3400.0)] = 0.0
    power = np.abs(np.fft.rfft(np.asarray(h, dtype=np.float64), _NFFT)) ** 2
    return float(np.sum(power * weight) / np.sum(weight))


def speech_erl_db(h: np.ndarray, speech: np.ndarray) -> float:
    """The ERL that `speech` actually sees through path `h` (power in / power out, dB)."""
    x = np.asarray(speech, dtype=np.float64)
    y = np.convolve(x, np.asarray(h, dtype=np.float64))[: x.size]
    return 10.0 * math.log10(float(np.sum(x * x)) / float(np.sum(y * y)))


class LineEcho:
    """A telephone line's echo: convolves the transmitted signal with a G.168 echo path.

    `process(tx)` takes a block of any length (int16 or float) and returns the echo (float64) that
    comes back in the same samples; the caller adds the far party's speech and line noise and
    rounds to int16.
    """

    def __init__(self, model: str = "D2", delay_ms: float = 0.0, erl_db: float = 6.0) -> None:
        self._h = echo_path(model, delay_ms, erl_db)
        self._history = np.zeros(int(MAX_DELAY_MS * RATE / 1000) + 512)
        self.model, self.delay_ms, self.erl_db = model, delay_ms, erl_db

    @property
    def impulse_response(self) -> np.ndarray:
        return self._h.copy()

    def change(
        self, model: str, delay_ms: float | None = None, erl_db: float | None = None
    ) -> None:
        """Switch to another path from the next sample on (the signal history is kept)."""
        delay = self.delay_ms if delay_ms is None else delay_ms
        erl = self.erl_db if erl_db is None else erl_db
        self._h = echo_path(model, delay, erl)
        self.model, self.delay_ms, self.erl_db = model, delay, erl

    def reset(self) -> None:
        self._history[:] = 0.0

    def process(self, tx: np.ndarray) -> np.ndarray:
        x = np.asarray(tx, dtype=np.float64).reshape(-1)
        taps = self._h.size
        keep = taps - 1
        full = np.concatenate([self._history[self._history.size - keep :], x])
        echo = np.convolve(full, self._h, mode="valid") if keep else full * self._h[0]
        self._history = np.concatenate([self._history, x])[-self._history.size :]
        return echo
