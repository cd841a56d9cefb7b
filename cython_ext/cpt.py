"""Call-progress detection: dial, ringback, busy, reorder, call waiting, SIT, fax CNG/CED, voice.

How it works, in two layers:

1. The kernel (`_cpt.pyx`, twin `_cpt_ref.py`) runs one Goertzel filter per frequency of interest
   over 10 ms sub-blocks and, every 10 ms, adds the last four sub-blocks coherently (absolute
   phase) into a 40 ms window (25 Hz resolution: 440 and 480 Hz, or 913.8 and 985.2 Hz, stay
   apart). Each window is classed as silence (below -45 dBm0), one of the tone classes (one to
   three frequencies holding at least 75 % of the window's energy, each within 10 dB of the
   strongest, at least -42 dBm0), or "other" (energy that is no known tone: speech, music, noise).
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
LONE_CONFIRM = 1000 * MS  # a lone burst (call waiting) is confirmed by this much quiet after it
SIT_REPEAT = 3000 * MS  # SIT segments again within this time are the same episode
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
    """What the detector expects of one tone: 1 to 3 frequencies and the cadence in ms
    (on, off, on, off, ...); an empty cadence is a steady tone."""

    name: str
    freqs: tuple[float, ...]
    cadence_ms: tuple[int, ...] = ()


def zone_tones(name: str) -> list[CptTone]:
    """What to expect of zone `name`'s dial, ringback, busy, reorder and call-waiting tones.

    Derived from the tone generator's zones (`cython_ext.tones.zone`), so the detector listens
    for exactly what the box (and the networks it copies) plays. A cadence whose steps follow
    each other without a gap on the same frequencies (Australian reorder: 425 Hz alternating
    between two levels) is heard as a steady tone.
    """
    from cython_ext.tones import ToneError, zone

    try:
        tone_zone = zone(name)
    except ToneError as exc:
        raise CptError(str(exc)) from exc
    out: list[CptTone] = []
    for tone_name in ("dial", "ringback", "busy", "reorder", "callwaiting"):
        spec = tone_zone.tone(tone_name)
        steps = spec.steps()
        freqs = tuple(sorted({f for _, _, comps in steps for f, _ in comps}))
        if len(freqs) > 3:
            raise CptError(f"zone {name}: {tone_name} has more than three frequencies")
        cadence: tuple[int, ...] = ()
        if not (len(steps) == 1 and steps[0][0] < 0) and any(off > 0 for _, off, _ in steps):
            cadence = tuple(int(round(v)) for on, off, _ in steps for v in (on, off))
        out.append(CptTone(tone_name, freqs, cadence))
    return out


@dataclass
class _Run:
    start: int
    end: int
    final: bool = False
    lone_checked: bool = False


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
            if len(key) not in (1, 2, 3):
                raise CptError(f"tones of 1 to 3 frequencies only, got {key}")
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
            idx = [freqs.index(f) for f in key] + [-1, -1]
            pairs.append((idx[0], idx[1], idx[2]))
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
                if lone:
                    self._need[tone.name] = 0  # one burst, then at least LONE_CONFIRM of quiet
                else:
                    self._need[tone.name] = 1 if unique and on >= LONG_BURST else 3
        self._tracks: dict[int, _ClassTrack] = {}
        self._recent: list[tuple[int, int, int]] = []  # the last tone runs, for SIT
        self._sit_last = -(10**9)
        self._voice_acc = 0
        self._voice_start = 0
        self._voice_last = -(10**9)
        self._voice_reported = False
        self._voice_run = -1
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
                self._voice(start, end)
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
            for i, run in enumerate(track.runs):
                if run.final and not run.lone_checked:
                    later = i < len(track.runs) - 1
                    gap = track.runs[i + 1].start - run.end if later else now - run.end
                    if not later and current == cls and cur_start > run.end:
                        later, gap = True, cur_start - run.end
                    if later or gap >= LONE_CONFIRM:
                        run.lone_checked = True
                        self._lone_burst(cls, track, run, gap)
            del track.runs[:-8]
        if current >= 2:
            track = self._tracks.setdefault(current, _ClassTrack())
            run_start = cur_start
            if track.runs and cur_start - track.runs[-1].end <= BRIDGE:
                run_start = track.runs[-1].start
            self._steady_check(current, track, run_start, now - run_start)
        if current == OTHER and now - cur_start >= VOICE_RUN_MIN:
            self._voice(cur_start, now, ongoing=True)

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
            if need == 0 or len(intervals) < need:
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

    def _lone_burst(self, cls: int, track: _ClassTrack, run: _Run, gap: int) -> None:
        if gap < LONE_CONFIRM:
            return
        for tone, tcls in self._tones:
            if tcls != cls or self._need.get(tone.name) != 0 or tone.name in track.reported:
                continue
            on = tone.cadence_ms[0]
            if abs(run.end - run.start - on * MS) <= _tol(on):
                track.reported.add(tone.name)
                self._report(run.end + LONE_CONFIRM, CptEvent(tone.name, run.start))

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
        if s1 - self._sit_last > SIT_REPEAT:
            self._report(emitted, CptEvent("sit", s1, sit_kind=kind, sit_code=code))
        self._sit_last = e3
        recent.clear()

    # --- voice ---------------------------------------------------------------------------

    def _voice(self, start: int, end: int, ongoing: bool = False) -> None:
        fresh = start - self._voice_last > VOICE_QUIET
        new_episode = start - self._voice_last > 2 * VOICE_QUIET and start != self._voice_run
        acc = 0 if fresh else self._voice_acc
        first = start if fresh else self._voice_start
        total = acc + (end - start)
        reported = self._voice_reported and not new_episode
        if not ongoing:
            self._voice_acc, self._voice_start, self._voice_last = total, first, end
            self._voice_reported = reported
        if total >= VOICE_MIN and not reported:
            self._voice_reported = True
            self._voice_run = start
            self._report(start + VOICE_MIN - acc, CptEvent("voice", first))
