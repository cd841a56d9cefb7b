"""Call-progress detector (cython_ext.cpt): zone tones from `cython_ext.tones`, SIT per Telcordia
SR-2275 (and the ITU-T Q.35 950/1400/1800 Hz form), fax CNG/CED (ITU-T T.30), voice.

Tone signals come from the box's own tone generator (`cython_ext.tones`); every kernel test runs
on the compiled kernel and the reference twin.
"""

from __future__ import annotations

import numpy as np
import pytest
from callerid_line import add_noise, in_blocks, to_int16

from cython_ext import cpt, tones
from cython_ext.levels import sine_peak

RATE = 8000
MS = 8
ZONES = ["us", "uk", "de", "fr", "au", "etsi"]
CADENCED = ["dial", "ringback", "busy", "reorder", "callwaiting"]


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * MS, dtype=np.float64)


def tone(freqs: tuple[float, ...], ms: int, level: float = -20.0) -> np.ndarray:
    n = np.arange(ms * MS)
    return np.asarray(
        sum(sine_peak(level) * np.sin(2 * np.pi * f * n / RATE) for f in freqs), dtype=np.float64
    )


def zone_tone(zone: str, name: str, seconds: float = 7.0) -> np.ndarray:
    spec = tones.zone(zone).tone(name)
    return tones.tone_signal(spec, seconds, impl="reference").astype(np.float64)


def detect(signal: np.ndarray, zone: str = "us", impl: str = "compiled") -> list[cpt.CptEvent]:
    return cpt.CallProgressDetector(zone, impl=impl).process(to_int16(signal))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("name", CADENCED)
def test_e180_zone_tones_are_recognised_by_name_and_start(zone: str, name: str) -> None:
    events = detect(np.concatenate([silence(200), zone_tone(zone, name)]), zone)
    assert [e.tone for e in events] == [name]
    assert abs(events[0].start_ms - 200) <= 20


@pytest.mark.parametrize("name", CADENCED)
def test_reference_twin_recognises_the_us_tones(name: str) -> None:
    events = detect(np.concatenate([silence(200), zone_tone("us", name)]), "us", "reference")
    assert [e.tone for e in events] == [name]


@pytest.mark.parametrize(
    ("first", "second", "kind", "code"),
    [
        ((913.8, 274), (1370.6, 274), "intercept", "IC"),
        ((985.2, 380), (1370.6, 274), "vacant", "VC"),
        ((913.8, 274), (1428.5, 380), "reorder", "RO'"),
        ((985.2, 274), (1370.6, 380), "reorder", "RO''"),
        ((985.2, 380), (1428.5, 380), "no_circuit", "NC'"),
        ((913.8, 380), (1370.6, 380), "no_circuit", "NC''"),
        ((913.8, 380), (1428.5, 274), "ineffective", "IO"),
    ],
)
def test_sr2275_sit_segments_name_the_sit(
    dsp_impl: str, first: tuple, second: tuple, kind: str, code: str
) -> None:
    sig = np.concatenate(
        [
            silence(300),
            tone((first[0],), first[1], -24.0),
            tone((second[0],), second[1], -24.0),
            tone((1776.7,), 380, -24.0),
            silence(400),
        ]
    )
    events = detect(sig, "us", dsp_impl)
    assert [(e.tone, e.sit_kind, e.sit_code) for e in events] == [("sit", kind, code)]
    assert abs(events[0].start_ms - 300) <= 20


def test_q35_sit_950_1400_1800_is_reported_once_per_episode() -> None:
    events = detect(np.concatenate([silence(100), zone_tone("etsi", "sit", 8.0)]), "etsi")
    assert [(e.tone, e.sit_kind) for e in events] == [("sit", "unspecified")]


def test_t30_cng_and_ced(dsp_impl: str) -> None:
    cng = np.concatenate([silence(100)] + [tone((1100.0,), 500), silence(3000)] * 2)
    assert [e.tone for e in detect(cng, "us", dsp_impl)] == ["cng"]
    ced = np.concatenate([silence(100), tone((2100.0,), 3000), silence(200)])
    events = detect(ced, "us", dsp_impl)
    assert [e.tone for e in events] == ["ced"]
    assert abs(events[0].start_ms - 100) <= 20


def test_ced_with_v25_phase_reversals_is_one_ced() -> None:
    n = np.arange(3000 * MS)
    phase = np.pi * ((n // (450 * MS)) % 2)  # ANSam/ V.25 phase reversal every 450 ms
    ced = sine_peak(-15.0) * np.sin(2 * np.pi * 2100 * n / RATE + phase)
    assert [e.tone for e in detect(ced)] == ["ced"]


@pytest.mark.parametrize("zone", ["us", "de"])
def test_busy_and_reorder_are_told_apart_by_cadence_alone(zone: str) -> None:
    busy = detect(zone_tone(zone, "busy"), zone)
    reorder = detect(zone_tone(zone, "reorder"), zone)
    assert [e.tone for e in busy] == ["busy"]
    assert [e.tone for e in reorder] == ["reorder"]


def test_cadence_ten_percent_off_nominal_still_matches() -> None:
    bursts = [tone((480.0, 620.0), 550), silence(450)] * 4  # busy 500/500 at +10 % / -10 %
    assert [e.tone for e in detect(np.concatenate(bursts))] == ["busy"]


def test_tones_at_minus_35_dbm0_in_noise_are_recognised() -> None:
    sig = np.concatenate([silence(300), zone_tone("us", "busy")]) * 10 ** ((-35 + 24) / 20)
    noisy = add_noise(sig, 15.0, -35.0, seed=4)
    assert [e.tone for e in detect(noisy)] == ["busy"]


def test_tone_below_minus_45_dbm0_is_silence() -> None:
    sig = zone_tone("us", "dial") * 10 ** ((-50 + 13) / 20)
    assert detect(sig) == []


def test_voice_answers_after_ringback(dsp_impl: str) -> None:
    from corpus import speech_corpus

    speech = speech_corpus(120)[: 4 * RATE].astype(np.float64)
    sig = np.concatenate([silence(200), zone_tone("us", "ringback", 6.0), speech])
    events = detect(sig, "us", dsp_impl)
    assert [e.tone for e in events] == ["ringback", "voice"]
    assert events[1].start_ms >= 6200 - 20


@pytest.mark.parametrize("size", [1, 7, 160, 8000])
def test_blocks_of_any_length_give_the_same_events(dsp_impl: str, size: int) -> None:
    from corpus import speech_corpus

    sig = np.concatenate(
        [
            silence(300),
            zone_tone("us", "busy", 3.0),
            silence(500),
            tone((913.8,), 274),
            tone((1370.6,), 274),
            tone((1776.7,), 380),
            speech_corpus(120)[: 2 * RATE].astype(np.float64),
        ]
    )
    samples = to_int16(add_noise(sig, 35.0, -20.0, seed=2))  # line noise at -55 dBm0
    whole = cpt.CallProgressDetector("us", impl=dsp_impl).process(samples)
    assert [e.tone for e in whole] == ["busy", "sit", "voice"]
    det = cpt.CallProgressDetector("us", impl=dsp_impl)
    assert in_blocks(det.process, samples, size) == whole


def test_compiled_kernel_and_twin_give_the_same_runs() -> None:
    from cython_ext import _cpt, _cpt_ref

    sig = to_int16(add_noise(zone_tone("uk", "reorder", 3.0), 10.0, -13.0, seed=1))
    freqs = [400.0, 450.0, 350.0, 440.0]
    classes = [(0, -1, -1), (0, 1, -1), (2, 3, -1)]
    a = _cpt.CptAnalyzer(freqs, classes).process(sig)
    b = _cpt_ref.CptAnalyzer(freqs, classes).process(sig)
    assert a == b and len(a) >= 6


def test_no_false_tones_in_20_minutes_of_speech_and_the_music_on_hold() -> None:
    # talk-off: the corpus of tests/dsp/corpus.py (espeak-ng voices, asterisk-moh-opsound-wav)
    from corpus import moh_corpus, moh_seconds_available, speech_corpus

    speech = speech_corpus(1200)
    music = moh_corpus(moh_seconds_available())
    for zone in ZONES:
        for name, audio in (("speech", speech), ("music", music)):
            events = cpt.CallProgressDetector(zone).process(audio)
            false = [(e.tone, e.start_ms) for e in events if e.tone != "voice"]
            assert false == [], f"{zone} {name}"
            assert any(e.tone == "voice" for e in events)


def test_unknown_zone_is_an_error() -> None:
    with pytest.raises(cpt.CptError, match="zone"):
        cpt.CallProgressDetector("xx")
