"""ISDN stack figures: Q.931 messages parsed and built per second, calls per second set up and
cleared through the stack against itself, and the same call scenario with libpri.

    python3 tests/bench/bench_isdn.py [--calls 2000] [--wire-calls 200]

1. codec: typical messages (SETUP with numbers, CALL PROCEEDING, ALERTING, CONNECT,
   DISCONNECT, RELEASE, RELEASE COMPLETE) built from typed IEs and parsed back with typed IEs.
2. loopback: two IsdnStacks (CPE and network) wired in-process, each call SETUP → CONNECT →
   DISCONNECT → RELEASE → RELEASE COMPLETE with every LAPD frame and ack.
3. on the wire (one SOCK_SEQPACKET D-channel, two processes, calls back to back):
   libpri ↔ libpri, callbox ↔ libpri; ratio printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from firmware.isdn import ie as IE  # noqa: E402
from firmware.isdn import q931  # noqa: E402
from firmware.isdn.config import SpanConfig  # noqa: E402
from firmware.isdn.events import Connected, IncomingCall, Released  # noqa: E402
from firmware.isdn.ie import IeId  # noqa: E402
from firmware.isdn.q931 import MessageType as MT  # noqa: E402
from firmware.isdn.stack import IsdnStack  # noqa: E402


def build_all(cr: int) -> list[bytes]:
    cause = IE.Cause(16).encode()
    return [
        q931.encode(
            MT.SETUP,
            cr,
            False,
            [
                IE.BearerCapability().encode(),
                IE.ChannelId(5).encode(),
                IE.PartyNumber("2125551000", 2, 1, 0).encode(IeId.CALLING_NUMBER),
                IE.PartyNumber("5551234", 0, 1).encode(IeId.CALLED_NUMBER),
            ],
        ),
        q931.encode(MT.CALL_PROCEEDING, cr, True, [IE.ChannelId(5).encode()]),
        q931.encode(MT.ALERTING, cr, True, [IE.ProgressIndicator(8).encode()]),
        q931.encode(MT.CONNECT, cr, True, []),
        q931.encode(MT.DISCONNECT, cr, False, [cause]),
        q931.encode(MT.RELEASE, cr, True, [cause]),
        q931.encode(MT.RELEASE_COMPLETE, cr, False, [cause]),
    ]


DECODERS = {
    IeId.BEARER_CAPABILITY: IE.BearerCapability.decode,
    IeId.CHANNEL_ID: IE.ChannelId.decode,
    IeId.CAUSE: IE.Cause.decode,
    IeId.PROGRESS: IE.ProgressIndicator.decode,
    IeId.CALLED_NUMBER: lambda c: IE.PartyNumber.decode(c, False),
    IeId.CALLING_NUMBER: lambda c: IE.PartyNumber.decode(c, True),
}


def parse_all(msgs: list[bytes]) -> int:
    n = 0
    for raw in msgs:
        m = q931.decode(raw).message
        for e in m.ies:
            dec = DECODERS.get(e.ident)
            if dec is not None:
                dec(e.contents)
        n += 1
    return n


def bench_codec(seconds: float = 2.0) -> tuple[float, float]:
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for cr in range(1, 101):
            n += len(build_all(cr))
    built = n / (time.perf_counter() - t0)
    msgs = build_all(7)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            n += parse_all(msgs)
    parsed = n / (time.perf_counter() - t0)
    return built, parsed


def bench_loopback(calls: int) -> float:
    a = IsdnStack(SpanConfig(role="cpe"))
    b = IsdnStack(SpanConfig(role="network"))
    now = 0.0

    def pump(oa, ob):  # type: ignore[no-untyped-def]
        pend = [(b, f) for f in oa.frames] + [(a, f) for f in ob.frames]
        evs = list(oa.events) + list(ob.events)
        while pend:
            dst, f = pend.pop()
            o = dst.receive(f, now)
            evs += o.events
            src = b if dst is a else a
            pend += [(src, g) for g in o.frames]
        return evs

    pump(a.start(now), b.start(now))
    t0 = time.perf_counter()
    for _ in range(calls):
        cid = a.place_call("5551234", "2125551000")
        evs = pump(a.drain(now), b.drain(now))
        (inc,) = [e for e in evs if isinstance(e, IncomingCall)]
        b.proceeding(inc.call_id)
        b.alerting(inc.call_id)
        b.answer(inc.call_id)
        evs = pump(a.drain(now), b.drain(now))
        assert sum(isinstance(e, Connected) for e in evs) == 2, evs
        a.hangup(cid)
        evs = pump(a.drain(now), b.drain(now))
        assert sum(isinstance(e, Released) for e in evs) == 2, evs
    dt = time.perf_counter() - t0
    assert not a.calls.calls and not b.calls.calls
    return calls / dt


def build_libpri_peer(tmp: str) -> str | None:
    gcc = shutil.which("gcc")
    if not gcc or not Path("/usr/include/libpri.h").exists():
        return None
    out = os.path.join(tmp, "libpri_peer")
    src = ROOT / "tests" / "isdn" / "libpri_peer.c"
    subprocess.run([gcc, "-O2", "-o", out, str(src), "-lpri"], check=True)
    return out


def wire_pair(placer: list[str], answerer: list[str], calls: int) -> float:
    """Calls/s placed back to back by `placer` (CPE), answered and cleared at once by
    `answerer` (network), from the first SETUP to the last release as the placer saw them."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    common = ["--switch", "ni2", "--timeout", "300"]
    scen = ["--place-call", "5551234", "2125551000", "--channel", "5", "--calls", str(calls)]
    p1 = subprocess.Popen(
        [*placer, "--fd", str(a.fileno()), "--role", "cpe", *common, *scen],
        pass_fds=[a.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    p2 = subprocess.Popen(
        [
            *answerer,
            "--fd",
            str(b.fileno()),
            "--role",
            "network",
            *common,
            "--answer",
            "--hangup-after",
            "0",
            "--serve",
        ],
        pass_fds=[b.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    a.close()
    b.close()
    out1, _ = p1.communicate()
    p2.communicate()
    lines = [json.loads(x) for x in out1.splitlines() if x.startswith("{")]
    times = [x["t"] for x in lines if x["event"] in ("placed", "call_placed")]
    ends = [x["t"] for x in lines if x["event"] in ("hangup", "hangup_ack", "released")]
    answered = [x for x in lines if x["event"] in ("answer", "connected")]
    assert p1.returncode == 0 and len(times) == calls, (p1.returncode, lines[-3:])
    assert len(answered) == calls, f"only {len(answered)} of {calls} calls were answered"
    return calls / (ends[-1] - times[0])


def main() -> int:
    ap = argparse.ArgumentParser(description="ISDN stack benchmark")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--wire-calls", type=int, default=200)
    args = ap.parse_args()
    built, parsed = bench_codec()
    print(f"Q.931 codec:    {built:10.0f} messages built/s   {parsed:10.0f} messages parsed/s")
    cps = bench_loopback(args.calls)
    print(
        f"loopback:       {cps:10.0f} calls/s set up and cleared (callbox CPE <-> callbox "
        f"network, in-process, {args.calls} calls)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        peer = build_libpri_peer(tmp)
        if peer is None:
            print("wire:           libpri comparison skipped: needs gcc and libpri-dev")
            return 0
        ours = [sys.executable, "-m", "firmware.cli", "isdn", "peer"]
        n = args.wire_calls
        ref = wire_pair([peer], [peer], n)
        mine = wire_pair(ours, [peer], n)
        print(f"wire libpri:    {ref:10.1f} calls/s  (libpri CPE -> libpri network, {n} calls)")
        print(f"wire callbox:   {mine:10.1f} calls/s  (callbox CPE -> libpri network, {n} calls)")
        print(f"ratio callbox/libpri on the wire: {mine / ref:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
