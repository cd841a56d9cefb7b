"""PRI spans in call control: firmware/isdn's stack in the CPE role for each `[spans.<name>]`.

`SpanCallControl` is `CallControl` with the spans added, and the same pure surface (`start`,
`handle`, `tick`, `drain_facts`, `checkpoint`): no I/O, the media clock only. The D-channel
reaches it through the media engine's protocol (firmware/media/PROTOCOL.md): `dframe` events in
(one LAPD frame each, as the card delivered it), `send_frame` commands out, `alarm` events for the
span's layer 1. The stack gets the event's media time as `now`; its timers run on `clock` events.

Each provisioned B-channel is a trunk of call control, in a trunk group named after the span
(`ivr_menu`, `number` from the span's config), so the IVR and ACD handle a PRI caller exactly as
an analog one. What differs is translated at this edge, both ways:

- SETUP (`IncomingCall`) → CALL PROCEEDING, then the call is offered to call control at once
  (no rings to count; calling number and display name as the caller ID; a withheld number is
  empty) and call control answers it;
- call control's `hook offhook` on a B-channel → CONNECT; `hook onhook` → DISCONNECT (cause 16,
  normal clearing; RELEASE COMPLETE if not answered yet); neither reaches the media engine;
- DISCONNECT / RELEASE from the network (the caller hung up, or the call failed) → call control
  sees the caller gone (`loop_drop` on the channel), as for an analog line;
- `detect` on a B-channel never turns on caller ID or call-progress detection: the D-channel
  says who calls and when the call ends.

Status: every change of link, alarm, B-channel states, call count or rejected-input counters
is a `SpanStatus` fact (MQTT `span/<name>/status`, retained; the live view and `callbox status`);
every layer-1 alarm change also a `SpanAlarmChanged` fact (MQTT `event/alarm`, source
`span/<name>`). A span whose D-channel is not on the card is reported (`notopen`), not started.
After the data link first comes up the box RESTARTs the whole interface, as a PBX does at
start-up, so no B-channel is left in a state only the far end remembers.

Limit: the ISDN call state is not in the journal. When calld restarts, the media engine keeps
the audio, but PRI calls are not recovered: recovery ends them with their records (CDR,
queue_log), stops their audio, and the RESTART clears them at the carrier.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from firmware.calld.calls import Ringing
from firmware.calld.control import CallControl
from firmware.calld.facts import Fact, PortStatus, SpanAlarmChanged, SpanStatus
from firmware.config import Config, Span, TrunkGroup
from firmware.isdn import events as ev
from firmware.isdn.stack import IsdnStack, Output
from firmware.media import protocol as p

log = logging.getLogger(__name__)

NORMAL_CLEARING = 16
USER_BUSY = 17


class SpanLink:
    """One configured span: its stack, its channels, the calls on it."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.stack = IsdnStack(span.isdn)
        self.alarm = "clear"
        self.since = 0.0
        self.started = False
        self.restarted = False
        self.calls: dict[int, int] = {}  # card channel -> ISDN call id
        self.published: tuple[Any, ...] | None = None

    def drop_call(self, call_id: int) -> int | None:
        """Forget the ISDN call `call_id`; its card channel, or None if it was not ours."""
        for ch, cid in self.calls.items():
            if cid == call_id:
                del self.calls[ch]
                return ch
        return None

    def status(self, now: float) -> SpanStatus:
        st = self.stack.status()
        chans = st["channels"]
        assert isinstance(chans, dict)
        groups: dict[str, list[int]] = {}
        for ts, state in sorted(chans.items()):
            groups.setdefault(str(state), []).append(int(ts))
        counters = st["counters"]
        assert isinstance(counters, dict)
        calls = st["calls"]
        return SpanStatus(
            t=now,
            span=self.span.name,
            kind=self.span.isdn.kind,
            switch=self.span.isdn.switch,
            role=self.span.isdn.role,
            link=str(st["link"]),
            alarm=self.alarm,
            since=self.since,
            channels=groups,
            calls=calls if isinstance(calls, int) else 0,
            rejected={k: int(v) for k, v in sorted(counters.items()) if v},
        )


class SpanCallControl(CallControl):
    """CallControl plus the box's PRI spans (module docstring)."""

    def __init__(self, config: Config, now: float, journal: dict[str, Any] | None = None) -> None:
        super().__init__(config, now, journal)
        self.spans: dict[str, SpanLink] = {}
        self.span_of_dchannel: dict[int, SpanLink] = {}
        self.span_of_card_span: dict[int, SpanLink] = {}
        self.span_of_bchannel: dict[int, SpanLink] = {}
        for span in config.spans.values():
            if span.isdn.role != "cpe":
                log.warning("span %s: role %s is not run by calld", span.name, span.isdn.role)
                continue
            link = SpanLink(span)
            link.since = now
            self.spans[span.name] = link
            self.span_of_dchannel[span.dchannel] = link
            self.span_of_card_span[span.card_span] = link
            for ch in span.bchannels:
                self.span_of_bchannel[ch] = link
        self._add_span_trunks()

    def _add_span_trunks(self) -> None:
        """Every provisioned B-channel is a trunk, in a group named after its span."""
        for span in self.config.spans.values():
            if span.isdn.role != "cpe":
                continue
            group = TrunkGroup(
                name=span.name,
                channels=tuple(span.bchannels),
                answer_after_rings=1,
                callerid="none",
                ivr_menu=span.ivr_menu,
                number=span.number,
            )
            for ch in span.bchannels:
                self.trunks[ch] = group

    def _load(self, j: dict[str, Any]) -> None:
        # PRI calls in the journal load as calls, so that start() ends them with their records
        # (the media engine never has a B-channel "off hook": recovery sees the line gone)
        self._add_span_trunks()
        super()._load(j)

    # ==== the pure surface =======================================================================

    def start(self, snapshot: dict[str, Any], now: float) -> list[p.Command]:
        cmds = super().start(snapshot, now)
        chans = {int(c["number"]): c for c in snapshot.get("channels", []) if "number" in c}
        for ch in self.span_of_bchannel:  # PRI calls are not recovered (module docstring)
            c = chans.get(ch, {})
            if ch not in self.call_on_trunk and (c.get("player") or c.get("hears")):
                cmds += [p.Stop(channel=ch), p.Disconnect(channel=ch)]
        for link in self.spans.values():
            d = chans.get(link.span.dchannel)
            if d is None or d.get("kind", "dchan") != "dchan":
                # configured but not on this card (DAHDI calls it NOTOPEN): report, never send
                log.error("span %s: channel %d is not a D-channel on card %s; span not started",
                          link.span.name, link.span.dchannel, snapshot.get("card"))  # fmt: skip
                link.alarm, link.since = "notopen", now
                detail = f"channel {link.span.dchannel} is not a D-channel on the card"
                self._fact(SpanAlarmChanged(now, f"span/{link.span.name}", "notopen", detail))
                self._span_status(link, now, True)
                continue
            link.started = True
            cmds += self._pump(link, link.stack.start(now), now)
        return self._route(cmds, now)

    def handle(self, event: p.Event, now: float) -> list[p.Command]:
        if isinstance(event, p.DFrameEvent) and event.channel in self.span_of_dchannel:
            link = self.span_of_dchannel[event.channel]
            try:
                frame = event.frame
            except ValueError:
                link.stack.counters["dframe_bad_hex"] += 1
                return []
            return self._pump(link, link.stack.receive(frame, now), now)
        if isinstance(event, p.AlarmEvent) and event.span in self.span_of_card_span:
            link = self.span_of_card_span[event.span]
            return self._alarm(link, event.alarm, now) if link.started else []
        cmds = super().handle(event, now)
        if isinstance(event, p.ClockEvent):
            cmds += self._tick_spans(now)
        return self._route(cmds, now)

    def tick(self, now: float) -> list[p.Command]:
        return self._route(super().tick(now) + self._tick_spans(now), now)

    def drain_facts(self) -> list[Fact]:
        facts = super().drain_facts()
        return [
            replace(f, kind="bchan")
            if isinstance(f, PortStatus) and f.channel in self.span_of_bchannel
            else f
            for f in facts
        ]

    def snapshot(self) -> dict[str, Any]:
        out = super().snapshot()
        out["spans"] = {
            name: {**link.stack.status(), "alarm": link.alarm, "since": link.since}
            for name, link in self.spans.items()
        }
        return out

    # ==== the D-channel ==========================================================================

    def _tick_spans(self, now: float) -> list[p.Command]:
        cmds: list[p.Command] = []
        for link in self.spans.values():
            deadline = link.stack.deadline()
            if link.started and deadline is not None and deadline <= now:
                cmds += self._pump(link, link.stack.tick(now), now)
        return cmds

    def _alarm(self, link: SpanLink, alarm: str, now: float) -> list[p.Command]:
        if alarm == link.alarm:
            return []
        log.warning("span %s: layer 1 alarm %s (was %s)", link.span.name, alarm, link.alarm)
        self._fact(SpanAlarmChanged(now, f"span/{link.span.name}", alarm, f"was {link.alarm}"))
        was_clear, link.alarm, link.since = link.alarm == "clear", alarm, now
        if alarm == "clear":
            out = link.stack.start(now)
        elif was_clear:
            out = link.stack.layer1_down(now)
        else:
            out = link.stack.drain(now)
        return self._pump(link, out, now, force_status=True)

    def _pump(
        self, link: SpanLink, out: Output, now: float, *, force_status: bool = False
    ) -> list[p.Command]:
        """Frames to send and the stack's events, until the stack has nothing more to say."""
        result: list[p.Command] = []
        while out.frames or out.events:
            self._out = []
            for e in out.events:
                self._isdn_event(link, e, now)
            self._settle(now)
            result += self._route(self._flush(), now, pump=False)
            result += [
                p.SendFrame(channel=link.span.dchannel, frame_hex=f.hex()) for f in out.frames
            ]
            out = link.stack.drain(now)
        self._span_status(link, now, force_status)
        return result

    def _isdn_event(self, link: SpanLink, e: ev.IsdnEvent, now: float) -> None:
        span = link.span
        if isinstance(e, ev.LinkUp | ev.LinkDown):
            log.info("span %s: data link %s", span.name, "up" if isinstance(e, ev.LinkUp) else
                     f"down ({e.reason})")  # fmt: skip
            link.since = now
            if isinstance(e, ev.LinkUp) and not link.restarted:
                link.restarted = True
                link.stack.restart(None, now=now)  # a clean slate on every B-channel
        elif isinstance(e, ev.IncomingCall):
            self._incoming(link, e, now)
        elif isinstance(e, ev.Disconnected | ev.Released):
            ch = link.drop_call(e.call_id)
            if ch is None:
                return
            call = self.calls.get(self.call_on_trunk.get(ch, ""))
            if call is not None:
                log.info("span %s: call on %d cleared by the network, cause %d (%s)",
                         span.name, ch, e.cause, e.cause_text)  # fmt: skip
                self._caller_gone(call, now)

    def _incoming(self, link: SpanLink, e: ev.IncomingCall, now: float) -> None:
        span, stack = link.span, link.stack
        ch = span.card_channel(e.channel) if e.channel is not None else None
        if ch is None or ch not in self.span_of_bchannel or ch in self.call_on_trunk:
            # the stack offers only provisioned, idle channels; anything else is a stale call
            stack.hangup(e.call_id, USER_BUSY, now=now)
            return
        stack.proceeding(e.call_id, now=now)
        link.calls[ch] = e.call_id
        number = e.calling if e.calling_presentation == "allowed" else ""
        self.ringing.pop(ch, None)
        ringing = Ringing(ch, now, now, rings=1, number=number, name=e.display or "")
        self.ringing[ch] = ringing
        self._answer(ringing, now)

    # ==== commands for B-channels ================================================================

    def _route(self, cmds: list[p.Command], now: float, *, pump: bool = True) -> list[p.Command]:
        """Hook commands on B-channels become Q.931; detection there is DTMF only."""
        out: list[p.Command] = []
        touched: set[str] = set()
        for cmd in cmds:
            link = self.span_of_bchannel.get(getattr(cmd, "channel", -1))
            if link is None:
                out.append(cmd)
            elif isinstance(cmd, p.Hook):
                call_id = link.calls.get(cmd.channel)
                if call_id is None:
                    continue
                touched.add(link.span.name)
                if cmd.offhook:
                    link.stack.answer(call_id, now=now)
                else:
                    del link.calls[cmd.channel]
                    link.stack.hangup(call_id, NORMAL_CLEARING, now=now)
            elif isinstance(cmd, p.Detect) and (cmd.callerid or cmd.cpt):
                out.append(replace(cmd, callerid=False, cpt=False))
            else:
                out.append(cmd)
        if pump:
            for name in sorted(touched):
                link = self.spans[name]
                out += self._pump(link, link.stack.drain(now), now)
        return out

    def _span_status(self, link: SpanLink, now: float, force: bool) -> None:
        s = link.status(now)
        key = (s.link, s.alarm, s.since, s.channels, s.calls, s.rejected)
        if force or key != link.published:
            link.published = key
            self._fact(s)
