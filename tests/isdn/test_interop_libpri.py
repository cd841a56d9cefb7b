"""callbox's ISDN stack against Debian's libpri on one SOCK_SEQPACKET D-channel.

Each scenario runs `callbox isdn peer` and tests/isdn/libpri_peer.c as two processes, and
checks what EACH side reported (their JSON lines), not just their exit codes.
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import subprocess
import time
from pathlib import Path

import pytest

from firmware.isdn.config import IsdnTimers, SpanConfig
from firmware.isdn.events import (
    Connected,
    IncomingCall,
    IsdnEvent,
    LinkDown,
    LinkUp,
    Released,
)
from firmware.isdn.stack import IsdnStack

from .conftest import LineReader, Relay, Side, run_pair

SWITCHES = ["ni2", "euroisdn"]
ROLES = ["cpe", "network"]
COMBOS = list(itertools.product(SWITCHES, ROLES))
IDS = [f"{s}-{r}" for s, r in COMBOS]


def other(role: str) -> str:
    return "network" if role == "cpe" else "cpe"


def chan(switch: str) -> int:
    return 17 if switch == "euroisdn" else 5  # E1 timeslot above the D-channel; a T1 channel


def ours_args(switch: str, role: str, *more: str) -> list[str]:
    return ["--role", role, "--switch", switch, "--timeout", "15", *more]


def theirs_args(switch: str, role: str, *more: str) -> list[str]:
    return ["--role", other(role), "--switch", switch, "--timeout", "15", *more]


def assert_ok(ours: Side, theirs: Side) -> None:
    assert ours.rc == 0, (ours.result, ours.stderr)
    assert theirs.rc == 0, (theirs.events, theirs.stderr)
    assert ours.result["ok"] is True
    assert theirs.result["ok"] is True


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_1_outgoing_call_answered_then_cleared_by_us(
    libpri_peer: Path, switch: str, role: str
) -> None:
    ch = chan(switch)
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(
            switch,
            role,
            "--place-call",
            "5551234",
            "2125550000",
            "--channel",
            str(ch),
            "--hangup-after",
            "200",
        ),
        theirs_args(switch, role, "--answer", "--serve"),
    )
    assert_ok(ours, theirs)
    # what libpri saw
    (ring,) = theirs.named("ring")
    assert ring["called"] == "5551234" and ring["calling"] == "2125550000"
    assert ring["channel"] == ch
    assert ring["layer1"] == (0x23 if switch == "euroisdn" else 0x22)  # A-law / µ-law
    if switch == "euroisdn":
        assert ring["complete"] == 1  # Sending Complete in every EuroISDN SETUP
    (req,) = theirs.named("hangup_req")
    assert req["cause"] == 16
    # what we saw
    assert ours.named("connected")[0]["channel"] == ch
    (rel,) = ours.named("released")
    assert rel["cause"] == 16
    assert [e["message"] for e in ours.events if e["event"] == "message_sent"] == [
        "SETUP",
        "CONNECT_ACKNOWLEDGE",
        "DISCONNECT",
        "RELEASE_COMPLETE",
    ]
    assert ours.received("CONNECT") and ours.received("RELEASE")[0]["cause"] == 16


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_3_outgoing_call_cleared_by_far_end(
    libpri_peer: Path, switch: str, role: str
) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--place-call", "4000", "4001", "--channel", str(chan(switch))),
        theirs_args(
            switch, role, "--answer", "--answer-after", "100", "--hangup-after", "200", "--serve"
        ),
    )
    assert_ok(ours, theirs)
    assert theirs.named("answered") and theirs.named("hanging_up")[0]["connected"] == 1
    assert ours.named("alerting"), "libpri sends ALERTING before answering"
    (disc,) = ours.named("disconnected")
    assert disc["cause"] == 16
    assert ours.named("released")[0]["cause"] == 16
    assert ours.sent("RELEASE"), "we answer DISCONNECT with RELEASE"
    # libpri reports our RELEASE as the end of the call it was clearing
    assert [e["cause"] for e in theirs.named("hangup") + theirs.named("hangup_ack")] == [16]


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_2_incoming_call_answered_then_cleared_by_caller(
    libpri_peer: Path, switch: str, role: str
) -> None:
    ch = chan(switch)
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--answer", "--answer-after", "50", "--serve"),
        theirs_args(
            switch,
            role,
            "--place-call",
            "8005551212",
            "3125550100",
            "--channel",
            str(ch),
            "--hangup-after",
            "200",
        ),
    )
    assert_ok(ours, theirs)
    (inc,) = ours.named("incoming_call")
    assert inc["called"] == "8005551212" and inc["calling"] == "3125550100"
    assert inc["channel"] == ch and inc["calling_presentation"] == "allowed"
    assert ours.named("connected")
    assert ours.named("disconnected")[0]["cause"] == 16
    assert ours.named("released")
    assert theirs.named("proceeding") and theirs.named("ringing") and theirs.named("answer")
    assert theirs.named("answer")[0]["channel"] == ch
    assert [e["cause"] for e in theirs.named("hangup") + theirs.named("hangup_ack")] == [16]


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_3_incoming_call_cleared_by_us(libpri_peer: Path, switch: str, role: str) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--answer", "--hangup-after", "150"),
        theirs_args(switch, role, "--place-call", "100", "200", "--channel", str(chan(switch))),
    )
    assert_ok(ours, theirs)
    assert ours.named("connected") and ours.sent("DISCONNECT")[0]["cause"] == 16
    assert theirs.named("answer")
    assert theirs.named("hangup_req")[0]["cause"] == 16


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_2_5_incoming_call_rejected_with_cause(
    libpri_peer: Path, switch: str, role: str
) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--reject", "17"),
        theirs_args(switch, role, "--place-call", "300", "301", "--channel", str(chan(switch))),
    )
    assert ours.rc == 0, ours.stderr
    assert ours.sent("RELEASE_COMPLETE")[0]["cause"] == 17
    assert not ours.named("connected")
    # libpri's placed call ended before any answer: its scenario reports the clearing
    hang = theirs.named("hangup")
    assert hang and hang[0]["cause"] == 17, theirs.events
    assert not theirs.named("answer")


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_1_outgoing_call_rejected_by_far_end(
    libpri_peer: Path, switch: str, role: str
) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(
            switch,
            role,
            "--place-call",
            "555",
            "556",
            "--channel",
            str(chan(switch)),
            "--expect-cause",
            "21",
        ),
        theirs_args(switch, role, "--reject", "21"),
    )
    assert_ok(ours, theirs)
    assert ours.named("released")[0]["cause"] == 21
    assert not ours.named("connected")
    assert theirs.named("ring")


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_3_caller_gives_up_before_answer(libpri_peer: Path, switch: str, role: str) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(
            switch,
            role,
            "--place-call",
            "600",
            "601",
            "--channel",
            str(chan(switch)),
            "--hangup-after",
            "300",
        ),
        theirs_args(switch, role, "--serve"),
    )
    assert_ok(ours, theirs)
    assert ours.named("alerting") and not ours.named("connected")
    assert ours.sent("DISCONNECT")[0]["cause"] == 16
    assert theirs.named("ringing") == [] and theirs.named("ring")
    assert theirs.named("hangup_req")[0]["cause"] == 16
    assert not theirs.named("answered")


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_3_far_caller_gives_up_before_we_answer(
    libpri_peer: Path, switch: str, role: str
) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--serve"),
        theirs_args(
            switch,
            role,
            "--place-call",
            "700",
            "701",
            "--channel",
            str(chan(switch)),
            "--hangup-after",
            "300",
        ),
    )
    assert_ok(ours, theirs)
    assert ours.named("incoming_call") and not ours.named("connected")
    assert ours.named("disconnected")[0]["cause"] == 16
    assert ours.named("released")
    assert theirs.named("ringing") and not theirs.named("answer")


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_back_to_back_calls(libpri_peer: Path, switch: str, role: str) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(
            switch,
            role,
            "--place-call",
            "900",
            "901",
            "--calls",
            "4",
            "--hangup-after",
            "50",
            "--give-up-after",
            "10000",  # libpri answers in ms; only a stall on a slow runner gives up
        ),
        theirs_args(switch, role, "--answer", "--serve"),
    )
    assert_ok(ours, theirs)
    assert len(ours.named("connected")) == 4
    assert len(ours.named("released")) == 4
    assert len({e["call_ref"] for e in ours.sent("SETUP")}) == 4, "a fresh call reference each"
    assert len(theirs.named("ring")) == 4 and len(theirs.named("hangup_req")) == 4
    # and in the other direction
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--answer", "--serve"),
        theirs_args(
            switch,
            role,
            "--place-call",
            "902",
            "903",
            "--calls",
            "3",
            "--channel",
            str(chan(switch)),
            "--hangup-after",
            "50",
        ),
    )
    assert_ok(ours, theirs)
    assert len(ours.named("incoming_call")) == 3 and len(ours.named("released")) == 3
    assert len(theirs.named("answer")) == 3


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q931_5_5_restart_of_a_channel(libpri_peer: Path, switch: str, role: str) -> None:
    ch = chan(switch)
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--restart", str(ch)),
        theirs_args(switch, role, "--serve"),
    )
    assert_ok(ours, theirs)
    assert [e["channel"] for e in theirs.named("restart")] == [ch]
    (done,) = ours.named("channel_restarted")
    assert done == {**done, "channel": ch, "by_peer": False}
    assert ours.received("RESTART_ACKNOWLEDGE")[0]["channel"] == ch
    # libpri restarts one of ours
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(switch, role, "--serve"),
        theirs_args(switch, role, "--restart", str(ch)),
    )
    assert_ok(ours, theirs)
    assert [e["channel"] for e in theirs.named("restart_ack")] == [ch]
    (done,) = ours.named("channel_restarted")
    assert done["channel"] == ch and done["by_peer"] is True
    assert ours.sent("RESTART_ACKNOWLEDGE")[0]["channel"] == ch


# ------------------------------------------------------------------------------ link loss
class LiveStack:
    """Our stack in this process on a real socket, stepped by the test."""

    def __init__(self, sock: socket.socket, config: SpanConfig) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.stack = IsdnStack(config)
        self.events: list[IsdnEvent] = []
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ)
        self._out(self.stack.start(time.monotonic()))

    def _out(self, o) -> None:  # type: ignore[no-untyped-def]
        for f in o.frames:
            with contextlib.suppress(OSError):
                self.sock.send(f)
        self.events += o.events

    def run_until(self, pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            d = self.stack.deadline()
            wait = min(0.05, max(0.0, (d - time.monotonic()) if d else 0.05))
            for _ in self.sel.select(wait):
                try:
                    frame = self.sock.recv(4096)
                except BlockingIOError:
                    continue
                if frame:
                    self._out(self.stack.receive(frame, time.monotonic()))
            self._out(self.stack.tick(time.monotonic()))
        return pred()

    def act(self) -> None:
        self._out(self.stack.drain(time.monotonic()))


SABME_P = 0x7F  # SABME with P=1: how either side tries to bring a dead link back


def sabmes_from(frames: list[tuple[str, bytes]], side: str) -> int:
    return sum(s == side and len(f) == 3 and f[2] == SABME_P for s, f in frames)


@pytest.mark.parametrize(("switch", "role"), COMBOS, ids=IDS)
def test_q921_link_loss_and_recovery(libpri_peer: Path, switch: str, role: str) -> None:
    """Cut the D-channel, check BOTH sides saw the link go down and kept trying, restore it,
    check both saw it come back and that a call then works.

    Every step waits for the events it needs, never for a fixed time: the deadlines only bound
    a failure. Each side declares the line dead on its own timers (T203 idle poll, then N200
    polls T200 apart, 1.2 s here), so the test waits for both reports before restoring.
    """
    kind = "E1" if switch == "euroisdn" else "T1"
    cfg = SpanConfig(
        kind=kind,
        framing="esf" if kind == "T1" else "crc4",
        line_code="b8zs" if kind == "T1" else "hdb3",
        switch=switch,
        role=role,
        timers=IsdnTimers(t200=0.2, t203=0.4, link_retry=0.3),
    )
    ours_end, left = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    right, theirs_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    relay = Relay(left, right)  # left: our stack, right: libpri
    proc = subprocess.Popen(
        [
            str(libpri_peer),
            "--fd",
            str(theirs_end.fileno()),
            "--role",
            other(role),
            "--switch",
            switch,
            "--answer",
            "--serve",
            "--timeout",
            "120",  # a backstop only: the test closes the line when it is done
            "--timer",
            "T200=200",
            "--timer",
            "T203=400",
        ],
        pass_fds=[theirs_end.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs_end.close()
    out, err = LineReader(proc.stdout), LineReader(proc.stderr)  # type: ignore[arg-type]
    live = LiveStack(ours_end, cfg)

    def ours(kind: type, since: int = 0) -> int:
        return sum(isinstance(e, kind) for e in live.events[since:])

    def libpri_up() -> bool:  # its last layer-2 report is "up"
        names = [e["event"] for e in out.events if e["event"] in ("dchan_up", "dchan_down")]
        return bool(names) and names[-1] == "dchan_up"

    def why() -> str:
        return f"ours: {live.events[-6:]}\nlibpri: {[e['event'] for e in out.events]}"

    try:
        # Both sides send SABME at start-up and each comes up on the other's UA: ours can be up
        # while our UA is still in the relay, so wait for libpri's own report before the cut
        # (a cut then drops that UA: libpri never comes up, so never goes down).
        assert live.run_until(lambda: live.stack.link.up and libpri_up(), 20), why()
        at_cut = len(live.events)
        relay.cut()
        assert live.run_until(lambda: ours(LinkDown, at_cut) >= 1 and not libpri_up(), 20), why()
        # both sides keep trying while the line is dead: a SABME from each, after both saw it
        seen = len(relay.dropped_frames)

        def both_retry() -> bool:
            later = relay.dropped_frames[seen:]
            return sabmes_from(later, "left") >= 1 and sabmes_from(later, "right") >= 1

        assert live.run_until(both_retry, 20), relay.dropped_frames[seen:]
        assert not live.stack.link.up
        cid = live.stack.place_call("123", "456")
        live.act()
        (refused,) = [e for e in live.events if isinstance(e, Released) and e.call_id == cid]
        assert refused.cause == 38  # network out of order
        n_up = ours(LinkUp)
        relay.restore()
        assert live.run_until(lambda: ours(LinkUp) > n_up and libpri_up(), 20), why()
        cid = live.stack.place_call("5551000", "5552000", chan(switch))
        live.act()
        assert live.run_until(
            lambda: any(isinstance(e, Connected) and e.call_id == cid for e in live.events), 20
        ), why()
        live.stack.hangup(cid)
        live.act()
        assert live.run_until(
            lambda: any(isinstance(e, Released) and e.call_id == cid for e in live.events), 20
        ), why()
    finally:
        live.sock.close()  # the relay sees the close and closes libpri's end: layer 1 down
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            relay.stop.set()
    out.closed.wait(5)
    err.closed.wait(5)
    theirs = Side(proc.returncode, out.events, err.text)
    assert theirs.rc == 0, (theirs.events, theirs.stderr)
    names = [e["event"] for e in theirs.events]
    assert "dchan_down" in names, names
    down = names.index("dchan_down")
    assert "dchan_up" in names[:down], names
    assert "dchan_up" in names[down:], names
    assert names.index("ring", down) > down
    assert any(e["called"] == "5551000" for e in theirs.named("ring"))
    assert theirs.named("hangup_req")
    assert relay.dropped > 0
    assert not any(isinstance(e, IncomingCall) for e in live.events)


def test_capture_decodes_with_tshark(libpri_peer: Path, tmp_path: Path) -> None:
    tshark = "/usr/bin/tshark"
    assert Path(tshark).exists(), "Debian package tshark is needed"
    pcap = tmp_path / "dchan.pcap"
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(
            "ni2",
            "cpe",
            "--place-call",
            "5551234",
            "2125550000",
            "--channel",
            "3",
            "--hangup-after",
            "100",
            "--capture",
            str(pcap),
        ),
        theirs_args("ni2", "cpe", "--answer", "--serve"),
    )
    assert_ok(ours, theirs)
    res = subprocess.run(
        [
            tshark,
            "-r",
            str(pcap),
            "-Y",
            "q931",
            "-T",
            "fields",
            "-e",
            "lapd.sapi",
            "-e",
            "q931.call_ref",
            "-e",
            "q931.message_type",
            "-e",
            "q931.called_party_number.digits",
            "-e",
            "q931.cause_value",
            "-e",
            "q931.channel.number",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = [line.split("\t") for line in res.stdout.splitlines()]
    types = [int(r[2], 16) if r[2].startswith("0x") else int(r[2]) for r in rows]
    assert types == [0x05, 0x02, 0x01, 0x07, 0x0F, 0x45, 0x4D, 0x5A], rows
    assert all(r[0] == "0" for r in rows)
    setup = rows[0]
    assert setup[3] == "5551234"
    assert setup[5] == "3"
    assert rows[5][4] == "16"  # DISCONNECT cause normal clearing


# libpri's EuroISDN puts Sending Complete in every SETUP, so it cannot send overlap: NI2 only.
@pytest.mark.parametrize("role", ROLES)
def test_q931_5_2_4_overlap_receiving_from_libpri(libpri_peer: Path, role: str) -> None:
    switch = "ni2"
    ours, theirs = run_pair(
        libpri_peer,
        ours_args(
            switch, role, "--overlap", "--timer", "t302=0.5", "--answer", "--hangup-after", "100"
        ),
        theirs_args(
            switch,
            role,
            "--place-call",
            "55",
            "556",
            "--channel",
            str(chan(switch)),
            "--overlap-digits",
            "5123",
        ),
    )
    assert_ok(ours, theirs)
    assert ours.sent("SETUP_ACKNOWLEDGE")
    assert [e["called"] for e in ours.received("INFORMATION")] == ["5", "1", "2", "3"]
    (inc,) = ours.named("incoming_call")
    assert inc["called"] == "555123"
    assert ours.named("counters")[0]["counters"].get("q931_t302_expiry") == 1
    assert theirs.named("setup_ack") and theirs.named("answer")
