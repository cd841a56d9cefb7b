"""`IsdnStack`: Q.921 + Q.931 for one PRI span behind one synchronous, sans-I/O class.

Feed it D-channel frames and the time; it returns the frames to send and the events for call
control. Nothing here blocks, sleeps or reads a clock: `now` (seconds, any monotonic origin)
comes from the caller, so tests drive it frame by frame and the CLI drives it from a selector.

    stack = IsdnStack(SpanConfig(switch="ni2", role="cpe"))
    out = stack.start(now)                 # SABME
    out = stack.receive(frame, now)        # -> Output(frames=[...], events=[...])
    call_id = stack.place_call("5551234", "5550000"); out = stack.drain(now)
    out = stack.tick(now)                  # at or after stack.deadline()
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from firmware.isdn.calls import CallLayer
from firmware.isdn.capture import DChannelCapture
from firmware.isdn.config import SpanConfig
from firmware.isdn.events import IsdnEvent, LinkDown, LinkUp
from firmware.isdn.q921 import DataIndication, DataLink, LinkTimers
from firmware.isdn.q921 import LinkDown as L2Down
from firmware.isdn.q921 import LinkUp as L2Up


class Output(NamedTuple):
    frames: list[bytes]
    events: list[IsdnEvent]


class IsdnStack:
    """One span's D-channel: data link, call control and B-channel status."""

    def __init__(self, config: SpanConfig, *, trace: bool = False) -> None:
        self.config = config
        self.counters: Counter[str] = Counter()
        t = config.timers
        self.link = DataLink(
            config.network,
            LinkTimers(t200=t.t200, t203=t.t203, n200=t.n200, retry=t.link_retry),
            self.counters,
        )
        self.calls = CallLayer(config, self.counters, trace=trace)
        self.capture: DChannelCapture | None = None
        self._now = 0.0
        self._events: list[IsdnEvent] = []

    # -- capture -------------------------------------------------------------------------------
    def start_capture(self, path: str) -> None:
        """Start (or restart) writing every D-channel frame to a pcap file."""
        self.stop_capture()
        self.capture = DChannelCapture(path, self.config.network)

    def stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.close()
            self.capture = None

    # -- driving -------------------------------------------------------------------------------
    def start(self, now: float) -> Output:
        """Layer 1 is up: bring the data link up (and keep it up)."""
        self.link.start(now)
        return self._run(now)

    def stop(self, now: float) -> Output:
        self.link.stop(now)
        return self._run(now)

    def layer1_down(self, now: float) -> Output:
        self.link.layer1_down(now)
        return self._run(now)

    def receive(self, frame: bytes, now: float) -> Output:
        if self.capture is not None:
            self.capture.record(frame, sent=False)
        self.link.receive(frame, now)
        return self._run(now)

    def tick(self, now: float) -> Output:
        self.link.tick(now)
        self.calls.tick(now)
        return self._run(now)

    def drain(self, now: float) -> Output:
        """Frames and events produced by API calls since the last return."""
        return self._run(now)

    def deadline(self) -> float | None:
        ds = [d for d in (self.link.deadline(), self.calls.deadline()) if d is not None]
        return min(ds) if ds else None

    # -- call control API ----------------------------------------------------------------------
    def place_call(
        self,
        called: str,
        calling: str,
        channel: int | None = None,
        *,
        called_type: int = 0,
        calling_type: int = 0,
        presentation: int = 0,
        display: str | None = None,
        now: float | None = None,
    ) -> int:
        """SETUP a call; returns its id. Frames and events come with the next `drain`."""
        self._at(now)
        return self.calls.place_call(
            called,
            calling,
            channel,
            self._now,
            called_type=called_type,
            calling_type=calling_type,
            presentation=presentation,
            display=display,
        )

    def proceeding(self, call_id: int, now: float | None = None) -> None:
        self.calls.proceeding(call_id, self._at(now))

    def alerting(self, call_id: int, now: float | None = None) -> None:
        self.calls.alerting(call_id, self._at(now))

    def answer(self, call_id: int, now: float | None = None) -> None:
        self.calls.answer(call_id, self._at(now))

    def hangup(self, call_id: int, cause: int = 16, now: float | None = None) -> None:
        self.calls.hangup(call_id, self._at(now), cause)

    def restart(self, channel: int | None = None, now: float | None = None) -> None:
        self.calls.restart(channel, self._at(now))

    def _at(self, now: float | None) -> float:
        """API calls start timers at `now`, or at the time of the last call into the stack."""
        if now is not None:
            self._now = now
        return self._now

    def status(self) -> dict[str, object]:
        """A snapshot for the console / MQTT span status."""
        return {
            "span": self.config.name,
            "role": self.config.role,
            "switch": self.config.switch,
            "link": "up" if self.link.up else "down",
            "link_state": int(self.link.state),
            "calls": len(self.calls.calls),
            "channels": {ch: s.value for ch, s in self.calls.channels.status.items()},
            "counters": dict(self.counters),
        }

    # -- plumbing ------------------------------------------------------------------------------
    def _run(self, now: float) -> Output:
        self._now = now
        link, calls = self.link, self.calls
        while True:
            busy = False
            if link.indications:
                busy = True
                inds, link.indications = link.indications, []
                for ind in inds:
                    self._events.extend(calls.events)
                    calls.events = []
                    if isinstance(ind, DataIndication):
                        calls.on_message(ind.info, now)
                    elif isinstance(ind, L2Up):
                        self._events.append(LinkUp(ind.reestablished))
                        calls.on_link_up(now)
                    elif isinstance(ind, L2Down):
                        self._events.append(LinkDown(ind.reason))
                        calls.on_link_down(now)
            if calls.out:
                busy = True
                msgs, calls.out = calls.out, []
                for msg in msgs:
                    if not link.send(msg, now):
                        self.counters["q931_dropped_link_down"] += 1
            if not busy:
                break
        link.flush()
        frames, link.out = link.out, []
        if self.capture is not None:
            for f in frames:
                self.capture.record(f, sent=True)
        self._events.extend(calls.events)
        calls.events = []
        events, self._events = self._events, []
        return Output(frames, events)
