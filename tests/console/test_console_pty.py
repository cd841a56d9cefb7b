"""`callbox console` on a real pty against a real running box with a simulated PRI span.

The console runs as a subprocess on the pty's slave side (pyserial opens it like a serial port);
the test types on the master side like a technician's terminal: the first login sets the
password (stored hashed, mode 0600), `spans` and `span carrier` show the span's B-channels from
calld's admin socket, a bad line is refused and the session goes on, and after the console
restarts, wrong passwords lock it out. The box is test_pri_call.py's (fixture `pri_box`).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from firmware.config import verify_pin
from tests.integration.test_call_path import ROOT
from tests.integration.test_pri_call import pri_box  # noqa: F401 (the fixture)

PASSWORD = "pty-tech-pw1"


class Terminal:
    """The master side of a pty with `callbox console` on the slave side."""

    def __init__(self, cfg: Path, tmp: Path) -> None:
        self.master, self.slave = os.openpty()
        self.log = open(tmp / "console.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware.cli", "console", "--config", str(cfg)]
            + ["--port", os.ttyname(self.slave), "--socket", str(tmp / "calld.sock")],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.seen = b""

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, what: bytes, timeout: float = 10.0) -> bytes:
        """Everything read up to and including `what` (kept from the last expect on)."""
        end = time.monotonic() + timeout
        while what not in self.seen:
            left = end - time.monotonic()
            assert left > 0 and self.proc.poll() is None, (what, self.seen[-400:])
            if select.select([self.master], [], [], min(left, 0.2))[0]:
                self.seen += os.read(self.master, 4096)
        i = self.seen.index(what) + len(what)
        out, self.seen = self.seen[:i], self.seen[i:]
        return out

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)
        self.log.close()


@pytest.fixture
def console_box(pri_box: tuple[Any, Any, Path]) -> Iterator[tuple[Path, Path]]:  # noqa: F811
    """The PRI box, its config given a [console] section: 2 failures lock for 3 s."""
    sim, _sub, tmp = pri_box
    cfg = tmp / "box.toml"
    data = tomllib.loads(cfg.read_text())
    data["console"] = {"max_failures": 2, "lockout_s": 3, "password_file": str(tmp / "console.pw")}
    console_cfg = tmp / "console.toml"
    console_cfg.write_text(tomli_w.dumps(data))

    def span_up() -> Any:
        from firmware.console.main import ask_calld

        reply = ask_calld(tmp / "calld.sock")
        span = ((reply.get("snapshot") or {}).get("view") or {}).get("spans", {}).get("carrier")
        return span and span["link"] == "up" and span["channels"].get("idle") == [1, 2, 3, 4]

    sim.wait("span up with its B-channels idle", span_up)
    yield console_cfg, tmp


def test_console_on_a_pty_sets_password_shows_spans_refuses_bad_lines_and_locks_out(
    console_box: tuple[Path, Path],
) -> None:
    cfg, tmp = console_box
    term = Terminal(cfg, tmp)
    try:
        term.expect(b"new password: ")
        term.type(PASSWORD.encode() + b"\r")
        echoed = term.expect(b"again: ")
        assert PASSWORD.encode() not in echoed  # no echo of the password
        term.type(PASSWORD.encode() + b"\r\n")  # CRLF: one line, not two
        term.expect(b"logged in")
        term.expect(b"callbox> ")
        stored = (tmp / "console.pw").read_text().strip()
        assert verify_pin(PASSWORD, stored) and PASSWORD not in stored
        assert (tmp / "console.pw").stat().st_mode & 0o777 == 0o600

        term.type(b"spanz\x7fs\r")  # a typo fixed with DEL
        out = term.expect(b"callbox> ").decode()
        row = next(ln for ln in out.splitlines() if ln.startswith("carrier "))
        assert row.split()[1:5] == ["T1", "ni2", "up", "clear"], row
        assert "4 idle, 19 out of service" in row, row

        term.type(b"span carrier\n")
        out = term.expect(b"callbox> ").decode()
        assert "    idle              4  1-4" in out, out
        assert "    out of service   19  5-23" in out, out
        assert "  link   up" in out and "  calls  0" in out

        term.type(b"sp\xc3\x28ans\r")  # bad UTF-8: refused, the session goes on
        out = term.expect(b"callbox> ").decode(errors="replace")
        assert "error: not UTF-8 (byte 0xc3 at column 3) (line ignored)" in out
        term.type(b"alarms\r")
        assert b"no alarms" in term.expect(b"callbox> ")
        term.type(b"logout\r")
        term.expect(b"password: ")
    finally:
        term.close()
    log = (tmp / "console.log").read_text()
    assert "bad line: not UTF-8" in log

    # a new console run reads the stored hash: wrong passwords lock it, then it unlocks
    term = Terminal(cfg, tmp)
    try:
        term.expect(b"password: ")
        term.type(b"not-the-password\r")
        term.expect(b"login incorrect")
        term.expect(b"password: ")
        term.type(b"still-not-it\r")
        term.expect(b"locked for 3 s")
        term.type(PASSWORD.encode() + b"\r")
        term.expect(b"more")  # locked: even the right password is refused
        term.expect(b"console unlocked", timeout=8)
        term.expect(b"password: ")
        term.type(PASSWORD.encode() + b"\r")
        term.expect(b"logged in")
    finally:
        term.close()
    log = (tmp / "console.log").read_text()
    assert "failed login (1 in a row)" in log and "2 failed logins, locked for 3 s" in log
