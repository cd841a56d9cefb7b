"""A PRI span on the simulated card: the carrier's side of a T1/E1 ISDN PRI.

`sim://?…&pri=T1` (or `E1`) adds one span after the stations, numbered like a DAHDI span:
timeslot k is card channel `base + k - 1`; the D-channel is timeslot 24 (T1) or 16 (E1), the
other timeslots are B-channels (`bchan`, `sim/span/1/<k>`, `dchan` `sim/span/1/dchan`).

The carrier is firmware/isdn's `IsdnStack` in the **network** role (switch `pri_switch`, default
NI2 on T1, EuroISDN on E1). Its D-channel reaches the box through the `Card` interface exactly as
a DAHDI D-channel does: the wire carries HDLC frames (address + control + information + the
16-bit FCS of ISO/IEC 13239, the CRC ITU-T Q.921 §2.7 prescribes), and the card edge checks the
FCS and hands the box `DFrame` events without it; `send_frame()` appends the FCS the way the
DAHDI driver replaces the two dummy octets. A frame whose FCS is wrong is dropped and counted
(`pri_bad_fcs`), as an HDLC controller does (DAHDI_EVENT_BADFCS). Frames cross the wire at the
next tick (20 ms), never inside the box's call.

Each B-channel is a `SpanLine`, which a `Caller` uses exactly like a `CoLine`: `incoming()` makes
the carrier send SETUP (calling number and name from the caller ID, called number `pri_called`,
the B-channel exclusive), the box's CONNECT answers it (the caller hears the box from then on),
the caller hanging up sends DISCONNECT (cause 16), and the box's DISCONNECT/RELEASE hangs the
caller up. Audio on a B-channel is the same G.711 rows as the trunks' (no line echo, no noise:
the span is digital end to end). Every Q.931 message either way is a `pri` notice for control
socket subscribers (`{"event": "pri", "span", "dir": "rx"|"tx", "message", "channel", "cause"}`,
rx = received by the carrier), so a test sees what the network side saw.

Layer 1: `alarm("red"|"yellow"|"blue"|"clear")` (control command `span_alarm`) takes the span
down or up: the box gets a `SpanAlarm` event, the carrier's data link goes down with it, and
D-channel frames stop both ways until the alarm clears.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from board.card import Alarm, ChannelInfo, ChannelKind, DFrame, SpanAlarm
from board.sim.people import Caller

if TYPE_CHECKING:
    from board.sim.network import Network, Timer
    from firmware.isdn.stack import Output

log = logging.getLogger(__name__)

#: timeslots per span and the D-channel's timeslot
SPAN_LAYOUT = {"T1": (24, 24), "E1": (31, 16)}
DEFAULT_SWITCH = {"T1": "ni2", "E1": "euroisdn"}


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc_table()
FCS_GOOD = 0xF0B8  # the CRC over frame + its FCS


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC[(crc ^ b) & 0xFF]
    return crc


def hdlc_fcs(frame: bytes) -> bytes:
    """The 2-octet HDLC frame check sequence (CRC-16/X.25, sent low octet first)."""
    fcs = _crc16(frame) ^ 0xFFFF
    return bytes((fcs & 0xFF, fcs >> 8))


def fcs_ok(wire: bytes) -> bool:
    """True when `wire` (frame + FCS) has a good frame check sequence."""
    return len(wire) >= 3 and _crc16(wire) == FCS_GOOD


class SpanLayout:
    """Where span `number`'s timeslots sit on the card (DAHDI-style numbering from `base`)."""

    def __init__(self, kind: str, base: int, number: int = 1) -> None:
        self.kind, self.base, self.number = kind, base, number
        timeslots, d_ts = SPAN_LAYOUT[kind]
        self.dchannel = base + d_ts - 1
        self.bchannels = {ts: base + ts - 1 for ts in range(1, timeslots + 1) if ts != d_ts}
        self.channels = tuple(
            ChannelInfo(
                base + ts - 1,
                ChannelKind.DCHAN if ts == d_ts else ChannelKind.BCHAN,
                f"sim/span/{number}/" + ("dchan" if ts == d_ts else str(ts)),
                span=number,
            )
            for ts in range(1, timeslots + 1)
        )


def check_url(url: str, params: dict[str, str]) -> tuple[str, str | None, str]:
    """`pri`, `pri_switch`, `pri_called` from a sim:// URL; BoardURLError names a bad one."""
    from board.errors import BoardURLError
    from firmware.isdn.switch import SWITCHES

    kind = params["pri"].upper()
    if kind not in SPAN_LAYOUT:
        raise BoardURLError(f"open card {url!r}: pri={params['pri']!r} (use T1 or E1)")
    switch = params.get("pri_switch") or None
    if switch is not None:
        if switch not in SWITCHES:
            raise BoardURLError(
                f"open card {url!r}: pri_switch={switch!r} unknown (known: {', '.join(SWITCHES)})"
            )
        if SWITCHES[switch].span_kind != kind:
            raise BoardURLError(
                f"open card {url!r}: pri_switch={switch} runs on "
                f"{SWITCHES[switch].span_kind} spans, not {kind}"
            )
    called = params.get("pri_called", "5550100")
    if not called.isdigit() or len(called) > 31:
        raise BoardURLError(f"open card {url!r}: pri_called={called!r} must be 1-31 digits")
    return kind, switch, called


class SpanCaller(Caller):
    """A caller on a B-channel: its row is the B-channel's (E1 rows skip the D-channel)."""

    _span_row: int | None = None

    @property
    def row(self) -> int | None:
        return self._span_row

    def place(self, line: Any) -> None:
        self._span_row = line.row
        super().place(line)


class SpanLine:
    """One B-channel, seen by a caller like a CO line (`incoming`, `far_hangup`, `row`)."""

    def __init__(self, span: SimSpan, timeslot: int, channel: int, row: int) -> None:
        self.span, self.timeslot, self.channel, self.row = span, timeslot, channel, row
        self.name = f"span-{span.number}-b{timeslot}"
        self._state = "idle"  # idle | setup | answered
        self.caller: Caller | None = None
        self.call_id: int | None = None
        self.box_offhook = False  # the box answered (CONNECT): for snapshots, like a CoLine
        self.cause: int | None = None  # cause of the last clearing

    @property
    def state(self) -> str:
        """idle | setup | answered; "span down" when idle on a span without a data link."""
        return "span down" if self._state == "idle" and not self.span.usable else self._state

    @property
    def idle(self) -> bool:
        return self._state == "idle" and self.caller is None and self.span.usable

    def incoming(
        self, caller: Caller, number: str | None, name: str | None, datetime: str | None = None
    ) -> None:
        if not self.idle:
            raise RuntimeError(f"{self.name} is {self.state}")
        self.caller = caller
        caller.line = self  # type: ignore[assignment]  # a SpanLine stands in for a CoLine
        self._state = "setup"
        self.cause = None
        self.span.setup(self, number, name)

    def far_hangup(self) -> None:
        """The caller hangs up: the carrier clears the call (DISCONNECT, cause 16)."""
        caller, self.caller = self.caller, None
        if caller is not None:
            caller.line = None
        self.span.net.connected[self.row] = False
        if self.call_id is not None:
            self.span.clear(self, 16)

    def released(self, cause: int) -> None:
        """The call is gone on the D-channel (the box cleared it, or it failed)."""
        self._state, self.call_id, self.cause, self.box_offhook = "idle", None, cause, False
        self.span.net.connected[self.row] = False
        caller, self.caller = self.caller, None
        if caller is not None:
            caller.line = None
            caller.on_box_hangup()

    def answered(self) -> None:
        self._state, self.box_offhook = "answered", True
        self.span.net.connected[self.row] = True
        if self.caller is not None:
            self.caller.on_answered()

    def snapshot(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "kind": "bchan",
            "name": self.name,
            "state": self.state,
            "box_offhook": self.box_offhook,
            "ringing": False,
            "caller": self.caller.name if self.caller else None,
            "cause": self.cause,
        }


class SimSpan:
    """The carrier on one simulated PRI span."""

    def __init__(
        self,
        net: Network,
        layout: SpanLayout,
        *,
        first_row: int,
        switch: str | None = None,
        called: str = "5550100",
    ) -> None:
        from firmware.isdn.config import SpanConfig
        from firmware.isdn.stack import IsdnStack

        self.net, self.layout, self.called = net, layout, called
        self.number, self.kind = layout.number, layout.kind
        self.config = SpanConfig(
            name=f"sim{layout.number}",
            kind=layout.kind,
            framing="esf" if layout.kind == "T1" else "crc4",
            line_code="b8zs" if layout.kind == "T1" else "hdb3",
            switch=switch or DEFAULT_SWITCH[layout.kind],
            role="network",
        )
        self.stack = IsdnStack(self.config, trace=True)
        self.dchannel = layout.dchannel
        self.lines: dict[int, SpanLine] = {}  # timeslot -> line
        self.by_channel: dict[int, SpanLine] = {}  # card channel -> line
        self.by_call: dict[int, SpanLine] = {}
        row = first_row  # the network's rows for B-channels follow the stations, in order
        for ts, ch in layout.bchannels.items():
            line = SpanLine(self, ts, ch, row)
            self.lines[ts] = self.by_channel[ch] = net.span_lines[row] = line
            row += 1
        self.alarm = Alarm.CLEAR
        self._from_box: deque[bytes] = deque()  # wire frames (with FCS) on their way
        self._timer: Timer | None = None
        self.link_up = False

    # ---- the wire ------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return self.link_up and self.alarm is Alarm.CLEAR

    def start(self) -> None:
        """Layer 1 up: the carrier brings its data link up, and ticks from now on."""
        self._output(self.stack.start(self.net.now))
        if self._timer is None:
            self._timer = self.net.after(0, self._tick)

    def from_box(self, frame: bytes) -> None:
        """The box's `send_frame`: the card adds the FCS and puts the frame on the wire."""
        if self.alarm is not Alarm.CLEAR:
            self.net.count("pri_tx_in_alarm")
            return
        self._from_box.append(bytes(frame) + hdlc_fcs(bytes(frame)))

    def _tick(self) -> None:
        now = self.net.now
        while self._from_box:
            wire = self._from_box.popleft()
            if not fcs_ok(wire):
                self.net.count("pri_bad_fcs")
                continue
            self._output(self.stack.receive(wire[:-2], now))
        deadline = self.stack.deadline()
        if deadline is not None and deadline <= now:
            self._output(self.stack.tick(now))
        self._timer = self.net.after(self.net.dt, self._tick)  # the next tick

    def to_box(self, wire: bytes) -> None:
        """The card edge: check the FCS of a frame from the carrier and hand it to the box."""
        if not fcs_ok(wire):
            self.net.count("pri_bad_fcs")
            return
        self.net.emit(DFrame(self.dchannel, wire[:-2]))

    def set_alarm(self, alarm: Alarm) -> None:
        if alarm is self.alarm:
            return
        self.alarm = alarm
        self.net.emit(SpanAlarm(self.number, alarm))
        self.net.notify("span_alarm", span=self.number, alarm=alarm.value)
        if alarm is Alarm.CLEAR:
            self._output(self.stack.start(self.net.now))
        else:
            self._from_box.clear()
            self._output(self.stack.layer1_down(self.net.now))

    # ---- calls ---------------------------------------------------------------------------------

    def setup(self, line: SpanLine, number: str | None, name: str | None) -> None:
        # a withheld number ("P") or none: no Calling party number IE ("not available")
        call_id = self.stack.place_call(
            self.called,
            "" if number in (None, "P") else str(number),
            line.timeslot,
            display=name or None,
            now=self.net.now,
        )
        line.call_id = call_id
        self.by_call[call_id] = line
        self._output(self.stack.drain(self.net.now))

    def clear(self, line: SpanLine, cause: int) -> None:
        if line.call_id is None:
            return
        self.stack.hangup(line.call_id, cause, now=self.net.now)
        self._output(self.stack.drain(self.net.now))

    def _output(self, out: Output) -> None:
        from firmware.isdn import events as ev

        for frame in out.frames:
            if self.alarm is Alarm.CLEAR:
                self.to_box(frame + hdlc_fcs(frame))
        for e in out.events:
            if isinstance(e, ev.MessageSent | ev.MessageReceived):
                self.net.notify(
                    "pri",
                    span=self.number,
                    dir="tx" if isinstance(e, ev.MessageSent) else "rx",
                    message=e.message,
                    channel=e.channel,
                    cause=e.cause,
                    called=e.called,
                    calling=e.calling,
                )
                self.net.count(f"pri_{'tx' if isinstance(e, ev.MessageSent) else 'rx'}")
            elif isinstance(e, ev.LinkUp):
                self.link_up = True
                self.net.notify("pri_link", span=self.number, up=True)
            elif isinstance(e, ev.LinkDown):
                self.link_up = False
                self.net.notify("pri_link", span=self.number, up=False, reason=e.reason)
            elif isinstance(e, ev.Connected):
                line = self.by_call.get(e.call_id)
                if line is not None:
                    line.answered()
            elif isinstance(e, ev.Released):
                line = self.by_call.pop(e.call_id, None)
                if line is not None:
                    line.released(e.cause)
            elif isinstance(e, ev.IncomingCall):
                # the box calling out: this carrier only delivers calls to the box
                self.net.count("pri_outgoing_rejected")
                self.stack.hangup(e.call_id, 21, now=self.net.now)
                self._output(self.stack.drain(self.net.now))
            elif isinstance(e, ev.BadInput):
                self.net.count(f"pri_{e.kind}")

    def idle_lines(self) -> list[SpanLine]:
        return [ln for ln in self.lines.values() if ln.idle]

    def snapshot(self) -> dict[str, Any]:
        st = self.stack.status()
        return {
            "span": self.number,
            "kind": self.kind,
            "switch": self.config.switch,
            "alarm": self.alarm.value,
            "link": st["link"],
            "channels": st["channels"],
            "counters": st["counters"],
            "lines": [ln.snapshot() for ln in self.lines.values()],
        }
