"""`callbox isdn peer` argument handling and its other switch types against libpri."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import ROOT, parse_lines, run_pair


def cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware.cli", "isdn", "peer", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=30,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--role", "cpe", "--switch", "ni2"], "one of the arguments"),
        (["--role", "cpe", "--switch", "qsig", "--fd", "3"], "invalid choice"),
        (
            ["--role", "cpe", "--switch", "ni2", "--fd", "3", "--answer", "--reject", "17"],
            "exclude each other",
        ),
        (["--role", "cpe", "--switch", "ni2", "--fd", "3", "--timer", "t999=1"], "unknown timer"),
        (["--role", "cpe", "--switch", "ni2", "--fd", "3", "--channels", "1-24"], "B-channel 24"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(args: list[str], words: str) -> None:
    res = cli(*args)
    assert res.returncode == 2
    assert words in res.stderr


def test_connect_to_a_missing_socket_fails_clearly(tmp_path: Path) -> None:
    res = cli("--role", "cpe", "--switch", "ni2", "--connect", str(tmp_path / "nope"))
    assert res.returncode == 2 and "cannot connect" in res.stderr


def test_timeout_reports_what_it_waited_for() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    res = cli(
        "--role",
        "cpe",
        "--switch",
        "ni2",
        "--fd",
        str(a.fileno()),
        "--restart",
        "3",
        "--timeout",
        "1",
        pass_fds=[a.fileno()],
    )
    b.close()
    assert res.returncode == 2
    result = parse_lines(res.stdout)[-1]
    assert result["ok"] is False and "RESTART ACKNOWLEDGE for channel 3" in result["reason"]


def test_listen_and_connect_talk_to_each_other(tmp_path: Path) -> None:
    path = str(tmp_path / "dchan.sock")
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def network() -> None:
        results["net"] = cli(
            "--role",
            "network",
            "--switch",
            "euroisdn",
            "--listen",
            path,
            "--answer",
            "--serve",
            "--timeout",
            "15",
        )

    t = threading.Thread(target=network)
    t.start()
    for _ in range(100):
        if os.path.exists(path):
            break
        threading.Event().wait(0.05)
    user = cli(
        "--role",
        "cpe",
        "--switch",
        "euroisdn",
        "--connect",
        path,
        "--place-call",
        "4930123",
        "4940567",
        "--hangup-after",
        "100",
        "--timeout",
        "15",
    )
    t.join(20)
    assert user.returncode == 0, user.stderr
    assert results["net"].returncode == 0, results["net"].stderr
    inc = [e for e in parse_lines(results["net"].stdout) if e["event"] == "incoming_call"]
    assert inc and inc[0]["called"] == "4930123" and inc[0]["channel"] in range(17, 32)


@pytest.mark.parametrize("switch", ["dms100", "5ess"])
def test_other_t1_switch_types_against_libpri(libpri_peer: Path, switch: str) -> None:
    ours, theirs = run_pair(
        libpri_peer,
        [
            "--role",
            "cpe",
            "--switch",
            switch,
            "--place-call",
            "5551234",
            "5550000",
            "--hangup-after",
            "100",
            "--timeout",
            "15",
        ],
        ["--role", "network", "--switch", switch, "--answer", "--serve", "--timeout", "15"],
    )
    assert ours.rc == 0 and theirs.rc == 0, (ours.stderr, theirs.events)
    (ring,) = theirs.named("ring")
    assert ring["called"] == "5551234" and ring["layer1"] == 0x22
    assert theirs.named("hangup_req")[0]["cause"] == 16


def test_dahdi_convention_strips_and_appends_two_fcs_octets() -> None:
    from firmware.isdn.transport import DahdiDChannel

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    chan = DahdiDChannel(fd=a.fileno())
    assert chan.recv() == b""  # nothing waiting
    b.send(b"\x02\x01\x7f\xab\xcd")  # SABME + FCS as the driver delivers it
    assert chan.recv() == b"\x02\x01\x7f"
    b.send(b"\x12")
    assert chan.recv() == b"\x00"  # garbage shorter than an FCS: a short frame for LAPD
    assert chan.send(b"\x00\x01\x73")
    assert b.recv(100) == b"\x00\x01\x73\x00\x00"  # 2 octets the driver overwrites with the FCS
    b.close()
    assert chan.recv() is None  # closed: layer 1 down
    a.close()
