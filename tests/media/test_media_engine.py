"""The engine's tick without sockets: real prompts and music through an in-process PatchCard.

Names cite the PROTOCOL.md section each test checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media_helpers import EPOCH, MOH, run, sound

import cython_ext
from board.card import (
    Alarm,
    DFrame,
    HookFlash,
    LoopCurrentDrop,
    OffHook,
    OnHook,
    PolarityReversal,
    RingStart,
    RingStop,
    SpanAlarm,
)
from cython_ext.wavfile import read_wav
from firmware.media import protocol as p
from firmware.media.engine import CommandError

BLOCK = 160


def test_play_sends_the_prompt_samples_exactly_then_play_done(make_engine):
    engine, card = make_engine()
    beep = sound("beep")
    reply = engine.apply(p.Play(channel=1, files=("beep",), play_id=7))
    assert reply == {"play_id": 7, "samples": len(beep)}
    ticks = -(-len(beep) // BLOCK)
    events = run(engine, ticks + 3)
    heard = card.heard(1)
    assert np.array_equal(heard[: len(beep)], beep)
    assert not heard[len(beep) :].any()
    done = [e for e in events if isinstance(e, p.PlayDoneEvent)]
    assert done == [
        p.PlayDoneEvent(t=EPOCH + ticks * 0.02, channel=1, play_id=7, reason="finished")
    ]
    assert engine.snapshot()["channels"][0]["player"] is None
    assert not card.heard(2).any()  # nothing leaks to other channels


def test_play_list_loops_until_stopped(make_engine):
    engine, card = make_engine()
    beep, one = sound("beep"), sound("digits/1")
    engine.apply(p.Play(channel=2, files=("beep", "digits/1"), loop=True, play_id="x"))
    cycle = len(beep) + len(one)
    run(engine, -(-3 * cycle // BLOCK))
    heard = card.heard(2)[: 3 * cycle]
    assert np.array_equal(heard, np.tile(np.concatenate([beep, one]), 3))
    engine.apply(p.Stop(channel=2))
    assert engine.take_events() == [
        p.PlayDoneEvent(t=engine.now, channel=2, play_id="x", reason="stopped")
    ]
    before = len(card.heard(2))
    run(engine, 2)
    assert not card.heard(2)[before:].any()


def test_missing_prompt_is_an_error_reply_never_silence(make_engine):
    engine, card = make_engine()
    engine.apply(p.Play(channel=1, files=("beep",), loop=True, play_id=1))
    with pytest.raises(CommandError) as err:
        engine.apply(p.Play(channel=1, files=("beep", "no-such-prompt-xyz"), play_id=2))
    assert err.value.code == "no_file"
    assert "no-such-prompt-xyz" in str(err.value)
    # the prompt that was playing keeps playing: a bad command changes nothing
    assert engine.snapshot()["channels"][0]["player"]["play_id"] == 1
    assert engine.take_events() == []


def test_prompt_that_is_not_a_wav_is_no_file(make_engine, tmp_path: Path):
    engine, _ = make_engine()
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"this is not RIFF")
    with pytest.raises(CommandError) as err:
        engine.apply(p.Play(channel=1, files=(str(bogus),)))
    assert err.value.code == "no_file"


def test_prompts_are_decoded_once_and_cached(make_engine):
    engine, _ = make_engine()
    engine.apply(p.Play(channel=1, files=("beep",)))
    cached = engine.prompts.load("beep", "test")
    engine.apply(p.Play(channel=2, files=("beep",)))
    assert engine.prompts.load("beep", "test") is cached
    assert len(engine.prompts) == 1
    assert engine.snapshot()["stats"]["prompt_cache_files"] == 1


def test_play_replaces_the_previous_player(make_engine):
    engine, _ = make_engine()
    engine.apply(p.Play(channel=1, files=("beep",), play_id=1))
    engine.apply(p.Play(channel=1, files=("digits/2",), play_id=2))
    assert engine.take_events() == [
        p.PlayDoneEvent(t=EPOCH, channel=1, play_id=1, reason="replaced")
    ]


def test_duplex_bridge_carries_each_side_to_the_other_one_tick_late(make_engine):
    engine, card = make_engine()
    caller, agent = sound("hello-world"), sound("agent-loginok")
    n = min(len(caller), len(agent)) // BLOCK * BLOCK
    engine.apply(p.Connect(a=1, b=3))
    card.feed(1, caller[:n])
    card.feed(3, agent[:n])
    run(engine, n // BLOCK + 1)
    assert np.array_equal(card.heard(3)[BLOCK : BLOCK + n], caller[:n])
    assert np.array_equal(card.heard(1)[BLOCK : BLOCK + n], agent[:n])
    assert not card.heard(2).any() and not card.heard(4).any()


def test_listen_and_whisper_are_one_way(make_engine):
    engine, card = make_engine()
    voice = sound("hello-world")[: 20 * BLOCK]
    engine.apply(p.Connect(a=1, b=3, mode="listen"))  # 3 listens to 1
    engine.apply(p.Connect(a=4, b=2, mode="whisper"))  # 4 speaks to 2 only
    for ch in (1, 2, 3, 4):
        card.feed(ch, voice)
    run(engine, 21)
    assert np.array_equal(card.heard(3)[BLOCK:], voice)
    assert np.array_equal(card.heard(2)[BLOCK:], voice)
    assert not card.heard(1).any() and not card.heard(4).any()
    snap = engine.snapshot()
    assert snap["links"] == [{"from": 1, "to": 3}, {"from": 4, "to": 2}]


def test_conference_sums_and_saturates(make_engine):
    engine, card = make_engine(trunks=3, stations=0)
    loud = np.full(BLOCK * 4, 30000, dtype=np.int16)
    quiet = np.full(BLOCK * 4, 1000, dtype=np.int16)
    for a, b in ((1, 2), (1, 3), (2, 3)):
        engine.apply(p.Connect(a=a, b=b))
    card.feed(1, loud)
    card.feed(2, loud)
    card.feed(3, quiet)
    run(engine, 3)
    assert (card.heard(3)[BLOCK:] == 32767).all()  # 30000 + 30000 clips, does not wrap
    assert (card.heard(1)[BLOCK:] == 31000).all()
    assert (card.heard(2)[BLOCK:] == 31000).all()


def test_link_and_prompt_mix_on_one_channel(make_engine):
    engine, card = make_engine()
    voice = sound("hello-world")[: 30 * BLOCK]
    beep = sound("beep")
    engine.apply(p.Connect(a=1, b=3))
    card.feed(1, voice)
    run(engine, 1)
    engine.apply(p.Play(channel=3, files=("beep",)))
    run(engine, 10)
    heard = card.heard(3)[BLOCK:].astype(np.int32)
    want = voice[: 10 * BLOCK].astype(np.int32)
    want[:] += np.pad(beep, (0, max(0, len(want) - len(beep))))[: len(want)]
    assert np.array_equal(heard, np.clip(want, -32768, 32767))


def test_disconnect_channel_removes_every_edge(make_engine):
    engine, card = make_engine()
    engine.apply(p.Connect(a=1, b=3))
    engine.apply(p.Connect(a=1, b=4, mode="listen"))
    assert engine.apply(p.Disconnect(a=3, b=4)) == {"removed": 0}
    assert engine.apply(p.Disconnect(channel=1)) == {"removed": 3}
    card.feed(1, sound("beep")[: 5 * BLOCK])
    run(engine, 5)
    assert not card.heard(3).any() and not card.heard(4).any()
    assert engine.snapshot()["links"] == []


def test_moh_listeners_share_one_stream_of_the_class_files(make_engine):
    engine, card = make_engine()
    first = read_wav(sorted(MOH.glob("*.wav"))[0])
    engine.apply(p.Moh(channel=1, on=True))
    run(engine, 10)
    engine.apply(p.Moh(channel=2, on=True))
    run(engine, 10)
    assert np.array_equal(card.heard(1)[: 20 * BLOCK], first[: 20 * BLOCK])
    # channel 2 joined later and hears the same stream from where it was
    assert np.array_equal(card.heard(2)[10 * BLOCK :], first[10 * BLOCK : 20 * BLOCK])
    engine.apply(p.Moh(channel=1, on=False))
    run(engine, 2)
    assert not card.heard(1)[20 * BLOCK :].any()
    assert card.heard(2)[20 * BLOCK :].any()
    assert engine.take_events() == []  # MOH has no play_done


def test_moh_unknown_class_is_no_file(make_engine):
    engine, _ = make_engine()
    with pytest.raises(CommandError) as err:
        engine.apply(p.Moh(channel=1, on=True, moh_class="nosuchclass"))
    assert err.value.code == "no_file"


def test_record_writes_rx_tx_and_both_durably_on_stop(make_engine, tmp_path: Path):
    engine, card = make_engine()
    voice = sound("hello-world")[: 25 * BLOCK]
    beep = np.pad(sound("beep"), (0, 25 * BLOCK))[: 25 * BLOCK]
    for what in ("rx", "tx", "both"):
        reply = engine.apply(p.Record(channel=1, on=True, file=f"rec/{what}.wav", what=what))
        assert reply == {"file": str(tmp_path / "rec" / f"{what}.wav")}
        card.feed(1, voice)
        engine.apply(p.Play(channel=1, files=("beep",)))
        run(engine, 25)
        reply = engine.apply(p.Record(channel=1, on=False))
        assert reply == {"file": str(tmp_path / "rec" / f"{what}.wav"), "samples": 25 * BLOCK}
        engine.apply(p.Stop(channel=1))
    assert np.array_equal(read_wav(tmp_path / "rec/rx.wav"), voice)
    assert np.array_equal(read_wav(tmp_path / "rec/tx.wav"), beep)
    both = np.clip(voice.astype(np.int32) + beep, -32768, 32767).astype(np.int16)
    assert np.array_equal(read_wav(tmp_path / "rec/both.wav"), both)
    assert sorted(f.name for f in (tmp_path / "rec").iterdir()) == ["both.wav", "rx.wav", "tx.wav"]


def test_record_to_an_unwritable_place_fails(make_engine):
    engine, _ = make_engine()
    with pytest.raises(CommandError) as err:
        engine.apply(p.Record(channel=1, on=True, file="/proc/callbox-no/x.wav"))
    assert err.value.code == "failed"
    assert engine.snapshot()["channels"][0]["recording"] is None


def test_close_finishes_recordings(make_engine, tmp_path: Path):
    engine, card = make_engine()
    engine.apply(p.Record(channel=2, on=True, file="open.wav", what="rx"))
    card.feed(2, sound("beep")[: 4 * BLOCK])
    run(engine, 4)
    engine.close()
    assert np.array_equal(read_wav(tmp_path / "open.wav"), sound("beep")[: 4 * BLOCK])
    assert card.closed


def test_events_card_events_become_protocol_events_in_order(make_engine):
    engine, card = make_engine(dchans=1)
    card.inject(
        RingStart(1),
        RingStop(1),
        OffHook(3),
        HookFlash(3),
        OnHook(3),
        PolarityReversal(2),
        LoopCurrentDrop(2),
        SpanAlarm(1, Alarm.RED),
        DFrame(5, b"\x00\x01\x7f"),
    )
    events = run(engine, 1)
    t = EPOCH + 0.02
    assert events == [
        p.RingStartEvent(t=t, channel=1),
        p.RingStopEvent(t=t, channel=1),
        p.OffHookEvent(t=t, channel=3),
        p.FlashEvent(t=t, channel=3),
        p.OnHookEvent(t=t, channel=3),
        p.PolarityEvent(t=t, channel=2),
        p.LoopDropEvent(t=t, channel=2),
        p.AlarmEvent(t=t, span=1, alarm="red"),
        p.DFrameEvent(t=t, channel=5, frame_hex="00017f"),
    ]
    card.inject(RingStart(2), OffHook(4))
    run(engine, 1)
    channels = {c["number"]: c for c in engine.snapshot()["channels"]}
    assert channels[2]["ringing"] is True and channels[4]["hook"] == "offhook"
    assert "hook" not in channels[5]  # D-channels have no audio state


def test_commands_line_control_reaches_the_card(make_engine):
    engine, card = make_engine(dchans=1)
    engine.apply(p.Hook(channel=1, offhook=True))
    engine.apply(p.Ring(channel=3, on=True))
    engine.apply(p.Flash(channel=2))
    engine.apply(p.SendFrame(channel=5, frame_hex="0001ff00"))
    assert card.hook == {1: True} and card.ringing == {3: True}
    assert card.flashes == [2] and card.frames == [(5, b"\x00\x01\xff\x00")]
    channels = {c["number"]: c for c in engine.snapshot()["channels"]}
    assert channels[1]["hook"] == "offhook" and channels[3]["ringing"] is True


@pytest.mark.parametrize(
    "cmd",
    [
        p.Hook(channel=3, offhook=True),  # a station is not a trunk
        p.Ring(channel=1, on=True),  # a trunk is not a station
        p.Flash(channel=4),
        p.SendFrame(channel=1, frame_hex="000100"),  # not a D-channel
        p.Play(channel=5, files=("beep",)),  # D-channel has no audio
        p.Play(channel=99, files=("beep",)),  # no such channel
        p.Connect(a=1, b=42),
        p.Echo(channel=3, on=True),  # no canceller on stations
    ],
)
def test_bad_channel_is_an_error(make_engine, cmd):
    engine, _ = make_engine(dchans=1)
    with pytest.raises(CommandError) as err:
        engine.apply(cmd)
    assert err.value.code == "bad_channel"


def test_time_clock_event_every_clock_every_ticks(make_engine):
    engine, _ = make_engine(clock_every=3)
    events = run(engine, 9)
    assert events == [p.ClockEvent(t=EPOCH + k * 0.06) for k in (1, 2, 3)]


def test_snapshot_reports_the_dsp_implementation(make_engine, monkeypatch):
    engine, _ = make_engine()
    snap = engine.snapshot()
    assert snap["dsp"]["implementation"] == cython_ext.implementation() == "compiled"
    assert set(snap["dsp"]["kernels"]) == {"dtmf", "tones", "cpt", "callerid", "echo"}
    monkeypatch.setenv("CALLBOX_DSP_IMPL", "reference")
    engine2, _ = make_engine()
    assert engine2.snapshot()["dsp"]["implementation"] == "reference"


def test_idle_channels_have_no_per_tick_work(make_engine):
    engine, card = make_engine(trunks=24, stations=48)
    engine.apply(p.Connect(a=1, b=25))
    engine.apply(p.Play(channel=2, files=("beep",), loop=True))
    run(engine, 3)
    assert set(engine._busy) == {2}  # only the playing channel; links are one numpy copy
    engine.apply(p.Stop(channel=2))
    assert engine._busy == {}
    assert not any(card.heard(ch).any() for ch in range(3, 73) if ch != 25)
