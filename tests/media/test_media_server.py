"""callbox-media as a real process on the simulated card, driven over its real Unix socket.

Names cite the PROTOCOL.md section each test checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cython_ext.wavfile import read_wav
from firmware.media import protocol as p
from firmware.media.client import MediaCommandError, MediaLink, MediaLinkError

ROOT = Path(__file__).resolve().parents[2]
CARD = "sim://?trunks=2&stations=2&seed=1&noise=off&echo=off"


class Engine:
    """A callbox-media subprocess."""

    def __init__(
        self, tmp: Path, clock: str = "real", card: str = CARD, config: Path | None = None
    ) -> None:
        self.socket = tmp / "media.sock"
        self.log = tmp / f"media-{clock}.log"
        self.tmp = tmp
        argv = [sys.executable, "-m", "firmware.media.main", "--socket", str(self.socket)]
        if config is not None:
            argv += ["--config", str(config)]
        else:
            argv += ["--card", card, "--clock", clock]
        argv += ["--record-dir", str(tmp), "--log-level", "info"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=open(self.log, "wb"))  # noqa: SIM115

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"callbox-media exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(str(self.socket))
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"callbox-media did not listen within {timeout} s: {self.log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(tmp_path)
    eng.wait_ready()
    yield eng
    eng.stop()


@pytest.fixture
def virtual_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(tmp_path, clock="virtual")
    eng.wait_ready()
    yield eng
    eng.stop()


class Controller:
    """A blocking line-oriented controller on the real socket (bytes as they go on the wire)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.settimeout(10)
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        self.ids = 100

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("engine closed the connection")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return json.loads(raw)

    def reply(self) -> dict[str, Any]:
        """The next reply; events met on the way are kept in `events`."""
        while True:
            msg = self.line()
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def event(self, name: str) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev["event"] == name:
                return self.events.pop(i)
        while True:
            msg = self.line()
            if msg.get("event") == name:
                return msg
            if "event" in msg:
                self.events.append(msg)

    def cmd(self, name: str, **args: Any) -> dict[str, Any]:
        self.ids += 1
        self.send(json.dumps({"cmd": name, "id": self.ids, **args}).encode() + b"\n")
        reply = self.reply()
        assert reply["id"] == self.ids, reply
        return reply

    def close(self) -> None:
        self.sock.close()


def test_errors_malformed_unknown_bad_args_too_long_get_replies_and_the_engine_keeps_running(
    engine: Engine,
):
    c = Controller(engine.socket)
    first = c.cmd("hello")
    assert first["ok"] and first["card"] == CARD
    c.send(b"\x00\xff\xfe\x80 garbage bytes\n")
    c.send(b"{not json\n")
    c.send(b"[1, 2, 3]\n")
    c.send(b'{"cmd": "play", "files": ["beep"]}\n')  # no id
    c.send(b'{"cmd": "frobnicate", "id": 5}\n')
    c.send(b'{"cmd": "play", "id": 6, "channel": 99, "files": ["beep"]}\n')
    c.send(b'{"cmd": "hook", "id": 7, "channel": "one", "offhook": 1}\n')
    c.send(b'{"cmd": "hook", "id": 8, "channel": 1, "offhook": true, "colour": "red"}\n')
    c.send(b'{"cmd": "ring", "id": 9, "channel": 1, "on": true}\n')  # a trunk is not a station
    c.send(b'{"cmd": "play", "id": 10, "channel": 1, "files": ["no-such-prompt-here"]}\n')
    c.send(b'{"cmd": "snapshot", "id": 11, "pad": "' + b"x" * 70000 + b'"}\n')
    # an over-long line arriving in pieces, then a good command right after it
    for _ in range(5):
        c.send(b"y" * 20000)
        time.sleep(0.02)
    c.send(b'\n{"cmd": "snapshot", "id": 12}\n')
    got = [c.reply() for _ in range(12)]
    assert [(r["id"], r["ok"], r.get("code")) for r in got] == [
        (None, False, "malformed"),
        (None, False, "malformed"),
        (None, False, "malformed"),
        (None, False, "malformed"),
        (5, False, "unknown_cmd"),
        (6, False, "bad_channel"),
        (7, False, "bad_args"),
        (8, False, "bad_args"),
        (9, False, "bad_channel"),
        (10, False, "no_file"),
        (None, False, "too_long"),
        (None, False, "too_long"),
    ]
    assert "colour" in got[7]["error"] and "no-such-prompt-here" in got[9]["error"]
    snap = c.reply()
    assert snap["id"] == 12 and snap["ok"]
    stats = snap["stats"]
    assert stats["errors"] == 12
    assert (stats["malformed"], stats["unknown_cmd"], stats["bad_args"]) == (4, 1, 2)
    assert (stats["bad_channel"], stats["no_file"], stats["too_long"]) == (2, 1, 2)
    # still ticking and still obeying
    time.sleep(0.2)
    later = c.cmd("snapshot")
    assert later["tick"] >= snap["tick"] + 5
    assert c.cmd("play", channel=1, files=["beep"], play_id=1)["ok"]
    assert c.event("play_done")["play_id"] == 1
    assert engine.proc.poll() is None
    c.close()


def test_connection_calld_restart_keeps_links_and_players_running(engine: Engine):
    a = Controller(engine.socket)
    a.cmd("hello")
    assert a.cmd("connect", a=1, b=3)["ok"]
    assert a.cmd("moh", channel=2, on=True)["ok"]
    assert a.cmd("play", channel=4, files=["beep"], loop=True, play_id="p4")["ok"]
    assert a.cmd("record", channel=2, on=True, file="moh.wav", what="tx")["ok"]
    before = a.cmd("snapshot")
    a.close()  # calld goes away
    time.sleep(1.0)
    b = Controller(engine.socket)
    snap = b.cmd("hello")
    assert snap["tick"] >= before["tick"] + 20  # the engine ran while nobody was connected
    assert snap["links"] == [{"from": 1, "to": 3}, {"from": 3, "to": 1}]
    channels = {ch["number"]: ch for ch in snap["channels"]}
    assert channels[2]["player"] == {"type": "moh", "class": "default"}
    assert channels[4]["player"]["play_id"] == "p4" and channels[4]["player"]["loop"]
    assert channels[2]["recording"] == str(engine.tmp / "moh.wav")
    assert snap["stats"]["events_dropped"] > 0
    assert snap["stats"]["connections"] == before["stats"]["connections"] + 1
    rec = b.cmd("record", channel=2, on=False)
    # music went out the whole time, including while no controller was connected
    audio = read_wav(engine.tmp / "moh.wav")
    assert rec["samples"] == len(audio) >= (snap["tick"] - before["tick"]) * 160
    blocks = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    assert (np.abs(blocks).max(axis=1) > 0).mean() > 0.95
    b.close()


def test_connection_a_new_controller_replaces_the_old(engine: Engine):
    a = Controller(engine.socket)
    first = a.cmd("hello")["stats"]["connections"]
    b = Controller(engine.socket)
    assert b.cmd("hello")["stats"]["connections"] == first + 1
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            a.line()
    assert b.cmd("snapshot")["ok"]
    b.close()


def test_time_virtual_clock_waits_for_each_clock_ack(virtual_engine: Engine):
    c = Controller(virtual_engine.socket)
    snap = c.cmd("hello")
    t0 = snap["now"]
    clock = c.event("clock")
    assert clock["t"] == pytest.approx(t0 + 0.1)
    time.sleep(0.3)  # stopped: nothing more may come, the tick stays put
    assert c.cmd("snapshot")["tick"] == 5
    wrong = c.cmd("clock_ack", t=clock["t"] + 1.0)
    assert wrong["code"] == "bad_args" and "waits for" in wrong["error"]
    assert c.cmd("snapshot")["tick"] == 5
    # a command sent while stopped applies at the clock boundary: play_done is exact
    played = c.cmd("play", channel=1, files=["beep"], play_id=9)
    assert c.cmd("clock_ack", t=clock["t"])["ok"]
    t = clock["t"]
    ticks = -(-played["samples"] // 160)
    while True:
        msg = c.line()
        if msg.get("event") == "clock":
            assert msg["t"] == pytest.approx(t + 0.1)
            t = msg["t"]
            c.send(json.dumps({"cmd": "clock_ack", "id": 1, "t": t}).encode() + b"\n")
        elif msg.get("event") == "play_done":
            assert msg["t"] == pytest.approx(clock["t"] + ticks * 0.02)
            break
    c.close()


def test_sigterm_writes_open_recordings_and_removes_the_socket(tmp_path: Path):
    eng = Engine(tmp_path)
    eng.wait_ready()
    c = Controller(eng.socket)
    c.cmd("hello")
    c.cmd("play", channel=3, files=["beep"], loop=True)
    c.cmd("record", channel=3, on=True, file="open.wav", what="tx")
    time.sleep(0.3)
    assert eng.stop() == 0
    audio = read_wav(tmp_path / "open.wav")
    assert len(audio) >= 0.2 * 8000 and np.abs(audio).max() > 1000
    assert not eng.socket.exists()
    assert not (tmp_path / "open.wav.part").exists()


def test_client_medialink_retries_until_the_engine_listens_and_reconnects(tmp_path: Path):
    async def scenario() -> None:
        link = MediaLink(tmp_path / "media.sock", retry_min=0.05, retry_max=0.2)
        connecting = asyncio.create_task(link.connect())
        await asyncio.sleep(0.3)
        assert not connecting.done()  # nothing listens yet: it keeps retrying
        eng = Engine(tmp_path)
        try:
            snap = await asyncio.wait_for(connecting, 20)
            assert snap["protocol"] == p.PROTOCOL_VERSION and len(snap["channels"]) == 4
            with pytest.raises(MediaCommandError) as err:
                await link.command("play", channel=1, files=["no-such-prompt-here"])
            assert err.value.code == "no_file"
            reply = await link.command(p.Play(channel=1, files=("beep",), play_id=3))
            assert reply["play_id"] == 3
            done = None
            async for ev in link.events():
                if isinstance(ev, p.PlayDoneEvent):
                    done = ev
                    break
            assert done is not None and done.play_id == 3 and done.reason == "finished"
            # the engine goes away: the event iterator says so
            eng.stop()
            with pytest.raises(MediaLinkError):
                async for _ in link.events():
                    pass
            eng = Engine(tmp_path)
            snap = await asyncio.wait_for(link.connect(), 20)
            assert snap["tick"] < 1000 and snap["links"] == []  # a fresh engine
        finally:
            await link.close()
            eng.stop()

    asyncio.run(scenario())


def test_config_file_settings_with_flags_overriding(tmp_path: Path):
    eng = Engine(tmp_path, config=ROOT / "firmware" / "dev.toml")
    try:
        eng.wait_ready()
        c = Controller(eng.socket)  # --socket overrides media.socket
        snap = c.cmd("hello")
        assert snap["clock"] == "virtual"  # from [box] clock
        assert snap["card"].startswith("sim://?trunks=4&stations=6")  # from [board] card
        assert len(snap["channels"]) == 10 and snap["dsp"]["kernels"]["echo"]
        assert all(ch["echo"] == (ch["kind"] == "fxo") for ch in snap["channels"])
        c.close()
    finally:
        eng.stop()


def test_config_errors_exit_2_with_every_problem(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[box]\nsite = "hq"\nid = "b"\ntick_ms = "fast"\n[media]\nsocket = 3\n')
    proc = subprocess.run(
        [sys.executable, "-m", "firmware.media.main", "--config", str(bad)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "box.tick_ms" in proc.stderr and "media.socket" in proc.stderr
