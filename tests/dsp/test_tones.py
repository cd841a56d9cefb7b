"""Tone generation (issue 3): ToneSpec, tone zones (ITU-T E.180 Suppl. 2), the generator, and
DTMF generation at configurable level and timing, checked by measurement and by spandsp.
"""

from __future__ import annotations

import numpy as np
import pytest
import spandsp_dtmf

from cython_ext import dtmf, tones
from cython_ext.levels import level_dbm0, sine_peak

RATE = 8000


def tone_level(x: np.ndarray, freq: float) -> float:
    """Level in dBm0 of the component at `freq` (correlation over whole periods of the signal)."""
    n = np.arange(len(x))
    c = np.abs(np.dot(x.astype(np.float64), np.exp(-2j * np.pi * freq * n / RATE))) * 2 / len(x)
    return 20 * np.log10(c / sine_peak(0.0))


def on_runs(x: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each burst, to within a sample: a sine starting at phase 0 has a zero
    first sample, so bursts are read from the first to the last non-zero sample, then rounded
    to the 8-sample (1 ms) grid every cadence in these tests is on."""
    nz = np.nonzero(x)[0]
    if nz.size == 0:
        return []
    cuts = np.nonzero(np.diff(nz) > 16)[0]
    firsts = np.concatenate([[nz[0]], nz[cuts + 1]])
    lasts = np.concatenate([nz[cuts], [nz[-1]]])
    return [
        (int(round(f / 8) * 8), int(round((last + 1 - f) / 8) * 8))
        for f, last in zip(firsts, lasts, strict=True)
    ]


def test_zones_cover_us_uk_de_fr_au_etsi_with_every_tone() -> None:
    assert set(tones.zone_names()) >= {"us", "uk", "de", "fr", "au", "etsi"}
    for name in tones.zone_names():
        z = tones.zone(name)
        for t in tones.TONE_NAMES:
            spec = z.tone(t)
            assert isinstance(spec, tones.ToneSpec) and spec.frequencies(), (name, t)
        assert z.congestion is z.reorder


def test_e180_us_precise_tones() -> None:
    us = tones.zone("US")
    assert us.dial.components == ((350.0, -13.0), (440.0, -13.0)) and us.dial.cadence == ()
    assert us.ringback.frequencies() == (440.0, 480.0) and us.ringback.cadence == (
        (2000.0, 4000.0),
    )
    assert us.busy.frequencies() == (480.0, 620.0) and us.busy.cadence == ((500.0, 500.0),)
    assert us.reorder.cadence == ((250.0, 250.0),)
    assert us.sit.frequencies() == (913.8, 1370.6, 1776.7) and not us.sit.repeat
    assert tones.zone("ca") is us


def test_e180_european_zones_use_425_or_440_hz_and_itu_sit() -> None:
    assert tones.zone("de").dial.frequencies() == (425.0,)
    assert tones.zone("de").busy.cadence == ((480.0, 480.0),)
    assert tones.zone("fr").dial.frequencies() == (440.0,)
    assert tones.zone("etsi").busy.cadence == ((500.0, 500.0),)
    assert tones.zone("uk").ringback.frequencies() == (400.0, 450.0)
    assert tones.zone("uk").ringback.cadence == ((400.0, 200.0), (400.0, 2000.0))
    for name in ("uk", "de", "fr", "au", "etsi"):
        assert tones.zone(name).sit.frequencies() == (950.0, 1400.0, 1800.0)


def test_unknown_zone_or_tone_is_a_clear_error() -> None:
    with pytest.raises(tones.ToneError, match="unknown tone zone"):
        tones.zone("atlantis")
    with pytest.raises(tones.ToneError, match="unknown tone"):
        tones.zone("us").tone("howler")


def test_us_busy_generated_with_cadence_frequencies_and_levels(dsp_impl: str) -> None:
    x = tones.ToneGenerator(tones.zone("us").busy, impl=dsp_impl).generate(3 * RATE)
    runs = on_runs(x)
    assert [r[0] for r in runs] == [0, 8000, 16000] and all(abs(r[1] - 4000) <= 8 for r in runs)
    burst = x[:4000]
    assert abs(tone_level(burst, 480.0) + 24.0) < 0.1
    assert abs(tone_level(burst, 620.0) + 24.0) < 0.1
    assert tone_level(burst, 440.0) < -60


def test_uk_ringback_double_ring_cadence(dsp_impl: str) -> None:
    x = tones.ToneGenerator(tones.zone("uk").ringback, impl=dsp_impl).generate(6 * RATE)
    runs = on_runs(x)
    assert [r[0] for r in runs[:4]] == [0, 4800, 24000, 28800]
    assert all(abs(r[1] - 3200) <= 8 for r in runs[:4])


def test_au_ringback_is_425_hz_modulated_by_25_hz(dsp_impl: str) -> None:
    x = tones.ToneGenerator(tones.zone("au").ringback, impl=dsp_impl).generate(3200)
    assert abs(tone_level(x, 425.0) + 13.0) < 0.1
    env = np.abs(x.astype(np.float64)).reshape(-1, 20).max(axis=1)  # 2.5 ms peaks
    spectrum = np.abs(np.fft.rfft(env - env.mean()))
    freqs = np.fft.rfftfreq(len(env), d=20 / RATE)
    assert abs(freqs[int(np.argmax(spectrum))] - 25.0) < 2.6


def test_itu_sit_three_segments_then_silence(dsp_impl: str) -> None:
    x = tones.ToneGenerator(tones.zone("etsi").sit, impl=dsp_impl).generate(2 * RATE)
    seg = 330 * 8
    for i, f in enumerate((950.0, 1400.0, 1800.0)):
        part = x[i * seg : (i + 1) * seg]
        assert abs(tone_level(part, f) + 24.0) < 0.2, f
    assert not np.any(x[3 * seg : 3 * seg + 8000])  # 1 s silence
    assert np.any(x[3 * seg + 8000 :])  # then repeats


def test_us_sit_plays_once_and_is_done(dsp_impl: str) -> None:
    gen = tones.ToneGenerator(tones.zone("us").sit, impl=dsp_impl)
    x = gen.generate(8000)
    assert gen.done and np.count_nonzero(x) > 0
    assert abs(len(on_runs(x)) - 1) == 0 and on_runs(x)[0][1] in range(7420, 7440)
    assert not np.any(gen.generate(100))


def test_beep_single_short_alert(dsp_impl: str) -> None:
    gen = tones.ToneGenerator(tones.beep(), impl=dsp_impl)
    x = gen.generate(4000)
    assert gen.done and on_runs(x) == [(0, 1600)]
    assert abs(tone_level(x[:1600], 1000.0) + 13.0) < 0.1


@pytest.mark.parametrize("block", [1, 7, 160, 8000])
def test_tone_blocks_of_any_length_give_the_same_samples(dsp_impl: str, block: int) -> None:
    spec = tones.zone("au").reorder
    whole = tones.ToneGenerator(spec, impl=dsp_impl).generate(12000)
    gen = tones.ToneGenerator(spec, impl=dsp_impl)
    parts = np.concatenate([gen.generate(min(block, 12000 - i)) for i in range(0, 12000, block)])
    np.testing.assert_array_equal(parts, whole)


def test_tone_compiled_and_reference_bit_exact() -> None:
    for name in tones.zone_names():
        for t in tones.TONE_NAMES:
            spec = tones.zone(name).tone(t)
            a = tones.ToneGenerator(spec, impl="compiled").generate(8000)
            b = tones.ToneGenerator(spec, impl="reference").generate(8000)
            np.testing.assert_array_equal(a, b, err_msg=f"{name} {t}")


def test_bad_tone_spec_is_a_clear_error() -> None:
    with pytest.raises(tones.ToneError):
        tones.ToneGenerator(tones.ToneSpec(((5000.0, -10.0),)))
    with pytest.raises(tones.ToneError):
        tones.ToneGenerator(tones.ToneSpec(((100.0, -10.0),) * 5))


# --- DTMF generation -------------------------------------------------------------------------


def test_dtmf_generator_level_twist_and_timing(dsp_impl: str) -> None:
    x = dtmf.dtmf_signal("5", level_dbm0=-12.0, twist_db=2.0, on_ms=70, off_ms=30, impl=dsp_impl)
    assert len(x) == 800 and on_runs(x) == [(0, 560)]
    assert abs(tone_level(x[:560], 770.0) + 12.0) < 0.1
    assert abs(tone_level(x[:560], 1336.0) + 10.0) < 0.1
    assert abs(level_dbm0(x[:560]) - 10 * np.log10(10**-1.2 + 10**-1.0)) < 0.1


@pytest.mark.parametrize("block", [1, 7, 160, 8000])
def test_dtmf_generator_blocks_and_done(dsp_impl: str, block: int) -> None:
    whole = dtmf.dtmf_signal("147*", impl=dsp_impl)
    gen = dtmf.DtmfGenerator("147*", impl=dsp_impl)
    parts = []
    while not gen.done:
        parts.append(gen.generate(block))
    x = np.concatenate(parts)
    np.testing.assert_array_equal(x[: len(whole)], whole)
    assert not np.any(x[len(whole) :]) and len(x) - len(whole) < block


def test_dtmf_generator_compiled_and_reference_bit_exact() -> None:
    a = dtmf.dtmf_signal("0123456789*#ABCD", -7.0, 3.0, 45, 55, impl="compiled")
    b = dtmf.dtmf_signal("0123456789*#ABCD", -7.0, 3.0, 45, 55, impl="reference")
    np.testing.assert_array_equal(a, b)


def test_dtmf_generator_bad_digit_is_a_clear_error() -> None:
    with pytest.raises(dtmf.DtmfError, match="not a DTMF digit"):
        dtmf.DtmfGenerator("12x")
    with pytest.raises(dtmf.DtmfError):
        dtmf.DtmfGenerator("1", on_ms=0)


def test_spandsp_receiver_decodes_our_dtmf(dsp_impl: str) -> None:
    x = dtmf.dtmf_signal("0123456789*#ABCD", level_dbm0=-10.0, on_ms=50, off_ms=50, impl=dsp_impl)
    events = spandsp_dtmf.spandsp_detect(x)
    assert "".join(e[0] for e in events) == "0123456789*#ABCD"


def test_our_receiver_decodes_spandsp_dtmf(dsp_impl: str) -> None:
    x = spandsp_dtmf.spandsp_generate("0123456789*#ABCD", level=-10, on_ms=50, off_ms=50)
    det = dtmf.DtmfDetector(impl=dsp_impl)
    got = det.process(x) + det.flush()
    assert "".join(d.digit for d in got) == "0123456789*#ABCD"
    assert all(abs((d.end - d.start) - 400) <= 24 for d in got)
