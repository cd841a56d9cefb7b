"""The sounds and signals of the simulated telephone network.

Ring cadences are the card's own (ringing is signalling, not audio). Everything that is audio on
the line comes from the DSP kernels in `cython_ext`, imported lazily at first use so the card
opens (and its tests of other parts run) on a checkout where a kernel has not been built yet:
- DTMF dialled by phones and callers: `cython_ext.dtmf` (`dtmf_signal` or `DtmfGenerator`);
- on-hook caller ID between the first and second ring: `cython_ext.callerid.callerid_signal`;
- reorder and dial tone from the exchange: `cython_ext.tones` (`zone(name)`, `ToneGenerator`);
- line echo: `cython_ext.echo_paths.echo_path` (G.168 Annex D models).
A missing kernel raises `SignalUnavailableError` where the signal is needed; it is never
replaced by silence behind the caller's back.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RATE = 8000

#: DTMF as an analog phone sends it (per tone, dBm0), and its timing (ms)
DTMF_LEVEL_DBM0 = -7.0
DTMF_ON_MS = 100
DTMF_OFF_MS = 100


class SignalUnavailableError(RuntimeError):
    """The DSP kernel that makes this signal is not available in this checkout."""


@dataclass(frozen=True)
class RingCadence:
    """Ring bursts of one zone: alternating on/off seconds, repeated; `cid_gap` is the index of
    the off period after which the first ring ends (caller ID is sent in that gap)."""

    zone: str
    pattern: tuple[float, ...]

    @property
    def period(self) -> float:
        return float(sum(self.pattern))

    @property
    def first_ring_end(self) -> float:
        """Seconds from ring start to the beginning of the cycle's longest silence."""
        longest = max(range(1, len(self.pattern), 2), key=lambda i: self.pattern[i])
        return float(sum(self.pattern[:longest]))

    @property
    def cid_gap(self) -> float:
        """Length of the silence between the first and second ring (seconds)."""
        return float(max(self.pattern[1::2]))


#: ring cadences (on, off, …) in seconds; "us" is Telcordia GR-506 distinctive ring 1.
RING_CADENCES: dict[str, RingCadence] = {
    "us": RingCadence("us", (2.0, 4.0)),
    "ca": RingCadence("ca", (2.0, 4.0)),
    "uk": RingCadence("uk", (0.4, 0.2, 0.4, 2.0)),
    "gb": RingCadence("gb", (0.4, 0.2, 0.4, 2.0)),
    "au": RingCadence("au", (0.4, 0.2, 0.4, 2.0)),
    "de": RingCadence("de", (1.0, 4.0)),
    "fr": RingCadence("fr", (1.5, 3.5)),
    "etsi": RingCadence("etsi", (1.0, 4.0)),
    "eu": RingCadence("eu", (1.0, 4.0)),
    "nl": RingCadence("nl", (1.0, 4.0)),
    "jp": RingCadence("jp", (1.0, 2.0)),
}

#: the caller ID standard each zone's exchange uses by default
CALLERID_STANDARDS: dict[str, str] = {"us": "bell202", "ca": "bell202", "jp": "v23"}
CALLERID_CHOICES = ("bell202", "v23", "dtmf", "off")


def callerid_standard(zone: str) -> str:
    return CALLERID_STANDARDS.get(zone, "v23")


def _kernel_module(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(f"cython_ext.{name}")
    except ImportError as exc:
        raise SignalUnavailableError(
            f"{what} needs cython_ext.{name}, which is not available: {exc}"
        ) from exc


def _int16(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype != np.int16:
        arr = np.clip(np.rint(arr.astype(np.float64)), -32768, 32767).astype(np.int16)
    return arr


@cache
def dtmf_digit(
    digit: str, level_dbm0: float = DTMF_LEVEL_DBM0, on_ms: int = DTMF_ON_MS
) -> np.ndarray:
    """One DTMF digit (`on_ms` of tone, no trailing gap) as int16."""
    dtmf = _kernel_module("dtmf", "DTMF dialling")
    samples = dtmf.DtmfGenerator(digit, level_dbm0, 0.0, on_ms, 0).generate(on_ms * RATE // 1000)
    out = _int16(samples)[: on_ms * RATE // 1000]
    out.setflags(write=False)
    return out


def dtmf_audio(
    digits: str,
    level_dbm0: float = DTMF_LEVEL_DBM0,
    on_ms: int = DTMF_ON_MS,
    off_ms: int = DTMF_OFF_MS,
) -> np.ndarray:
    """Digits as a phone dials them: `on_ms` of tone then `off_ms` of silence per digit."""
    bad = [d for d in digits if d not in "0123456789*#ABCD"]
    if bad:
        raise ValueError(f"cannot dial {digits!r}: {bad[0]!r} is not a DTMF digit")
    gap = np.zeros(off_ms * RATE // 1000, dtype=np.int16)
    parts: list[np.ndarray] = []
    for d in digits:
        parts += [dtmf_digit(d, level_dbm0, on_ms), gap]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def callerid_audio(
    number: str | None,
    name: str | None,
    datetime: str | None,
    standard: str,
) -> np.ndarray:
    """The on-hook caller ID burst (FSK, or DTMF for `standard="dtmf"`) as int16."""
    callerid = _kernel_module("callerid", "caller ID")
    kwargs: dict[str, Any] = {"datetime": datetime, "standard": standard}
    if number in ("O", "P"):
        kwargs["number_absent"] = number
    else:
        kwargs["number"] = number
    if standard != "dtmf":
        if name in ("O", "P"):
            kwargs["name_absent"] = name
        else:
            kwargs["name"] = name
    return _int16(callerid.callerid_signal(**kwargs))


@cache
def exchange_tone(zone: str, name: str, seconds: float) -> np.ndarray:
    """`seconds` of the zone's tone `name` ("reorder", "dial", …) as the exchange plays it."""
    tones = _kernel_module("tones", f"the {name} tone")
    gen = tones.ToneGenerator(tones.zone(zone).tone(name))
    out = _int16(gen.generate(int(seconds * RATE)))
    out.setflags(write=False)
    return out


@cache
def echo_response(model: str, delay_ms: float, erl_db: float) -> np.ndarray:
    """Impulse response of a G.168 Annex D hybrid (float64, 8 kHz), pure delay included."""
    paths = _kernel_module("echo_paths", "line echo")
    h = np.asarray(paths.echo_path(model, delay_ms, erl_db), dtype=np.float64)
    h.setflags(write=False)
    return h


def check_zone(zone: str) -> None:
    """Raise ValueError when the tone kernel does not know `zone` (skipped when it is absent)."""
    try:
        tones = _kernel_module("tones", "exchange tones")
    except SignalUnavailableError:
        return
    tones.zone(zone)


def echo_models() -> tuple[str, ...]:
    return tuple(_kernel_module("echo_paths", "line echo").MODELS)
