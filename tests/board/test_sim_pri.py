"""The simulated card's PRI span (board/sim/pri.py): the carrier side, driven by our CPE stack
in-process through the `Card` interface, the way the media engine and calld drive it."""

from __future__ import annotations

import numpy as np
import pytest

from board import open_card
from board.card import Alarm, ChannelKind, DFrame, SpanAlarm
from board.errors import BoardError, BoardURLError
from board.sim.card import SimCard
from board.sim.pri import fcs_ok, hdlc_fcs
from cython_ext.dtmf import DtmfDetector
from firmware.isdn import events as ev
from firmware.isdn.config import SpanConfig
from firmware.isdn.stack import IsdnStack, Output

URL = "sim://?trunks=1&stations=1&seed=3&start=1000&echo=off&noise=off"


class Box:
    """The box side: our stack as CPE on the card's D-channel, answering every call."""

    def __init__(self, card: SimCard, kind: str = "T1", switch: str = "ni2") -> None:
        self.card = card
        card.network.notify_enabled = True  # the carrier's `pri` notices, as subscribers get
        assert card.span is not None
        self.dchannel = card.span.dchannel
        self.stack = IsdnStack(SpanConfig(name="c", kind=kind, switch=switch, role="cpe"))
        self.events: list[ev.IsdnEvent] = []
        self.other: list[object] = []
        self.answer = True
        self.tx = np.zeros((len(card.audio_channels), card.block_size), np.int16)
        self.rx = self.tx.copy()
        self.send(self.stack.start(card.now))

    def send(self, out: Output) -> None:
        for frame in out.frames:
            self.card.send_frame(self.dchannel, frame)
        for e in out.events:
            self.events.append(e)
            if isinstance(e, ev.IncomingCall) and self.answer:
                self.stack.proceeding(e.call_id)
                self.stack.answer(e.call_id)
                self.send(self.stack.drain(self.card.now))

    def run(self, seconds: float) -> None:
        for _ in range(int(round(seconds / 0.02))):
            self.rx = self.card.exchange(self.tx)
            for bev in self.card.events():
                if isinstance(bev, DFrame):
                    assert bev.channel == self.dchannel
                    self.send(self.stack.receive(bev.frame, self.card.now))
                else:
                    self.other.append(bev)
            deadline = self.stack.deadline()
            if deadline is not None and deadline <= self.card.now:
                self.send(self.stack.tick(self.card.now))

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


def carrier_saw(card: SimCard) -> list[tuple[str, str, int | None]]:
    return [
        (n["dir"], n["message"], n["cause"]) for n in card.network.notices if n["event"] == "pri"
    ]


def test_hdlc_fcs_is_crc16_x25_q921_2_7() -> None:
    # the CRC-16/X.25 check value of "123456789" is 0x906E, sent low octet first
    assert hdlc_fcs(b"123456789") == b"\x6e\x90"
    frame = bytes.fromhex("0001 7f".replace(" ", ""))
    assert fcs_ok(frame + hdlc_fcs(frame))
    assert not fcs_ok(frame + bytes([hdlc_fcs(frame)[0] ^ 1, hdlc_fcs(frame)[1]]))


def test_t1_and_e1_spans_are_numbered_like_dahdi() -> None:
    t1 = SimCard(URL + "&pri=T1")
    kinds = [(c.number, c.kind) for c in t1.channels[2:]]
    assert kinds[:23] == [(3 + i, ChannelKind.BCHAN) for i in range(23)]
    assert kinds[23] == (26, ChannelKind.DCHAN) and t1.channels[25].name == "sim/span/1/dchan"
    assert t1.audio_channels == tuple(range(1, 26)) and t1.network.rows == 25
    e1 = SimCard(URL + "&pri=E1")
    assert e1.span is not None and e1.span.dchannel == 3 + 15
    assert e1.span.config.switch == "euroisdn"
    assert len(e1.audio_channels) == 2 + 30 and 18 not in e1.audio_channels
    # timeslot 17 is card channel 19 but the 18th audio row (index 17): the D-channel has none
    line = e1.span.lines[17]
    assert line.channel == 19 and e1.audio_channels.index(19) == line.row == 17


@pytest.mark.parametrize(
    "query, problem",
    [
        ("pri=J1", "pri='J1'"),
        ("pri=T1&pri_switch=euroisdn", "runs on E1 spans"),
        ("pri=T1&pri_called=12ab", "pri_called"),
        ("pri_switch=ni2", "without pri="),
    ],
)
def test_bad_pri_url_parameters_are_named(query: str, problem: str) -> None:
    with pytest.raises(BoardURLError, match=problem):
        open_card(URL + "&" + query)


def test_call_setup_answer_audio_both_ways_and_box_clearing() -> None:
    card = SimCard(URL + "&pri=T1&pri_called=5550199")
    box = Box(card)
    box.run(0.5)
    assert len(box.of(ev.LinkUp)) == 1
    caller = card.call(3, number="5551234", name="ALICE", behave=False)
    box.run(0.5)
    (call,) = box.of(ev.IncomingCall)
    assert (call.channel, call.called, call.calling, call.display) == (
        1,
        "5550199",
        "5551234",
        "ALICE",
    )
    assert caller.answered_at is not None  # CONNECT reached the carrier
    # the box plays a tone on the B-channel's row; the caller's line carries it (G.711)
    row = card.audio_channels.index(3)
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000)).astype(np.int16)
    box.tx[row] = tone
    box.run(0.1)
    assert np.corrcoef(card.network.heard[row].astype(float), tone.astype(float))[0, 1] > 0.99
    box.tx[row] = 0
    # the caller presses 5 as DTMF audio: the box's DTMF detector hears it on the B-channel
    caller.dial("5")
    detector = DtmfDetector()
    digits = []
    for _ in range(20):
        box.run(0.02)
        digits += [d.digit for d in detector.process(box.rx[row])]
    assert digits == ["5"]
    # the box hangs up: DISCONNECT 16, the carrier releases, the caller hears the box hang up
    box.stack.hangup(call.call_id, 16)
    box.send(box.stack.drain(card.now))
    box.run(0.5)
    assert caller.state == "gone" and caller.end_reason == "box hung up"
    assert [m for m in carrier_saw(card) if m[1].startswith(("DISC", "REL"))] == [
        ("rx", "DISCONNECT", 16),
        ("tx", "RELEASE", 16),
        ("rx", "RELEASE_COMPLETE", 16),
    ]
    assert card.span is not None and card.span.lines[1].idle


def test_caller_hanging_up_sends_disconnect_and_channel_frees() -> None:
    card = SimCard(URL + "&pri=T1")
    box = Box(card)
    box.run(0.5)
    caller = card.call(4, number="P", behave=False)  # withheld number, B-channel 2
    box.run(0.5)
    (call,) = box.of(ev.IncomingCall)
    assert call.channel == 2 and call.calling == "" and call.calling_presentation == "not_available"
    caller.hang_up()
    box.run(0.5)
    (gone,) = box.of(ev.Released)
    assert gone.cause == 16 and box.of(ev.Disconnected)[0].cause == 16
    assert ("tx", "DISCONNECT", 16) in carrier_saw(card)
    assert card.span is not None and card.span.lines[2].idle


def test_bad_fcs_is_dropped_and_counted() -> None:
    card = SimCard(URL + "&pri=T1")
    assert card.span is not None
    card.events()  # the carrier's own SABME at start
    frame = bytes.fromhex("02017f")
    card.span.to_box(frame + b"\x00\x00")
    assert card.network.counters["pri_bad_fcs"] == 1
    assert not [e for e in card.events() if isinstance(e, DFrame) and e.frame == frame]
    with pytest.raises(BoardError):
        card.send_frame(1, frame)  # a trunk is no D-channel
    with pytest.raises(BoardError):
        card.send_frame(card.span.dchannel, b"\x00")


def test_red_alarm_takes_the_span_down_and_clear_brings_it_back() -> None:
    card = SimCard(URL + "&pri=T1")
    box = Box(card)
    box.run(0.5)
    assert card.span is not None and card.span.usable
    card.span.set_alarm(Alarm.RED)
    box.run(0.1)
    assert SpanAlarm(1, Alarm.RED) in box.other
    assert not card.span.usable
    with pytest.raises(BoardError, match="span down"):
        card.call(3, behave=False)  # no B-channel takes calls while the span is down
    card.span.set_alarm(Alarm.CLEAR)
    box.run(1.0)
    assert SpanAlarm(1, Alarm.CLEAR) in box.other and card.span.usable


def test_traffic_offers_calls_on_the_span() -> None:
    from board.sim.traffic import TrafficParams

    card = SimCard("sim://?trunks=0&stations=1&seed=5&start=1000&echo=off&noise=off&pri=T1")
    box = Box(card)
    box.answer = False  # the box lets them ring: each arrival is one SETUP
    box.run(0.5)
    card.start_traffic(TrafficParams(calls_per_hour=3600 * 4, aht=30, patience=30))
    box.run(2.0)
    calls = box.of(ev.IncomingCall)
    assert len(calls) >= 3 and len({c.channel for c in calls}) == len(calls)
    assert all(c.called == "5550100" for c in calls)
