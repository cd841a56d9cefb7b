"""The engine's digital-silence skip (engine.py docstring): a row silent both ways for longer than
QUIET_SETTLE_MS skips its echo canceller and DTMF / caller-ID receivers; what the box detects and
passes on must be the same as with the skip off (`EngineConfig(quiet_skip=False)`), to the sample.
"""

from __future__ import annotations

import numpy as np
from media_helpers import run

from cython_ext.callerid import callerid_signal
from cython_ext.dtmf import dtmf_signal
from firmware.media import protocol as p


def _digits_and_cids(make_engine, quiet_skip: bool, echo: bool):
    engine, card = make_engine(quiet_skip=quiet_skip, echo=echo)
    engine.apply(p.Detect(channel=1, dtmf=True))
    engine.apply(p.Detect(channel=2, callerid=True))
    # 3 s of digital silence (the rows settle and skip), then digits / caller ID, silence again,
    # then more digits: the detectors' times count the skipped blocks too
    card.feed(1, np.zeros(24000, dtype=np.int16))
    card.feed(1, dtmf_signal("42", on_ms=80, off_ms=80))
    card.feed(1, np.zeros(16000, dtype=np.int16))
    card.feed(1, dtmf_signal("7#", on_ms=80, off_ms=80))
    card.feed(2, np.zeros(20000, dtype=np.int16))
    card.feed(2, callerid_signal(number="5551234567", name="JANE DOE", datetime="11221930"))
    events = run(engine, 400)
    kept = [e for e in events if isinstance(e, p.DigitEvent | p.DigitDownEvent | p.CallerIdEvent)]
    return kept, engine


def test_quiet_skip_detects_the_same_digits_and_caller_id_at_the_same_times(make_engine):
    skipped, engine = _digits_and_cids(make_engine, quiet_skip=True, echo=True)
    full, _ = _digits_and_cids(make_engine, quiet_skip=False, echo=True)
    assert [e.digit for e in skipped if isinstance(e, p.DigitEvent)] == list("427#")
    assert [e.number for e in skipped if isinstance(e, p.CallerIdEvent)] == ["5551234567"]
    assert skipped == full
    assert engine._quiet_ticks.max() > engine._quiet_settle  # the skip did happen


def test_quiet_skip_passes_the_same_audio_through_the_echo_canceller(make_engine):
    """A trunk with the canceller on: speech-like noise both ways, then long silence, then
    again: the box hears the same samples with and without the skip."""
    heard = []
    for skip in (True, False):
        engine, card = make_engine(quiet_skip=skip, echo=True)
        rng = np.random.default_rng(5)
        burst = (rng.standard_normal(8000) * 2000).astype(np.int16)
        card.feed(1, burst)
        card.feed(1, np.zeros(24000, dtype=np.int16))
        card.feed(1, burst)
        engine.apply(p.Play(channel=1, files=("beep",), play_id=1))  # the box talks too
        received = []
        for _ in range(250):
            engine.tick()
            received.append(engine._rx[engine.channels[1].row].copy())
        heard.append(np.concatenate(received))
    assert heard[0].any()
    assert np.array_equal(heard[0], heard[1])
