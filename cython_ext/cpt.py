"""Call-progress detection: dial, ringback, busy, reorder, call waiting, SIT, fax CNG/CED, voice.

How it works, in two layers:

1. The kernel (`_cpt.pyx`, twin `_cpt_ref.py`) runs one Goertzel filter per frequency of interest
   over 10 ms sub-blocks and, every 10 ms, adds the last four sub-blocks coherently (absolute
   phase) into a 40 ms window (25 Hz resolution: 440 and 480 Hz, or 913.8 and 985.2 Hz, stay
   apart). Each window is classed as silence (below -45 dBm0), one of the tone classes (one or
   two frequencies holding at least 75 % of the window's energy, the two within 10 dB of each
   other, at least -42 dBm0), or "other" (energy that is no known tone: speech, music, noise).
   Runs of one class come out as `(class, start, end)`.
2. This module matches runs against the zone's cadences: gaps of up to 50 ms inside a run are
   bridged; a cadenced tone is recognised when its last intervals (on, off, on) match the
   cadence at any rotation within max(50 ms, 15 %), or, for a long or lone burst (ringback's
   1-2 s, call waiting's single beep), as soon as one burst of the right length ends; a steady
   tone (dial, CED) when it has lasted longer than any burst of the same frequencies in the zone
   (at least 500 ms). SIT is three consecutive single-tone segments (Telcordia SR-2275: 913.8 or
   985.2 Hz, then 1370.6 or 1428.5 Hz, short 274 ms or long 380 ms, then 1776.7 Hz; the ETSI/ITU
   950/1400/1800 Hz form too); the frequencies and lengths of the first two name the SIT.
   "voice" is at least 300 ms of "other" within a stretch without 1 s of quiet.

Tone names: dial, ringback, busy, reorder, callwaiting, cng, ced, sit, voice. Each tone is reported
once per episode (again after its cadence has stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cython_ext import kernel

__all__ = ["CallProgressDetector", "CptError", "CptEvent", "CptTone", "zone_tones", "SIT_KINDS"]

RATE = 8000
MS = RATE // 1000
SILENCE, OTHER = 0, 1
BRIDGE = 50 * MS
VOICE_MIN = 300 * MS
VOICE_RUN_MIN = 60 * MS  # shorter "other" runs are transitions between tones
VOICE_QUIET = 1000 * MS
LONG_BURST = 800 * MS
LONE_BURST_OFF = 2000 * MS
STEADY_MIN = 500 * MS
QUIET_RESET = 6000 * MS  # a class silent this long ends its episode
SIT_GAP = 80 * MS
SIT_LONG = 320 * MS  # measured boundary between short (274 ms) and long (380 ms) segments
SIT1 = (913.8, 985.2, 950.0)
SIT2 = (1370.6, 1428.5, 1400.0)
SIT3 = (1776.7, 1800.0)
CNG_HZ, CED_HZ = 1100.0, 2100.0
# Telcordia SR-2275 SIT codes: (first Hz, first long?, second Hz, second long?) -> (kind, code)
SIT_CODES: dict[tuple[float, bool, float, bool], tuple[str, str]] = {
    (913.8, False, 1370.6, False): ("intercept", "IC"),
    (985.2, True, 1370.6, False): ("vacant", "VC"),
    (913.8, False, 1428.5, True): ("reorder", "RO'"),
    (985.2, False, 1370.6, True): ("reorder", "RO''"),
    (985.2, True, 1428.5, True): ("no_circuit", "NC'"),
    (913.8, True, 1370.6, True): ("no_circuit", "NC''"),
    (913.8, True, 1428.5, False): ("ineffective", "IO"),
    (985.2, False, 1428.5, False): ("reserved", "FU"),
}
SIT_KINDS = (
    "intercept",
    "vacant",
    "reorder",
    "no_circuit",
    "ineffective",
    "reserved",
    "unspecified",
)


class CptError(ValueError):
    """Unknown zone or bad tone description."""


@dataclass(frozen=True)
class CptEvent:
    """A detected call-progress tone. `start`: samples since the detector started.

    For SIT, `sit_kind` names it (intercept, vacant, reorder, no_circuit, ineffective, reserved,
    or unspecified for the ETSI 950/1400/1800 Hz SIT) and `sit_code` gives the SR-2275 code.
    """

    tone: str
    start: int
    sit_kind: str | None = None
    sit_code: str | None = None

    @property
    def start_ms(self) -> float:
        return self.start / MS


@dataclass(frozen=True)
class CptTone:
    """What the detector expects of one tone: frequencies and cadence in ms (on, off, ...);
    an empty cadence is a steady tone."""

    name: str
    freqs: tuple[float, ...]
    cadence_ms: tuple[int, ...] = ()


def _builtin_zone(name: str) -> list[CptTone]:
    # Used only while `cython_ext.tones` (the tone generator's zones) is not available.
    zones: dict[str, list[CptTone]] = {
        "us": [
            CptTone("dial", (350.0, 440.0)),
            CptTone("ringback", (440.0, 480.0), (2000, 4000)),
            CptTone("busy", (480.0, 620.0), (500, 500)),
            CptTone("reorder", (480.0, 620.0), (250, 250)),
            CptTone("callwaiting", (440.0,), (300, 9700)),
        ],
        "uk": [
            CptTone("dial", (350.0, 440.0)),
            CptTone("ringback", (400.0, 450.0), (400, 200, 400, 2000)),
            CptTone("busy", (400.0,), (375, 375)),
            CptTone("reorder", (400.0,), (400, 350, 225, 525)),
            CptTone("callwaiting", (400.0,), (100, 2000)),
        ],
        "de": [
            CptTone("dial", (425.0,)),
            CptTone("ringback", (425.0,), (1000, 4000)),
            CptTone("busy", (425.0,), (480, 480)),
            CptTone("reorder", (425.0,), (240, 240)),
            CptTone("callwaiting", (425.0,), (200, 200, 200, 5000)),
        ],
        "fr": [
            CptTone("dial", (440.0,)),
            CptTone("ringback", (440.0,), (1500, 3500)),
            CptTone("busy", (440.0,), (500, 500)),
            CptTone("reorder", (440.0,), (250, 250)),
            CptTone("callwaiting", (440.0,), (300, 10000)),
        ],
        "au": [
            CptTone("dial", (413.0, 438.0)),
            CptTone("ringback", (413.0, 438.0), (400, 200, 400, 2000)),
            CptTone("busy", (425.0,), (375, 375)),
            CptTone("reorder", (425.0,), (375, 375, 375, 375)),
            CptTone("callwaiting", (425.0,), (200, 200, 200, 4400)),
        ],
        "etsi": [
            CptTone("dial", (425.0,)),
            CptTone("ringback", (425.0,), (1000, 4000)),
            CptTone("busy", (425.0,), (500, 500)),
            CptTone("reorder", (425.0,), (250, 250)),
            CptTone("callwaiting", (425.0,), (200, 200, 200, 4400)),
        ],
    }
    if name not in zones:
        raise CptError(f"unknown tone zone {name!r}; known: {', '.join(zones)}")
    return zones[name]


def zone_tones(name: str) -> list[CptTone]:
    """The call-progress tones of zone `name` (dial, ringback, busy, reorder, callwaiting)."""
    return _builtin_zone(name)


@dataclass
class _Run:
    start: int
    end: int
    final: bool = False


@dataclass
class _ClassTrack:
    runs: list[_Run] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)


def _tol(ms: int) -> int:
    return max(50, ms * 15 // 100) * MS


class CallProgressDetector:
    """Detect call-progress tones of a tone zone (us, uk, de, fr, au, etsi) plus SIT, CNG, CED
    and voice.

    `process(block)` returns the `CptEvent`s recognised in that block, in the order they were
    recognised. Every decision depends only on the runs the kernel reports and their times,
    never on where blocks begin or end, so blocks of any length give the same events.
    """

    def __init__(self, zone: str = "us", impl: str | None = None) -> None:
        self.zone = zone
        tones = zone_tones(zone)
        freqs: list[float] = []
        class_keys: list[tuple[float, ...]] = []

        def klass(fs: tuple[float, ...]) -> int:
            key = tuple(sorted(fs))
            if len(key) not in (1, 2):
                raise CptError(f"tones of 1 or 2 frequencies only, got {key}")
            if key not in class_keys:
                class_keys.append(key)
            return class_keys.index(key) + 2

        self._tones: list[tuple[CptTone, int]] = [(t, klass(t.freqs)) for t in tones]
        self._sit1 = {klass((f,)): f for f in SIT1}
        self._sit2 = {klass((f,)): f for f in SIT2}
        self._sit3 = {klass((f,)) for f in SIT3}
        self._cng = klass((CNG_HZ,))
        self._ced = klass((CED_HZ,))
        pairs = []
        for key in class_keys:
            for f in key:
                if f not in freqs:
                    freqs.append(f)
            pairs.append((freqs.index(key[0]), freqs.index(key[1]) if len(key) == 2 else -1))
        self._analyzer = kernel("cpt", impl).CptAnalyzer(freqs, pairs)
        # steady tones: longer than any burst of the same frequencies in the zone
        self._steady: dict[int, list[tuple[str, int]]] = {self._ced: [("ced", STEADY_MIN)]}
        self._need: dict[str, int] = {}
        for tone, cls in self._tones:
            same = [t for t, c in self._tones if c == cls and t.cadence_ms and t is not tone]
            if not tone.cadence_ms:
                longest = max((max(t.cadence_ms[::2]) for t in same), default=0) * MS
                need = max(STEADY_MIN, longest + 300 * MS)
                self._steady.setdefault(cls, []).append((tone.name, need))
            else:
                on = tone.cadence_ms[0] * MS
                tol = _tol(tone.cadence_ms[0])
                unique = all(abs(t.cadence_ms[0] * MS - on) > tol for t in same)
                lone = len(tone.cadence_ms) == 2 and tone.cadence_ms[1] * MS >= LONE_BURST_OFF
                self._need[tone.name] = 1 if unique and (on >= LONG_BURST or lone) else 3
        self._tracks: dict[int, _ClassTrack] = {}
        self._recent: list[tuple[int, int, int]] = []  # the last tone runs, for SIT
        self._voice_acc = 0
        self._voice_start = 0
        self._voice_last = -(10**9)
        self._voice_reported = False
        self._found: list[tuple[int, CptEvent]] = []  # (sample when recognised, event)

    @property
    def position(self) -> int:
        """Samples processed since start."""
        return int(self._analyzer.position)

    def process(self, block: np.ndarray) -> list[CptEvent]:
        """Feed int16 samples; return the tones recognised in this block."""
        samples = np.ascontiguousarray(block, dtype=np.int16)
        for cls, start, end in self._analyzer.process(samples):
            self._run_ended(int(cls), int(start), int(end))
        self._check(self.position)
        found = sorted(self._found, key=lambda item: (item[0], item[1].tone))
        self._found = []
        return [event for _, event in found]

    def _report(self, when: int, event: CptEvent) -> None:
        self._found.append((when, event))

    # --- runs as the kernel reports them ----------------------------------------------------

    def _run_ended(self, cls: int, start: int, end: int) -> None:
        emitted = end + 2 * 80  # the kernel reports a run two hops after its end
        if cls == OTHER:
            if end - start >= VOICE_RUN_MIN:
                self._voice(start, end, emitted)
            return
        if cls == SILENCE:
            return
        track = self._tracks.setdefault(cls, _ClassTrack())
        if track.runs and start - track.runs[-1].end <= BRIDGE:
            track.runs[-1].end = end
        else:
            if track.runs and start - track.runs[-1].end > QUIET_RESET:
                track.runs.clear()
                track.reported.clear()
            track.runs.append(_Run(start, end))
        run = track.runs[-1]
        cng_length = 350 * MS <= end - run.start <= 800 * MS
        if cls == self._cng and cng_length and "cng" not in track.reported:
            track.reported.add("cng")
            self._report(emitted, CptEvent("cng", run.start))
        self._sit_run(cls, run.start, end, emitted)

    def _check(self, now: int) -> None:
        current = int(self._analyzer.current_class)
        cur_start = int(self._analyzer.current_start)
        for cls, track in self._tracks.items():
            for i, run in enumerate(track.runs):
                if run.final:
                    continue
                resumed = current == cls and cur_start - run.end <= BRIDGE
                if i < len(track.runs) - 1 or (now >= run.end + BRIDGE and not resumed):
                    run.final = True
                    self._final_run(cls, track, i)
            del track.runs[:-8]
        if current >= 2:
            track = self._tracks.setdefault(current, _ClassTrack())
            run_start = cur_start
            if track.runs and cur_start - track.runs[-1].end <= BRIDGE:
                run_start = track.runs[-1].start
            self._steady_check(current, track, run_start, now - run_start)
        if current == OTHER and now - cur_start >= VOICE_RUN_MIN:
            self._voice(cur_start, now, now, ongoing=True)

    def _steady_check(self, cls: int, track: _ClassTrack, start: int, length: int) -> None:
        for name, need in self._steady.get(cls, []):
            if length >= need and name not in track.reported:
                track.reported.add(name)
                self._report(start + need, CptEvent(name, start))

    def _final_run(self, cls: int, track: _ClassTrack, index: int) -> None:
        run = track.runs[index]
        self._steady_check(cls, track, run.start, run.end - run.start)
        intervals: list[int] = []
        for i in range(index + 1):
            intervals.append(track.runs[i].end - track.runs[i].start)
            if i < index:
                intervals.append(track.runs[i + 1].start - track.runs[i].end)
        best: tuple[int, str, int] | None = None
        for tone, tcls in self._tones:
            if tcls != cls or not tone.cadence_ms or tone.name in track.reported:
                continue
            need = self._need[tone.name]
            if len(intervals) < need:
                continue
            window = intervals[-need:]
            pattern = tone.cadence_ms
            for rot in range(0, len(pattern), 2):
                err = 0
                for j, got in enumerate(window):
                    want = pattern[(rot + j) % len(pattern)]
                    if abs(got - want * MS) > _tol(want):
                        break
                    err += abs(got - want * MS)
                else:
                    start = track.runs[index - need // 2].start
                    if best is None or err < best[0]:
                        best = (err, tone.name, start)
        if best is not None:
            # one cadence per episode: busy is not also reported as reorder a moment later
            track.reported.update(t.name for t, c in self._tones if c == cls and t.cadence_ms)
            self._report(run.end + BRIDGE, CptEvent(best[1], best[2]))

    # --- SIT ----------------------------------------------------------------------------

    def _sit_run(self, cls: int, start: int, end: int, emitted: int) -> None:
        recent = self._recent
        if recent and recent[-1][0] == cls and start == recent[-1][1]:
            recent[-1] = (cls, start, end)  # the same run, extended by bridging
        else:
            recent.append((cls, start, end))
            del recent[:-3]
        if cls not in self._sit3 or len(recent) < 3:
            return
        (c1, s1, e1), (c2, s2, e2), (_, s3, e3) = recent
        if c1 not in self._sit1 or c2 not in self._sit2:
            return
        if s2 - e1 > SIT_GAP or s3 - e2 > SIT_GAP or e3 - s3 < 200 * MS:
            return
        f1, f2 = self._sit1[c1], self._sit2[c2]
        kind, code = SIT_CODES.get(
            (f1, e1 - s1 >= SIT_LONG, f2, e2 - s2 >= SIT_LONG), ("unspecified", None)
        )
        if f1 == 950.0 or f2 == 1400.0:
            kind, code = "unspecified", None
        self._report(emitted, CptEvent("sit", s1, sit_kind=kind, sit_code=code))
        recent.clear()

    # --- voice ---------------------------------------------------------------------------

    def _voice(self, start: int, end: int, when: int, ongoing: bool = False) -> None:
        fresh = start - self._voice_last > VOICE_QUIET
        if start - self._voice_last > 2 * VOICE_QUIET:
            self._voice_reported = False  # a new episode after a long quiet
        acc = 0 if fresh else self._voice_acc
        first = start if fresh else self._voice_start
        total = acc + (end - start)
        if not ongoing:
            self._voice_acc, self._voice_start, self._voice_last = total, first, end
        if total >= VOICE_MIN and not self._voice_reported:
            self._voice_reported = True
            self._report(start + VOICE_MIN - acc, CptEvent("voice", first))
