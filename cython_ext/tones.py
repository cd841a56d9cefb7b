"""Call-progress tones: what a tone is (`ToneSpec`), national tone zones, and the generator.

A `ToneSpec` is data: components `(freq_hz, level_dbm0)` played together, a cadence of
`(on_ms, off_ms)` steps (a step may carry its own components as a third item, for sequences such
as the special information tone), and whether the cadence repeats. An empty cadence is a
continuous tone. Amplitude-modulated tones (Australian ringback: 425 Hz modulated by 25 Hz) are
written as their carrier and two sidebands.

`ToneGenerator(spec)` plays a spec as int16 samples at 8 kHz, block by block (`generate(n)`);
`done` turns true after the last step of a non-repeating spec and the generator then gives zeros.

Tone zones (`zone("us")` etc.) hold dial, ringback, busy, reorder (congestion), call waiting and
SIT for a country, from ITU-T E.180 Supplement 2 ("Various tones used in national networks") and
the national documents it summarises; see cython_ext/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cython_ext import kernel
from cython_ext.levels import sine_peak

__all__ = [
    "ToneError",
    "ToneGenerator",
    "ToneSpec",
    "ToneZone",
    "beep",
    "zone",
    "zone_names",
]

RATE = 8000
MAX_COMPONENTS = 4

Component = tuple[float, float]  # (freq_hz, level_dbm0)


class ToneError(ValueError):
    """A tone spec or zone that cannot be played or does not exist."""


@dataclass(frozen=True)
class ToneSpec:
    """A tone: components played together, a cadence and a repeat flag.

    `cadence` items are `(on_ms, off_ms)` using `components`, or `(on_ms, off_ms, components)`
    for a step with its own frequencies (SIT). `()` means continuous.
    """

    components: tuple[Component, ...]
    cadence: tuple[tuple, ...] = ()
    repeat: bool = True
    name: str = ""

    def steps(self) -> list[tuple[float, float, tuple[Component, ...]]]:
        """The cadence as `(on_ms, off_ms, components)`; on_ms = -1 for a continuous tone."""
        if not self.cadence:
            return [(-1.0, 0.0, self.components)]
        out = []
        for item in self.cadence:
            if len(item) == 2:
                out.append((float(item[0]), float(item[1]), self.components))
            elif len(item) == 3:
                out.append((float(item[0]), float(item[1]), tuple(item[2])))
            else:
                raise ToneError(
                    f"{self.name or 'tone'}: cadence step {item!r} is not (on, off[, comps])"
                )
        return out

    def frequencies(self) -> tuple[float, ...]:
        """Every distinct frequency the tone uses (for detectors)."""
        seen: list[float] = []
        for _, _, comps in self.steps():
            for f, _ in comps:
                if f not in seen:
                    seen.append(f)
        return tuple(seen)

    def period_ms(self) -> float:
        """Length of one cadence cycle (0 for a continuous tone)."""
        return 0.0 if not self.cadence else sum(on + off for on, off, _ in self.steps())


@dataclass(frozen=True)
class ToneZone:
    """A country's call-progress tones."""

    name: str
    description: str
    dial: ToneSpec
    ringback: ToneSpec
    busy: ToneSpec
    reorder: ToneSpec
    callwaiting: ToneSpec
    sit: ToneSpec
    aliases: tuple[str, ...] = field(default=())

    @property
    def congestion(self) -> ToneSpec:
        return self.reorder

    def tone(self, name: str) -> ToneSpec:
        """A tone by name: dial, ringback, busy, reorder (or congestion), callwaiting, sit."""
        if name == "congestion":
            name = "reorder"
        if name not in TONE_NAMES:
            raise ToneError(f"unknown tone {name!r}; expected one of {', '.join(TONE_NAMES)}")
        return getattr(self, name)


TONE_NAMES = ("dial", "ringback", "busy", "reorder", "callwaiting", "sit")


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _one(freq: float, level: float) -> tuple[Component, ...]:
    return ((freq, level),)


def _sit_itu(level: float = -24.0) -> ToneSpec:
    """ITU-T E.180 §7 / Q.35: 950, 1400, 1800 Hz, 330 ms each, then 1 s silence, repeated."""
    return ToneSpec(
        (),
        (
            (330.0, 0.0, _one(950.0, level)),
            (330.0, 0.0, _one(1400.0, level)),
            (330.0, 1000.0, _one(1800.0, level)),
        ),
        True,
        "sit",
    )


def _us() -> ToneZone:
    # Telcordia GR-506 / "precise tone plan": levels per frequency in dBm0.
    # SIT (GR-1162, "intercept" variant): 913.8 Hz short, 1370.6 Hz short, 1776.7 Hz long.
    return ToneZone(
        "us",
        "United States / Canada (Telcordia precise tone plan)",
        dial=ToneSpec(((350.0, -13.0), (440.0, -13.0)), (), True, "dial"),
        ringback=ToneSpec(((440.0, -19.0), (480.0, -19.0)), ((2000.0, 4000.0),), True, "ringback"),
        busy=ToneSpec(((480.0, -24.0), (620.0, -24.0)), ((500.0, 500.0),), True, "busy"),
        reorder=ToneSpec(((480.0, -24.0), (620.0, -24.0)), ((250.0, 250.0),), True, "reorder"),
        callwaiting=ToneSpec(_one(440.0, -13.0), ((300.0, 9700.0),), True, "callwaiting"),
        sit=ToneSpec(
            (),
            (
                (274.0, 0.0, _one(913.8, -24.0)),
                (274.0, 0.0, _one(1370.6, -24.0)),
                (380.0, 0.0, _one(1776.7, -24.0)),
            ),
            False,
            "sit",
        ),
        aliases=("ca", "nanp"),
    )


def _uk() -> ToneZone:
    # BT SIN 350 as summarised in E.180 Suppl. 2.
    return ToneZone(
        "uk",
        "United Kingdom (BT SIN 350)",
        dial=ToneSpec(((350.0, -13.0), (440.0, -13.0)), (), True, "dial"),
        ringback=ToneSpec(
            ((400.0, -19.0), (450.0, -19.0)), ((400.0, 200.0), (400.0, 2000.0)), True, "ringback"
        ),
        busy=ToneSpec(_one(400.0, -13.0), ((375.0, 375.0),), True, "busy"),
        reorder=ToneSpec(_one(400.0, -13.0), ((400.0, 350.0), (225.0, 525.0)), True, "reorder"),
        callwaiting=ToneSpec(_one(400.0, -13.0), ((100.0, 3000.0),), True, "callwaiting"),
        sit=_sit_itu(),
        aliases=("gb",),
    )


def _de() -> ToneZone:
    # Deutsche Telekom 1TR110 / E.180 Suppl. 2: 425 Hz.
    return ToneZone(
        "de",
        "Germany (Deutsche Telekom, 425 Hz)",
        dial=ToneSpec(_one(425.0, -13.0), (), True, "dial"),
        ringback=ToneSpec(_one(425.0, -13.0), ((1000.0, 4000.0),), True, "ringback"),
        busy=ToneSpec(_one(425.0, -13.0), ((480.0, 480.0),), True, "busy"),
        reorder=ToneSpec(_one(425.0, -13.0), ((240.0, 240.0),), True, "reorder"),
        callwaiting=ToneSpec(
            _one(425.0, -13.0), ((200.0, 200.0), (200.0, 5000.0)), True, "callwaiting"
        ),
        sit=_sit_itu(),
    )


def _fr() -> ToneZone:
    # France Télécom / E.180 Suppl. 2: 440 Hz.
    return ToneZone(
        "fr",
        "France (440 Hz)",
        dial=ToneSpec(_one(440.0, -13.0), (), True, "dial"),
        ringback=ToneSpec(_one(440.0, -13.0), ((1500.0, 3500.0),), True, "ringback"),
        busy=ToneSpec(_one(440.0, -13.0), ((500.0, 500.0),), True, "busy"),
        reorder=ToneSpec(_one(440.0, -13.0), ((250.0, 250.0),), True, "reorder"),
        callwaiting=ToneSpec(_one(440.0, -13.0), ((300.0, 10000.0),), True, "callwaiting"),
        sit=_sit_itu(),
    )


def _au() -> ToneZone:
    # Telstra / ACIF S002 as in E.180 Suppl. 2: 425 Hz; dial and ringback are 425 Hz modulated by
    # 25 Hz (100 %): carrier plus sidebands at 400 and 450 Hz, 6 dB below the carrier.
    am = ((425.0, -13.0), (400.0, -19.0), (450.0, -19.0))
    return ToneZone(
        "au",
        "Australia (Telstra, 425 Hz, 25 Hz modulation)",
        dial=ToneSpec(am, (), True, "dial"),
        ringback=ToneSpec(am, ((400.0, 200.0), (400.0, 2000.0)), True, "ringback"),
        busy=ToneSpec(_one(425.0, -13.0), ((375.0, 375.0),), True, "busy"),
        reorder=ToneSpec(
            (),
            ((375.0, 0.0, _one(425.0, -13.0)), (375.0, 0.0, _one(425.0, -23.0))),
            True,
            "reorder",
        ),
        callwaiting=ToneSpec(
            _one(425.0, -13.0), ((200.0, 200.0), (200.0, 4400.0)), True, "callwaiting"
        ),
        sit=_sit_itu(),
    )


def _etsi() -> ToneZone:
    # ETSI ES 201 970 / TR 101 041-2 recommended tones (425 Hz).
    return ToneZone(
        "etsi",
        "ETSI default (ES 201 970, 425 Hz)",
        dial=ToneSpec(_one(425.0, -13.0), (), True, "dial"),
        ringback=ToneSpec(_one(425.0, -13.0), ((1000.0, 4000.0),), True, "ringback"),
        busy=ToneSpec(_one(425.0, -13.0), ((500.0, 500.0),), True, "busy"),
        reorder=ToneSpec(_one(425.0, -13.0), ((250.0, 250.0),), True, "reorder"),
        callwaiting=ToneSpec(
            _one(425.0, -13.0), ((200.0, 200.0), (200.0, 9000.0)), True, "callwaiting"
        ),
        sit=_sit_itu(),
        aliases=("eu",),
    )


_ZONES: dict[str, ToneZone] = {z.name: z for z in (_us(), _uk(), _de(), _fr(), _au(), _etsi())}
_ALIASES: dict[str, str] = {a: z.name for z in _ZONES.values() for a in z.aliases}


def zone_names() -> tuple[str, ...]:
    """The zones known, by their canonical name."""
    return tuple(_ZONES)


def zone(name: str) -> ToneZone:
    """The tone zone called `name` (case-insensitive; "ca", "gb", "eu" are aliases)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _ZONES:
        raise ToneError(f"unknown tone zone {name!r}; known: {', '.join(_ZONES)}")
    return _ZONES[key]


def beep(freq_hz: float = 1000.0, ms: float = 200.0, level_dbm0: float = -13.0) -> ToneSpec:
    """A single short beep (the nailed-up agent's "call coming" alert): plays once."""
    return ToneSpec(_one(freq_hz, level_dbm0), ((ms, 0.0),), False, "beep")


def _samples(ms: float) -> int:
    return -1 if ms < 0 else int(round(ms * RATE / 1000.0))


class ToneGenerator:
    """Plays a `ToneSpec` as int16 samples, block by block."""

    def __init__(self, spec: ToneSpec, impl: str | None = None) -> None:
        steps = spec.steps()
        on, off, freqs, amps = [], [], [], []
        for i, (on_ms, off_ms, comps) in enumerate(steps):
            if len(comps) > MAX_COMPONENTS:
                raise ToneError(f"{spec.name or 'tone'} step {i}: more than {MAX_COMPONENTS} tones")
            if off_ms < 0 or (on_ms < 0 and len(steps) > 1):
                raise ToneError(f"{spec.name or 'tone'} step {i}: negative duration")
            for f, _ in comps:
                if not 0.0 <= f < RATE / 2:
                    raise ToneError(f"{spec.name or 'tone'}: {f} Hz is outside 0..4000 Hz")
            on.append(_samples(on_ms))
            off.append(_samples(off_ms))
            freqs.append([float(f) for f, _ in comps])
            amps.append([sine_peak(level) for _, level in comps])
        self.spec = spec
        self._tx = kernel("tones", impl).ToneTx(on, off, freqs, amps, spec.repeat)

    @property
    def done(self) -> bool:
        """True once a non-repeating tone has played to its end."""
        return bool(self._tx.done)

    def generate(self, n: int) -> np.ndarray:
        """The next `n` samples (zeros once done)."""
        if n < 0:
            raise ToneError("cannot generate a negative number of samples")
        return np.asarray(self._tx.generate(int(n)), dtype=np.int16)


def tone_signal(spec: ToneSpec, seconds: float, impl: str | None = None) -> np.ndarray:
    """`seconds` of `spec` as one int16 array (convenience for tools and tests)."""
    return ToneGenerator(spec, impl=impl).generate(int(round(seconds * RATE)))
