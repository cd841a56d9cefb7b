"""PRI spans in call control (firmware/calld/spans.py), pure: the carrier is our own stack in the
network role, exchanging real LAPD frames with SpanCallControl through media-protocol events
(`dframe` in, `send_frame` out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware.calld.facts import CallEnded, CallOffered, PortStatus, SpanAlarmChanged, SpanStatus
from firmware.calld.spans import SpanCallControl
from firmware.config import Config, parse_config
from firmware.isdn import events as ev
from firmware.isdn.config import SpanConfig
from firmware.isdn.stack import IsdnStack, Output
from firmware.media import protocol as p
from tests.calld.conftest import CONFIG, Bench

BASE = 6  # card channel of timeslot 1; the D-channel is 6 + 23 = 29
DCHAN = BASE + 23
SPAN = """
[spans.carrier]
kind = "T1"
switch = "ni2"
channels = "1-4"
base_channel = 6
number = "5550100"
"""


class PriBench(Bench):
    """The call-control bench with SpanCallControl and a carrier on the D-channel."""

    def __init__(self, config: Config) -> None:
        self.carrier = IsdnStack(SpanConfig(name="net", switch="ni2", role="network"))
        self.carrier_events: list[ev.IsdnEvent] = []
        self.config = config
        self.now = 1_700_000_000.0
        self.cc = SpanCallControl(config, self.now)
        self.commands: list[p.Command] = []
        self.facts: list[Any] = []
        self.playing: dict[int, str] = {}
        snap = self.idle_snapshot()
        snap["channels"] += [
            {"number": BASE + i, "kind": "bchan", "name": f"sim/span/1/{i + 1}", "hook": "onhook"}
            for i in range(23)
        ] + [{"number": DCHAN, "kind": "dchan", "name": "sim/span/1/dchan"}]
        self._take(self.cc.start(snap, self.now))
        self.to_box(self.carrier.start(self.now))
        self.advance(0.5)

    def _take(self, cmds: list[p.Command]) -> list[p.Command]:
        out = super()._take(cmds)
        for c in cmds:
            if isinstance(c, p.SendFrame):
                assert c.channel == DCHAN
                self.to_box(self.carrier.receive(c.frame, self.now))
        return out

    def to_box(self, out: Output) -> None:
        self.carrier_events += out.events
        for frame in out.frames:
            self.event(p.DFrameEvent, channel=DCHAN, frame_hex=frame.hex())

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now + 0.1 <= end + 1e-9:
            self.now = round(self.now + 0.1, 6)
            self.event(p.ClockEvent)
            deadline = self.carrier.deadline()
            if deadline is not None and deadline <= self.now:
                self.to_box(self.carrier.tick(self.now))
        self.now = end

    def call(self, channel: int = 1) -> int:
        call_id = self.carrier.place_call("5550100", "5551234", channel, display="ALICE")
        self.to_box(self.carrier.drain(self.now))
        self.advance(0.2)
        return call_id

    def seen(self, kind: type) -> list[Any]:
        return [e for e in self.carrier_events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def span_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path: Path = tmp_path_factory.mktemp("cfg") / "callbox.toml"
    path.write_text(CONFIG + SPAN)
    return parse_config(CONFIG + SPAN, path)


@pytest.fixture
def pri(span_config: Config) -> PriBench:
    return PriBench(span_config)


def test_link_up_restart_and_span_status(pri: PriBench) -> None:
    assert pri.seen(ev.LinkUp)
    assert [e.channel for e in pri.seen(ev.ChannelRestarted)] == [None]  # the whole interface
    status = pri.of(SpanStatus)[-1]
    assert (status.span, status.kind, status.switch, status.role) == ("carrier", "T1", "ni2", "cpe")
    assert (status.link, status.alarm, status.calls) == ("up", "clear", 0)
    assert status.channels == {"idle": [1, 2, 3, 4], "out_of_service": list(range(5, 24))}


def test_setup_is_offered_answered_by_the_ivr_and_cleared_by_the_caller(pri: PriBench) -> None:
    cid = pri.call(channel=2)
    (offered,) = pri.of(CallOffered)
    ch = BASE + 1
    assert (offered.channel, offered.trunk_group, offered.caller_number, offered.caller_name) == (
        ch,
        "carrier",
        "5551234",
        "ALICE",
    )
    assert [type(e) for e in pri.seen(ev.CallProceeding)] and pri.seen(ev.Connected)
    assert not pri.cmds(p.Hook, ch)  # the answer went out as CONNECT, not to the media engine
    assert pri.cmds(p.Play, ch)  # the greeting
    assert all(not d.callerid and not d.cpt for d in pri.cmds(p.Detect, ch))
    assert pri.of(SpanStatus)[-1].channels["in_use"] == [2]
    assert {f.kind for f in pri.of(PortStatus) if f.channel == ch} == {"bchan"}
    pri.carrier.hangup(cid, 16)
    pri.to_box(pri.carrier.drain(pri.now))
    pri.advance(0.2)
    (cdr,) = pri.of(CallEnded)
    assert (cdr.channel, cdr.dst, cdr.src) == ("sim/span/1/2", "5550100", "5551234")
    (released,) = pri.seen(ev.Released)
    assert released.cause == 16
    assert pri.of(SpanStatus)[-1].channels["idle"] == [1, 2, 3, 4]


def test_ivr_hangup_sends_disconnect_normal_clearing(pri: PriBench) -> None:
    pri.call(channel=1)
    pri.finish(BASE)  # the greeting ends
    pri.event(p.DigitEvent, channel=BASE, digit="0", start_t=pri.now, end_t=pri.now)
    pri.finish(BASE)  # goodbye
    pri.advance(0.2)
    (gone,) = pri.seen(ev.Disconnected)
    assert gone.cause == 16
    assert pri.seen(ev.Released) and pri.of(CallEnded)


def test_red_alarm_takes_the_link_down_and_clear_brings_it_back(pri: PriBench) -> None:
    pri.event(p.AlarmEvent, span=1, alarm="red")
    status = pri.of(SpanStatus)[-1]
    assert (status.alarm, status.link) == ("red", "down") and status.since == pri.now
    assert [(a.source, a.alarm) for a in pri.of(SpanAlarmChanged)] == [("span/carrier", "red")]
    pri.carrier.layer1_down(pri.now)
    pri.advance(2.0)
    pri.event(p.AlarmEvent, span=1, alarm="clear")
    pri.to_box(pri.carrier.start(pri.now))
    pri.advance(1.0)
    status = pri.of(SpanStatus)[-1]
    assert (status.alarm, status.link) == ("clear", "up")


def test_garbage_on_the_d_channel_is_counted_in_the_status(pri: PriBench) -> None:
    pri.event(p.DFrameEvent, channel=DCHAN, frame_hex="ff")
    pri.event(p.DFrameEvent, channel=DCHAN, frame_hex="0c0100")  # SAPI 3
    pri.event(p.DFrameEvent, channel=DCHAN, frame_hex="zz")  # not hex at all
    rejected = pri.of(SpanStatus)[-1].rejected
    assert rejected["l2_short"] == 1 and rejected["l2_bad_sapi"] == 1
    assert pri.cc.snapshot()["spans"]["carrier"]["counters"]["dframe_bad_hex"] == 1
    assert pri.of(SpanStatus)[-1].link == "up"


def test_calld_restart_ends_pri_calls_with_their_records(pri: PriBench) -> None:
    pri.call(channel=1)
    journal = pri.cc.checkpoint()
    assert [c["channel"] for c in journal["calls"]] == [BASE]
    # calld restarts: the journal has the call, the new stack has no ISDN state for it
    snap = pri.idle_snapshot()
    snap["channels"] += [{"number": BASE, "kind": "bchan", "name": "sim/span/1/1"}]
    cc = SpanCallControl(pri.config, pri.now, journal=journal)
    cmds = cc.start(snap, pri.now)
    (cdr,) = [f for f in cc.drain_facts() if isinstance(f, CallEnded)]
    assert cdr.channel == "sim/span/1/1" and cdr.uniqueid == journal["calls"][0]["call_id"]
    assert not cc.calls and p.Stop(channel=BASE) in cmds
    assert not [c for c in cmds if isinstance(c, p.Hook)]


def test_span_not_on_the_card_is_reported_and_never_sends(span_config: Config) -> None:
    cc = SpanCallControl(span_config, 1_700_000_000.0)
    analog_only = Bench(span_config).idle_snapshot()  # channels 1-5: no span on this card
    cmds = cc.start(analog_only, 1_700_000_000.0)
    assert not [c for c in cmds if isinstance(c, p.SendFrame)]
    (status,) = [f for f in cc.drain_facts() if isinstance(f, SpanStatus)]
    assert (status.alarm, status.link) == ("notopen", "down")
    cmds = cc.handle(p.ClockEvent(t=1_700_000_030.0), 1_700_000_030.0)
    assert not [c for c in cmds if isinstance(c, p.SendFrame)]
