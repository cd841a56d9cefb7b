"""Fixtures for the ISDN tests: the libpri peer program, process pairs, an in-process peer.

The libpri peer (tests/isdn/libpri_peer.c) is compiled once per session with gcc against
Debian's libpri-dev; a missing compiler or library is a test error, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from firmware.isdn import q931
from firmware.isdn.config import IsdnTimers, SpanConfig
from firmware.isdn.events import IsdnEvent
from firmware.isdn.q921 import DataIndication, DataLink, LinkTimers
from firmware.isdn.stack import IsdnStack

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

# Short timers for the scenarios (libpri's in ms, ours in s).
LIBPRI_FAST = ["--timer", "T203=2000"]
OURS_FAST = ["--timer", "t203=2.0"]


@pytest.fixture(scope="session")
def libpri_peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build tests/isdn/libpri_peer.c (Debian package gcc)"
    assert Path("/usr/include/libpri.h").exists(), "Debian package libpri-dev is needed"
    out = tmp_path_factory.mktemp("libpri") / "libpri_peer"
    subprocess.run(
        [gcc, "-Wall", "-Werror", "-O1", "-o", str(out), str(HERE / "libpri_peer.c"), "-lpri"],
        check=True,
    )
    return out


def parse_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@dataclass
class Side:
    rc: int
    events: list[dict]
    stderr: str

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e["event"] == name]

    def sent(self, message: str) -> list[dict]:
        return [e for e in self.events if e["event"] == "message_sent" and e["message"] == message]

    def received(self, message: str) -> list[dict]:
        return [
            e for e in self.events if e["event"] == "message_received" and e["message"] == message
        ]

    @property
    def result(self) -> dict:
        res = self.named("result")
        assert res, f"no result line; stderr:\n{self.stderr}"
        return res[-1]


class Relay:
    """Forwards frames between two socket ends; `cut()` drops everything until `restore()`.

    Dropped frames are kept in `dropped_frames` as `(side, frame)`, side "left" or "right"
    being the end the frame came from.
    """

    def __init__(self, left: socket.socket, right: socket.socket) -> None:
        self.left, self.right = left, right
        self.cut_flag = threading.Event()
        self.stop = threading.Event()
        self.dropped = 0
        self.dropped_frames: list[tuple[str, bytes]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.left, selectors.EVENT_READ, self.right)
        sel.register(self.right, selectors.EVENT_READ, self.left)
        while not self.stop.is_set():
            for key, _ in sel.select(0.05):
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = src.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.stop.set()
                    break
                if self.cut_flag.is_set():
                    self.dropped += 1
                    self.dropped_frames.append(("left" if src is self.left else "right", data))
                    continue
                try:
                    key.data.send(data)
                except OSError:
                    self.stop.set()
        sel.close()
        for s in (self.left, self.right):
            s.close()

    def cut(self) -> None:
        self.cut_flag.set()

    def restore(self) -> None:
        self.cut_flag.clear()


class LineReader:
    """Reads a child's text stream on a thread as it comes, so a test can wait for a line
    while it does other work; `events` holds the JSON lines decoded."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.events: list[dict] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            if line.startswith("{"):
                self.events.append(json.loads(line))
        self.closed.set()

    def count(self, event: str) -> int:
        return sum(e["event"] == event for e in list(self.events))

    @property
    def text(self) -> str:
        return "".join(self.lines)


def run_pair(
    libpri: Path,
    ours: list[str],
    theirs: list[str],
    timeout: float = 20.0,
    during: Callable[[Relay], None] | None = None,
) -> tuple[Side, Side]:
    """Run `callbox isdn peer` and the libpri peer on one D-channel; both sides' JSON lines."""
    relay = None
    if during is not None:  # ours <-> relay_left | Relay | relay_right <-> theirs
        ours_end, relay_left = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        relay_right, theirs_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        relay = Relay(relay_left, relay_right)
    else:
        ours_end, theirs_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p_ours = subprocess.Popen(
        [sys.executable, "-m", "firmware.cli", "isdn", "peer", "--fd", str(ours_end.fileno())]
        + ours,
        pass_fds=[ours_end.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    p_theirs = subprocess.Popen(
        [str(libpri), "--fd", str(theirs_end.fileno())] + theirs,
        pass_fds=[theirs_end.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ours_end.close()
    theirs_end.close()
    try:
        if during is not None and relay is not None:
            during(relay)
        o_out, o_err = p_ours.communicate(timeout=timeout)
        t_out, t_err = p_theirs.communicate(timeout=timeout)
    finally:
        for p in (p_ours, p_theirs):
            if p.poll() is None:
                p.kill()
                p.wait()
        if relay is not None:
            relay.stop.set()
    return (
        Side(p_ours.returncode, parse_lines(o_out), o_err),
        Side(p_theirs.returncode, parse_lines(t_out), t_err),
    )


# ----------------------------------------------------------------------------- in-process
@dataclass
class CraftedPeer:
    """Our stack under test, and on the other end a bare LAPD link that sends crafted Q.931
    messages and records the ones it receives (no call control of its own)."""

    stack: IsdnStack
    link: DataLink
    now: float = 0.0
    events: list[IsdnEvent] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)

    def _pump(self, out_frames: list[bytes]) -> None:
        pending = [("peer", f) for f in out_frames]
        while pending:
            dst, frame = pending.pop(0)
            if dst == "peer":
                self.link.receive(frame, self.now)
                for ind in self.link.indications:
                    if isinstance(ind, DataIndication):
                        self.received.append(ind.info)
                self.link.indications.clear()
                self.link.flush()
                pending += [("stack", f) for f in self.link.out]
                self.link.out.clear()
            else:
                o = self.stack.receive(frame, self.now)
                self.events += o.events
                pending += [("peer", f) for f in o.frames]

    def start(self) -> None:
        self.link.start(self.now)
        frames = list(self.link.out)
        self.link.out.clear()
        o = self.stack.start(self.now)
        self.events += o.events
        for f in frames:
            o2 = self.stack.receive(f, self.now)
            self.events += o2.events
            self._pump(o2.frames)
        self._pump(o.frames)
        assert self.stack.link.up and self.link.up

    def send(self, message: bytes) -> None:
        """The peer sends one Q.931 message (as an I-frame)."""
        self.link.send(message, self.now)
        frames = list(self.link.out)
        self.link.out.clear()
        for f in frames:
            o = self.stack.receive(f, self.now)
            self.events += o.events
            self._pump(o.frames)

    def send_frame(self, frame: bytes) -> None:
        """A raw layer-2 frame straight into the stack."""
        o = self.stack.receive(frame, self.now)
        self.events += o.events
        self._pump(o.frames)

    def drain(self) -> None:
        o = self.stack.drain(self.now)
        self.events += o.events
        self._pump(o.frames)

    def advance(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            o = self.stack.tick(self.now)
            self.events += o.events
            self._pump(o.frames)
            self.link.tick(self.now)
            frames = list(self.link.out)
            self.link.out.clear()
            for f in frames:
                o2 = self.stack.receive(f, self.now)
                self.events += o2.events
                self._pump(o2.frames)

    def take(self) -> list[q931.Message]:
        msgs = [q931.decode(m).message for m in self.received]
        self.received.clear()
        return msgs

    def take_events(self) -> list[IsdnEvent]:
        ev, self.events = self.events, []
        return ev


def crafted(role: str = "cpe", switch: str = "ni2", **timers: float) -> CraftedPeer:
    kind = "E1" if switch == "euroisdn" else "T1"
    cfg = SpanConfig(
        kind=kind,
        framing="esf" if kind == "T1" else "crc4",
        line_code="b8zs" if kind == "T1" else "hdb3",
        switch=switch,
        role=role,
        timers=IsdnTimers(t203=1000.0, **timers),
    )
    stack = IsdnStack(cfg)
    link = DataLink(network=role != "network", timers=LinkTimers(t203=1000.0))
    peer = CraftedPeer(stack, link)
    peer.start()
    peer.take_events()
    return peer


@pytest.fixture
def cpe() -> Iterator[CraftedPeer]:
    yield crafted("cpe")


@pytest.fixture
def net() -> Iterator[CraftedPeer]:
    yield crafted("network")


def wait_for(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()
