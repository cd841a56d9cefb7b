"""Talk-off (issue 3): no false digit in >= 30 minutes of speech and music on hold.

The corpus (tests/dsp/corpus.py) is 20 minutes of espeak-ng speech in 20 languages and 10 voice
variants at levels from -26 to -8 dBm0, plus all of Debian's music on hold (about 18.4 minutes),
38 minutes in all. Both the compiled kernel and the reference twin run over all of it (the twin
takes about 8 s of CPU). Needs Debian espeak-ng, sox and asterisk-moh-opsound-wav.
"""

from __future__ import annotations

import corpus
import numpy as np
import pytest

from cython_ext import dtmf
from cython_ext.levels import sine_peak

SPEECH_SECONDS = 1200.0


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return corpus.speech_corpus(SPEECH_SECONDS)


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return corpus.moh_corpus(corpus.moh_seconds_available())


def test_corpus_is_at_least_30_minutes(speech: np.ndarray, music: np.ndarray) -> None:
    assert (len(speech) + len(music)) / 8000 >= 30 * 60
    assert np.std(speech) > 100 and np.std(music) > 100  # real audio, not silence


def test_talkoff_no_digit_in_20_minutes_of_speech(dsp_impl: str, speech: np.ndarray) -> None:
    det = dtmf.DtmfDetector(impl=dsp_impl)
    false = det.process(speech) + det.flush()
    assert false == [], [(d.digit, round(d.start_ms / 1000, 2)) for d in false]


def test_talkoff_no_digit_in_music_on_hold(dsp_impl: str, music: np.ndarray) -> None:
    det = dtmf.DtmfDetector(impl=dsp_impl)
    false = det.process(music) + det.flush()
    assert false == [], [(d.digit, round(d.start_ms / 1000, 2)) for d in false]


def test_digits_between_utterances_are_still_found(dsp_impl: str, speech: np.ndarray) -> None:
    """The same detector finds real digits dropped into the speech (between words: 60 ms)."""
    x = speech[: 8000 * 40].astype(np.float64)
    n = np.arange(480)
    starts = []
    for i, key in enumerate(dtmf.DTMF_KEYS):
        k = dtmf.DTMF_KEYS.index(key)
        at = 8000 + i * 2 * 8000
        pair = sine_peak(-8) * np.sin(2 * np.pi * dtmf.LOW_FREQS[k // 4] * n / 8000) + sine_peak(
            -8
        ) * np.sin(2 * np.pi * dtmf.HIGH_FREQS[k % 4] * n / 8000)
        x[at - 400 : at + 880] = 0.0
        x[at : at + 480] = pair
        starts.append(at)
    det = dtmf.DtmfDetector(impl=dsp_impl)
    got = det.process(np.clip(np.rint(x), -32768, 32767).astype(np.int16)) + det.flush()
    assert "".join(d.digit for d in got) == dtmf.DTMF_KEYS
    assert all(abs(d.start - s) <= 40 for d, s in zip(got, starts, strict=True))
