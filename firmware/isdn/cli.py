"""`callbox isdn peer`: the ISDN stack on its own, for interop tests and technicians.

Prints one JSON line per layer-2 and layer-3 event and exits 0 when the scenario completed,
1 when it failed (the reason on stderr and in a final `{"event": "result"}` line), 2 on a
timeout or bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import selectors
import sys
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, TextIO

from firmware.isdn.config import IsdnTimers, SpanConfig, SpanConfigError, parse_channels
from firmware.isdn.events import (
    ChannelRestarted,
    Connected,
    IncomingCall,
    IsdnEvent,
    LinkUp,
    Released,
)
from firmware.isdn.ie import cause_name
from firmware.isdn.stack import IsdnStack, Output
from firmware.isdn.switch import SWITCHES
from firmware.isdn.transport import DahdiDChannel, SeqPacketTransport, Transport, TransportError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="callbox isdn",
        description="The callbox ISDN PRI stack on its own.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    peer = sub.add_parser(
        "peer",
        prog="callbox isdn peer",
        help="run one D-channel with a scenario, printing JSON events",
        description="Run the stack on one D-channel and play a scenario; one JSON line per "
        "layer-2/layer-3 event; exit 0 when the scenario completed.",
    )
    peer.add_argument("--role", choices=("cpe", "network"), required=True)
    peer.add_argument("--switch", choices=tuple(SWITCHES), required=True)
    t = peer.add_mutually_exclusive_group(required=True)
    t.add_argument("--fd", type=int, help="inherited SOCK_SEQPACKET socket")
    t.add_argument("--connect", metavar="PATH", help="connect to a SOCK_SEQPACKET socket")
    t.add_argument("--listen", metavar="PATH", help="accept one SOCK_SEQPACKET connection")
    t.add_argument("--dahdi", metavar="PATH", help="DAHDI D-channel device (frame + 2 FCS)")
    peer.add_argument("--place-call", nargs=2, metavar=("CALLED", "CALLING"))
    peer.add_argument("--channel", type=int, help="B-channel for --place-call")
    peer.add_argument("--calls", type=int, default=1, help="back-to-back calls to place")
    peer.add_argument("--answer", action="store_true", help="answer incoming calls")
    peer.add_argument("--answer-after", type=int, default=0, metavar="MS")
    peer.add_argument(
        "--hangup-after",
        type=int,
        metavar="MS",
        help="hang up MS after answer; a placed call unanswered after MS is abandoned",
    )
    peer.add_argument(
        "--give-up-after",
        type=int,
        metavar="MS",
        help="abandon a placed call still unanswered after MS (default: --hangup-after)",
    )
    peer.add_argument("--reject", type=int, metavar="CAUSE", help="reject incoming calls")
    peer.add_argument(
        "--expect-cause",
        type=int,
        metavar="CAUSE",
        help="placed calls complete when cleared with this cause",
    )
    peer.add_argument("--restart", type=int, metavar="CHANNEL", help="RESTART a B-channel")
    peer.add_argument("--serve", action="store_true", help="keep going until the link closes")
    peer.add_argument("--timeout", type=float, default=30.0, metavar="S")
    peer.add_argument("--capture", metavar="PCAP", help="write a LINKTYPE_LINUX_LAPD capture")
    peer.add_argument(
        "--timer",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="override a timer (t200 t203 t303 t305 t308 t310 t313 t316 …)",
    )
    peer.add_argument("--channels", help="provisioned B-channels, e.g. 1-23")
    peer.add_argument("--overlap", action="store_true", help="overlap receiving")
    return p


@dataclass
class Scenario:
    args: argparse.Namespace
    placed: int = 0
    placed_done: int = 0
    incoming_done: int = 0
    restart_done: bool = False
    failures: list[str] = field(default_factory=list)
    connected: set[int] = field(default_factory=set)
    ours: set[int] = field(default_factory=set)
    abandoned: set[int] = field(default_factory=set)
    timers: dict[tuple[str, int], float] = field(default_factory=dict)

    def complete(self) -> bool:
        a = self.args
        if a.serve:
            return False
        ok = True
        if a.place_call:
            ok &= self.placed_done >= a.calls
        if a.restart is not None:
            ok &= self.restart_done
        if (a.answer or a.reject is not None) and not a.place_call:
            ok &= self.incoming_done >= 1
        return ok

    def waiting_for(self) -> str:
        a = self.args
        parts = []
        if a.place_call and self.placed_done < a.calls:
            parts.append(f"{a.calls - self.placed_done} placed call(s) to clear")
        if a.restart is not None and not self.restart_done:
            parts.append(f"RESTART ACKNOWLEDGE for channel {a.restart}")
        if (a.answer or a.reject is not None) and not a.place_call and not self.incoming_done:
            parts.append("an incoming call")
        return ", ".join(parts) or "the link to close"


class PeerRunner:
    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        timers = IsdnTimers()
        known = {f.name for f in fields(IsdnTimers)}
        for spec in args.timer:
            name, _, value = spec.partition("=")
            if name not in known:
                raise ValueError(f"--timer {spec}: unknown timer (known: {sorted(known)})")
            new: dict[str, Any] = {name: int(value) if name[0] == "n" else float(value)}
            timers = replace(timers, **new)
        chans = parse_channels(args.channels, "--channels") if args.channels else ()
        kind = SWITCHES[args.switch].span_kind
        self.config = SpanConfig(
            name="peer",
            kind=kind,
            framing="esf" if kind == "T1" else "crc4",
            line_code="b8zs" if kind == "T1" else "hdb3",
            switch=args.switch,
            role=args.role,
            channels=chans,
            overlap_receiving=args.overlap,
            timers=timers,
        )
        self.stack = IsdnStack(self.config, trace=True)
        self.sc = Scenario(args)
        self.t0 = time.monotonic()

    def emit(self, obj: dict[str, object]) -> None:
        obj = {"t": round(time.monotonic() - self.t0, 4), **obj}
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    def _place(self, now: float) -> None:
        a = self.args
        cid = self.stack.place_call(a.place_call[0], a.place_call[1], a.channel)
        self.sc.placed += 1
        self.sc.ours.add(cid)
        give_up = a.hangup_after if a.give_up_after is None else a.give_up_after
        if give_up is not None:
            self.sc.timers[("hangup", cid)] = now + give_up / 1000

    def handle(self, ev: IsdnEvent, now: float) -> None:
        a, sc, st = self.args, self.sc, self.stack
        self.emit(ev.as_dict())
        if isinstance(ev, LinkUp):
            if a.place_call and sc.placed == 0:
                self._place(now)
            if a.restart is not None and not sc.restart_done and not ev.reestablished:
                st.restart(a.restart)
        elif isinstance(ev, IncomingCall):
            if a.reject is not None:
                st.hangup(ev.call_id, a.reject)
            else:
                st.proceeding(ev.call_id)
                st.alerting(ev.call_id)
                if a.answer:
                    sc.timers[("answer", ev.call_id)] = now + a.answer_after / 1000
        elif isinstance(ev, Connected):
            sc.connected.add(ev.call_id)
            if a.hangup_after is not None:
                sc.timers[("hangup", ev.call_id)] = now + a.hangup_after / 1000
        elif isinstance(ev, Released):
            for key in [k for k in sc.timers if k[1] == ev.call_id]:
                del sc.timers[key]
            if ev.call_id in sc.ours:
                sc.placed_done += 1
                if a.expect_cause is not None:
                    if ev.cause != a.expect_cause:
                        sc.failures.append(
                            f"call {ev.call_id} cleared with cause {ev.cause} "
                            f"({ev.cause_text}), expected {a.expect_cause} "
                            f"({cause_name(a.expect_cause)})"
                        )
                elif ev.call_id not in sc.connected and ev.call_id not in sc.abandoned:
                    sc.failures.append(
                        f"call {ev.call_id} cleared before answer: cause {ev.cause} "
                        f"({ev.cause_text})"
                    )
                if sc.placed < a.calls and st.link.up:
                    self._place(now)
            else:
                sc.incoming_done += 1
                if a.answer and ev.call_id not in sc.connected:
                    sc.failures.append(
                        f"incoming call {ev.call_id} cleared before we answered: cause "
                        f"{ev.cause} ({ev.cause_text})"
                    )
        elif isinstance(ev, ChannelRestarted) and not ev.by_peer and ev.channel == a.restart:
            sc.restart_done = True

    def run_timers(self, now: float) -> None:
        for key, due in sorted(self.sc.timers.items(), key=lambda kv: kv[1]):
            if now < due or key not in self.sc.timers:
                continue
            del self.sc.timers[key]
            what, cid = key
            if cid not in self.stack.calls.calls:
                continue
            if what == "answer":
                self.stack.answer(cid)
            elif what == "hangup":
                if cid not in self.sc.connected:
                    self.sc.abandoned.add(cid)
                self.stack.hangup(cid, 16)

    def run(self, transport: Transport) -> int:
        a = self.args
        if a.capture:
            self.stack.start_capture(a.capture)
        sel = selectors.DefaultSelector()
        sel.register(transport.fileno(), selectors.EVENT_READ)
        deadline = self.t0 + a.timeout
        linger_until: float | None = None
        closed = False

        def flush(o: Output, now: float) -> None:
            nonlocal closed
            pending = [o]
            while pending:
                cur = pending.pop()
                for f in cur.frames:
                    if not transport.send(f):
                        closed = True
                for ev in cur.events:
                    self.handle(ev, now)
                    nxt = self.stack.drain(now)
                    if nxt.frames or nxt.events:
                        pending.append(nxt)

        now = time.monotonic()
        flush(self.stack.start(now), now)
        try:
            while True:
                now = time.monotonic()
                if closed:
                    break
                if self.sc.complete() or self.sc.failures:
                    if linger_until is None:
                        linger_until = now + 0.3
                    link = self.stack.link
                    if now >= linger_until or (not link._unacked and not link._queue):
                        break
                if now >= deadline:
                    self.emit(
                        {
                            "event": "result",
                            "ok": False,
                            "reason": f"timeout after {a.timeout:g} s waiting for "
                            f"{self.sc.waiting_for()}",
                        }
                    )
                    print(
                        f"callbox isdn peer: timeout waiting for {self.sc.waiting_for()}",
                        file=sys.stderr,
                    )
                    return 2
                nexts = [deadline]
                d = self.stack.deadline()
                if d is not None:
                    nexts.append(d)
                nexts += list(self.sc.timers.values())
                if linger_until is not None:
                    nexts.append(linger_until)
                wait = max(0.0, min(nexts) - now)
                for _key, _ in sel.select(wait):
                    while True:
                        frame = transport.recv()
                        if frame is None:
                            closed = True
                            break
                        if not frame:
                            break
                        now = time.monotonic()
                        flush(self.stack.receive(frame, now), now)
                now = time.monotonic()
                self.run_timers(now)
                flush(self.stack.tick(now), now)
        finally:
            sel.close()
            if closed:
                flush(self.stack.layer1_down(time.monotonic()), time.monotonic())
            self.stack.stop_capture()
        self.emit({"event": "counters", "counters": dict(self.stack.counters)})
        if self.sc.failures:
            reason = "; ".join(self.sc.failures)
        elif self.sc.complete() or (a.serve and closed):
            self.emit({"event": "result", "ok": True})
            return 0
        else:
            reason = f"link closed while waiting for {self.sc.waiting_for()}"
        self.emit({"event": "result", "ok": False, "reason": reason})
        print(f"callbox isdn peer: {reason}", file=sys.stderr)
        return 1


def open_transport(args: argparse.Namespace) -> Transport:
    if args.fd is not None:
        return SeqPacketTransport.from_fd(args.fd)
    if args.connect:
        return SeqPacketTransport.connect(args.connect)
    if args.listen:
        return SeqPacketTransport.listen(args.listen, timeout=args.timeout)
    return DahdiDChannel(args.dahdi)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.place_call is None and args.calls != 1:
        parser.error("--calls needs --place-call")
    if args.answer and args.reject is not None:
        parser.error("--answer and --reject exclude each other")
    try:
        runner = PeerRunner(args, sys.stdout)
    except (SpanConfigError, TypeError, ValueError) as e:
        parser.error(str(e))
    try:
        transport = open_transport(args)
    except TransportError as e:
        print(f"callbox isdn peer: {e}", file=sys.stderr)
        return 2
    try:
        return runner.run(transport)
    finally:
        transport.close()
