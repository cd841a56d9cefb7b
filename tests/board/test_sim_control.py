"""The control socket: JSON lines over a Unix socket, served while the card ticks."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simtools import START, Run, prompt

from board.sim.card import SimCard
from board.sim.listener import find
from cython_ext.wavfile import read_wav, write_wav


class Client:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def line(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            assert data, "server closed the connection"
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return dict(json.loads(line))

    def raw(self, data: bytes) -> dict[str, Any]:
        self.sock.sendall(data)
        while True:
            msg = self.line()
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def __call__(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        reply = self.raw(json.dumps({"id": self.next_id, "cmd": cmd, **args}).encode() + b"\n")
        assert reply["id"] == self.next_id
        return reply


@pytest.fixture
def card(tmp_path: Path) -> Iterator[SimCard]:
    path = tmp_path / "sim.sock"
    c = SimCard(f"sim://?trunks=2&stations=2&start={START}&control={path}")
    yield c
    c.close()
    assert not path.exists()


@pytest.fixture
def client(card: SimCard) -> Iterator[Client]:
    assert card.control is not None
    cl = Client(card.control.path)
    yield cl
    cl.sock.close()


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ({"cmd": "fly"}, "unknown command"),
        ({"nocmd": 1}, "unknown command"),
        ({"cmd": "call", "trunk": 9}, "no channel 9"),
        ({"cmd": "call", "trunk": "one"}, "'trunk' must be int"),
        ({"cmd": "call", "colour": "red"}, "unknown argument 'colour'"),
        ({"cmd": "call", "ender": "nobody"}, "ender"),
        ({"cmd": "hangup", "party": "caller-99"}, "no party 'caller-99'"),
        ({"cmd": "hangup"}, "address a party"),
        ({"cmd": "offhook", "channel": 1}, "no caller on trunk"),
        ({"cmd": "offhook", "channel": 0}, "no channel 0"),
        ({"cmd": "dial", "channel": 3, "digits": "12"}, "on hook"),
        ({"cmd": "dial", "channel": 3, "digits": "12x"}, "not a string of DTMF digits"),
        ({"cmd": "dial", "channel": 3}, "missing argument 'digits'"),
        ({"cmd": "flash", "channel": 3}, "on hook"),
        ({"cmd": "speak", "channel": 3}, "needs 'file'"),
        ({"cmd": "speak", "channel": 3, "file": "/nonexistent.wav"}, "cannot read"),
        ({"cmd": "record", "channel": 3, "on": False}, "not recording"),
        (
            {"cmd": "record", "channel": 3, "on": True, "file": "/no/such/dir/x.wav"},
            "does not exist",
        ),
        ({"cmd": "record", "channel": 3, "on": "yes", "file": "/tmp/x.wav"}, "'on' must be bool"),
        ({"cmd": "traffic", "on": True}, "calls_per_hour"),
        ({"cmd": "traffic", "on": True, "calls_per_hour": -5}, "calls_per_hour must be > 0"),
        ({"cmd": "traffic", "on": True, "calls_per_hour": 5, "speed": 2}, "unknown traffic"),
        ({"cmd": "login", "agents": []}, "empty"),
        ({"cmd": "login", "agents": [{"station": 7, "agent": "1", "pin": "1"}]}, "no station 7"),
        ({"cmd": "login", "agents": [{"channel": 1, "agent": "1", "pin": "1"}]}, "not fxs"),
        ({"cmd": "login", "agents": [{"station": 1, "agent": "1"}]}, "missing argument 'pin'"),
        ({"cmd": "pause", "party": "station-1", "reason": "2"}, "not an agent"),
        ({"cmd": "state", "party": "nobody"}, "no party"),
    ],
)
def test_a_bad_command_gets_an_error_and_is_counted(
    client: Client, command: dict[str, Any], error: str
) -> None:
    reply = client.raw(json.dumps({"id": 5, **command}).encode() + b"\n")
    assert reply == {"id": 5, "ok": False, "error": reply["error"]}
    assert error in reply["error"]
    stats = client("stats")
    assert stats["ok"] and stats["errors"] == 1
    assert client("time")["ok"]  # still serving


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json\n", "malformed JSON"),
        (b"[1, 2]\n", "JSON object"),
        (b"\xff\xfe\n", "malformed JSON"),
        (b"x" * 70000 + b"\n", "line over"),
    ],
)
def test_malformed_lines_get_an_error_without_id(client: Client, data: bytes, error: str) -> None:
    reply = client.raw(data)
    assert reply["id"] is None and reply["ok"] is False and error in reply["error"]
    assert client("stats")["errors"] == 1


def _tick(card: SimCard, seconds: float) -> None:
    Run(card).run(seconds)


def test_call_state_and_hangup_with_events(card: SimCard, client: Client) -> None:
    assert client("subscribe")["subscribed"] is True
    reply = client("call", trunk=2, number="3125550142", name="LEO ITO", behave=False)
    assert reply == {"id": reply["id"], "ok": True, "party": "caller-1", "channel": 2}
    _tick(card, 1.0)
    state = client("state")["state"]
    assert state["lines"][1]["state"] == "ringing" and state["lines"][1]["caller"] == "caller-1"
    assert client("call", trunk=2)["error"] == "call: trunk 2 is ringing [errno 16]"
    assert client("hangup", party="caller-1")["ok"]
    _tick(card, 0.2)
    client("time")
    kinds = [(e["event"], e.get("party")) for e in client.events]
    assert ("call", "caller-1") in kinds and ("hangup", "caller-1") in kinds
    hangup = next(e for e in client.events if e["event"] == "hangup")
    assert hangup["reason"] == "control" and hangup["t"] >= START


def test_phone_commands_and_recording_what_it_hears(
    card: SimCard, client: Client, tmp_path: Path
) -> None:
    assert client("offhook", channel=3)["ok"]
    wav = tmp_path / "station1.wav"
    assert client("record", channel=3, on=True, file=str(wav))["ok"]
    greeting = prompt("hello-world")
    run = Run(card)
    run.send(3, greeting)
    spoken = tmp_path / "reply.wav"
    write_wav(spoken, prompt("vm-goodbye"))
    assert client("speak", channel=3, file=str(spoken))["ok"]
    assert client("dial", party="station-1", digits="5")["ok"]
    run.run(2.0)
    reply = client("record", channel=3, on=False)
    assert reply["seconds"] == pytest.approx(2.0)
    at, rho = find(read_wav(wav), greeting)
    assert at == 0 and rho > 0.99
    at, rho = find(run.rx(3), prompt("vm-goodbye"))
    assert at == 0 and rho > 0.99
    assert client("flash", channel=3)["ok"]
    assert client("onhook", channel=3)["ok"]


def test_traffic_and_agents_over_the_socket(card: SimCard, client: Client) -> None:
    reply = client("login", agents=[{"station": 1, "agent": 1001, "pin": "4321", "mode": "ring"}])
    assert reply["parties"] == ["agent-1001"]
    assert "already" in client("login", agents=[{"station": 1, "agent": 1002, "pin": "1"}])["error"]
    reply = client("traffic", on=True, calls_per_hour=3600, aht=30, patience=10, ivr={"1": 1})
    assert reply["ok"] and reply["next_arrival"] > START
    _tick(card, 5.0)
    stats = client("traffic", on=False)["stats"]
    assert stats["offered"] >= 1
    heard = client("heard", party="agent-1001")
    assert heard["party"] == "agent-1001" and isinstance(heard["heard"], list)
    assert client("state", party="agent-1001")["state"]["agent"] == "1001"
    assert client("pause", party="agent-1001", reason="3")["ok"]


def test_commands_are_safe_while_the_card_ticks_in_another_thread(
    card: SimCard, client: Client
) -> None:
    stop = threading.Event()

    def tick() -> None:
        run = Run(card)
        while not stop.is_set():
            run.run(0.1)

    worker = threading.Thread(target=tick)
    worker.start()
    try:
        for i in range(50):
            assert client("offhook" if i % 2 == 0 else "onhook", channel=4)["ok"]
            assert client("state")["ok"]
    finally:
        stop.set()
        worker.join()
    assert client("stats")["errors"] == 0
