"""The engine with the DSP kernels: detectors, dialler, tones and caller ID through the tick.

Real signals from the kernels' own generators and from the simulated card; results are checked
by independent receivers (a fresh DtmfDetector, CallProgressDetector, CallerIdReceiver).
"""

from __future__ import annotations

import numpy as np
import pytest
from media_helpers import EPOCH, run

from board.card import OffHook
from cython_ext.callerid import CallerIdReceiver, callerid_signal
from cython_ext.cpt import CallProgressDetector
from cython_ext.dtmf import DtmfDetector, dtmf_signal
from cython_ext.tones import tone_signal, zone
from firmware.media import protocol as p
from firmware.media.clock import VirtualClock
from firmware.media.engine import CommandError, Engine, EngineConfig

BLOCK = 160


def test_detect_dtmf_digits_with_exact_media_times(make_engine, dsp_impl):
    engine, card = make_engine(impl=dsp_impl)
    assert engine.snapshot()["dsp"]["implementation"] == dsp_impl
    engine.apply(p.Detect(channel=1, dtmf=True))
    card.feed(1, np.zeros(800, dtype=np.int16))  # 100 ms of silence first
    card.feed(1, dtmf_signal("159#", on_ms=80, off_ms=80))
    events = run(engine, 60)
    digits = [e for e in events if isinstance(e, p.DigitEvent)]
    downs = [e for e in events if isinstance(e, p.DigitDownEvent)]
    assert [d.digit for d in digits] == list("159#") == [d.digit for d in downs]
    for i, d in enumerate(digits):
        assert d.start_t == pytest.approx(EPOCH + 0.1 + 0.16 * i, abs=0.012)
        assert d.end_t - d.start_t == pytest.approx(0.08, abs=0.015)
        assert d.t >= d.end_t  # reported at key-up, in the tick that saw it end
        assert downs[i].t < d.t
    assert engine.apply(p.Detect(channel=1, dtmf=False)) == {
        "detect": {"dtmf": False, "cpt": False, "callerid": False}
    }


def test_dial_sends_dtmf_that_a_receiver_decodes(make_engine):
    engine, card = make_engine()
    reply = engine.apply(p.Dial(channel=3, digits="*11#,5", dial_id="d1"))
    expect = len(dtmf_signal("*11#", level_dbm0=-10.0)) + 4000 + len(dtmf_signal("5"))
    assert reply == {"dial_id": "d1", "samples": expect}
    events = run(engine, expect // BLOCK + 3)
    done = [e for e in events if isinstance(e, p.DialDoneEvent)]
    assert done == [
        p.DialDoneEvent(
            t=EPOCH + -(-expect // BLOCK) * 0.02, channel=3, dial_id="d1", reason="finished"
        )  # fmt: skip
    ]
    rx = DtmfDetector()
    got = rx.process(card.heard(3)) + rx.flush()
    assert "".join(d.digit for d in got) == "*11#5"
    assert got[4].start - got[3].end > 4000  # the ',' pause


def test_tone_busy_is_recognised_by_call_progress_detection(make_engine):
    engine, card = make_engine()
    assert engine.apply(p.Tone(channel=1, tone="busy", play_id="b"))["play_id"] == "b"
    run(engine, 150)  # 3 s
    events = CallProgressDetector("us").process(card.heard(1))
    assert "busy" in [e.tone for e in events]
    engine.apply(p.Tone(channel=1, off=True))
    assert engine.take_events() == [
        p.PlayDoneEvent(t=engine.now, channel=1, play_id="b", reason="stopped")
    ]


def test_tone_beep_ends_by_itself(make_engine):
    engine, card = make_engine()
    engine.apply(p.Tone(channel=3, tone="beep", play_id=4))
    events = run(engine, 15)
    assert [e for e in events if isinstance(e, p.PlayDoneEvent)] == [
        p.PlayDoneEvent(t=EPOCH + 0.2, channel=3, play_id=4, reason="finished")
    ]
    heard = card.heard(3)
    assert np.abs(heard[:1600]).min() < 200 and np.abs(heard[:1600]).max() > 3000
    assert not heard[1600:].any()


def test_tone_unknown_name_or_zone_is_bad_args(make_engine):
    engine, _ = make_engine()
    for cmd in (p.Tone(channel=1, tone="warble"), p.Tone(channel=1, tone="busy", zone="mars")):
        with pytest.raises(CommandError) as err:
            engine.apply(cmd)
        assert err.value.code == "bad_args"
    assert engine.snapshot()["channels"][0]["player"] is None


def test_detect_cpt_reports_ringback_on_a_trunk(make_engine):
    engine, card = make_engine()
    engine.apply(p.Detect(channel=2, cpt=True))
    card.feed(2, np.zeros(1600, dtype=np.int16))
    card.feed(2, tone_signal(zone("us").ringback, 7.0))
    events = run(engine, 400)
    tones = [e for e in events if isinstance(e, p.ToneEvent)]
    assert tones and tones[0].tone == "ringback" and tones[0].channel == 2
    assert tones[0].start_t == pytest.approx(EPOCH + 0.2, abs=0.06)


def test_detect_callerid_decodes_fsk_between_rings(make_engine):
    engine, card = make_engine()
    engine.apply(p.Detect(channel=1, callerid=True))
    card.feed(1, np.zeros(4000, dtype=np.int16))
    card.feed(1, callerid_signal(number="5551234567", name="JANE DOE", datetime="11221930"))
    events = run(engine, 120)
    cids = [e for e in events if isinstance(e, p.CallerIdEvent)]
    assert len(cids) == 1
    cid = cids[0]
    assert (cid.number, cid.caller_name, cid.datetime) == ("5551234567", "JANE DOE", "11221930")
    assert cid.extra.get("standard") == "bell202"


def test_ring_with_callerid_sends_fsk_after_the_first_ring_only_while_on_hook(make_engine):
    engine, card = make_engine()
    engine.apply(
        p.Ring(channel=3, on=True, callerid=p.CallerIdSpec(number="2125550000", name="SALES Q"))
    )
    engine.apply(p.Ring(channel=4, on=True, callerid=p.CallerIdSpec(number="1")))
    run(engine, 100)
    card.inject(OffHook(4))  # answered during the first ring: no caller ID
    run(engine, 200)
    heard = card.heard(3)
    assert not heard[: 2500 * 8].any()  # nothing during the first ring
    msgs = CallerIdReceiver(standard="bell202").process(heard)
    assert [(m.number, m.name) for m in msgs] == [("2125550000", "SALES Q")]
    assert msgs[0].datetime is not None and len(msgs[0].datetime) == 8
    assert not card.heard(4).any()
    assert card.ringing == {3: True, 4: True}


def test_detect_on_the_simulated_card_caller_id_and_digits_from_a_caller():
    from board import open_card

    card = open_card("sim://?trunks=1&stations=1&seed=3&echo=off")
    engine = Engine(card, VirtualClock(0.02, card.now), EngineConfig(echo=False))  # type: ignore[attr-defined]
    try:
        engine.apply(p.Detect(channel=1, callerid=True, dtmf=True))
        caller = card.call(1, number="5550123", name="ALICE", behave=False)  # type: ignore[attr-defined]
        events: list[p.Event] = []
        for _ in range(600):  # 12 s: two rings, caller ID between them
            events += engine.tick()
            if any(isinstance(e, p.CallerIdEvent) for e in events):
                break
        assert any(isinstance(e, p.RingStartEvent) and e.channel == 1 for e in events)
        cid = next(e for e in events if isinstance(e, p.CallerIdEvent))
        assert (cid.number, cid.caller_name) == ("5550123", "ALICE")
        engine.apply(p.Hook(channel=1, offhook=True))
        run(engine, 10)
        caller.dial("42*")
        events = run(engine, 100)
        assert "".join(e.digit for e in events if isinstance(e, p.DigitEvent)) == "42*"
    finally:
        engine.close()


def test_echo_canceller_on_trunks_removes_line_echo(make_engine, tmp_path):
    from cython_ext.echo_paths import LineEcho
    from cython_ext.levels import level_dbm0
    from cython_ext.wavfile import read_wav

    engine, card = make_engine(echo=True)
    channels = {c["number"]: c for c in engine.snapshot()["channels"]}
    assert [channels[n]["echo"] for n in (1, 2, 3, 4)] == [True, True, False, False]
    assert engine.apply(p.Echo(channel=2, on=False)) == {}
    for trunk in (1, 2):
        card.echo[trunk] = LineEcho("D2", delay_ms=5.0, erl_db=6.0)
        engine.apply(p.Play(channel=trunk, files=("demo-congrats",)))
        engine.apply(p.Record(channel=trunk, on=True, file=f"rx{trunk}.wav", what="rx"))
    run(engine, 300)  # 6 s of speech out, its echo back
    for trunk in (1, 2):
        engine.apply(p.Record(channel=trunk, on=False))
    cancelled = read_wav(tmp_path / "rx1.wav")[3 * 8000 :]
    raw = read_wav(tmp_path / "rx2.wav")[3 * 8000 :]
    assert level_dbm0(raw) > -40  # there is echo to cancel
    assert level_dbm0(raw) - level_dbm0(cancelled) > 20
