"""The whole call path on the real box: callbox-media + callbox-calld on the simulated card.

Real processes (`python -m firmware.media.main`, `python -m firmware.calld.main`) on the virtual
clock, a real mosquitto (the `mosquitto` fixture) with a real paho subscriber, the simulated
card driven over its JSON-lines control socket. Every audio claim is checked on the audio: what
the caller's line and the agent's station carried is recorded by the card and searched for the
prompt, music and voice samples by normalised cross-correlation.
"""

from __future__ import annotations

import contextlib
import csv
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import tomli_w

from cython_ext.wavfile import read_wav
from firmware.commands.run import absolute_paths

ROOT = Path(__file__).resolve().parents[2]
DEV_TOML = ROOT / "firmware" / "dev.toml"
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MOH_DIR = Path("/usr/share/asterisk/moh")
EPOCH = 1_780_000_000.0  # the virtual clock's start (2026-05-28)
RATE = 8000
MATCH = 0.8  # normalised correlation that counts as "these samples are in that recording"


# ---- audio -------------------------------------------------------------------------------------


def ncc(template: np.ndarray, recording: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of `template` at every offset of `recording` (-1..1)."""
    t = template.astype(np.float64)
    t = t - t.mean()
    r = recording.astype(np.float64)
    n = len(t)
    if len(r) < n:
        return np.zeros(0)
    size = 1 << int(np.ceil(np.log2(len(r) + n)))
    corr = np.fft.irfft(np.fft.rfft(r, size) * np.conj(np.fft.rfft(t, size)), size)[
        : len(r) - n + 1
    ]
    c1 = np.concatenate(([0.0], np.cumsum(r)))
    c2 = np.concatenate(([0.0], np.cumsum(r * r)))
    s1 = c1[n:] - c1[:-n]
    energy = (c2[n:] - c2[:-n]) - s1 * s1 / n
    denom = np.sqrt(np.maximum(energy, 1e-9) * float(np.dot(t, t)))
    out = corr / denom
    out[energy < 1e-3 * float(np.dot(t, t))] = 0.0  # near-silence never "matches"
    return np.asarray(out)


def find(template: np.ndarray, recording: np.ndarray) -> tuple[int, float]:
    """Best offset (samples) of `template` in `recording` and its normalised correlation."""
    c = ncc(template, recording)
    if c.size == 0:
        return -1, 0.0
    i = int(np.argmax(c))
    return i, float(c[i])


def voiced(samples: np.ndarray, seconds: float = 1.0) -> np.ndarray:
    """The loudest `seconds` of a prompt: a template that is speech, not leading silence."""
    n = int(seconds * RATE)
    if len(samples) <= n:
        return samples
    e = np.convolve(samples.astype(np.float64) ** 2, np.ones(n), "valid")
    i = int(np.argmax(e))
    return samples[i : i + n]


# ---- the simulated card's control socket --------------------------------------------------------


class SimControl:
    """Commands on one connection; events (subscribe) collected by a thread on another."""

    def __init__(self, path: Path, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
        self.procs, self.logs, self.id = procs, logs, 0
        self.sock = self._connect(path)
        self.file = self.sock.makefile("rwb")
        self.events: list[dict[str, Any]] = []
        self._ev_sock = self._connect(path)
        self._ev_sock.sendall(b'{"id": 1, "cmd": "subscribe", "on": true}\n')
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _connect(self, path: Path) -> socket.socket:
        deadline = time.monotonic() + 30
        while True:
            self.check_alive()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise AssertionError(f"sim control socket {path} never came up") from None
                time.sleep(0.05)

    def _follow(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self._ev_sock.makefile("rb"):
                msg = json.loads(line)
                if "event" in msg or "id" not in msg:
                    self.events.append(msg)

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{proc.args[2]} exited with {proc.returncode}:\n" + self.log_tail()
                )

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.logs.glob("*.log"))
        )

    def __call__(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.check_alive()
        self.id += 1
        self.file.write(json.dumps({"id": self.id, "cmd": cmd, **args}).encode() + b"\n")
        self.file.flush()
        while True:
            line = self.file.readline()
            assert line, "the simulated card closed its control socket\n" + self.log_tail()
            reply: dict[str, Any] = json.loads(line)
            if reply.get("id") == self.id:
                assert reply.get("ok"), f"sim control {cmd} {args}: {reply.get('error')}"
                return reply

    def now(self) -> float:
        return float(self("time")["t"])

    def wait(self, what: str, cond: Callable[[], Any], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = cond()
            if result:
                return result
            self.check_alive()
            time.sleep(0.02)
        raise AssertionError(
            f"timed out waiting for {what}; events: {self.events}\n{self.log_tail()}"
        )

    def event(self, kind: str, **match: Any) -> Callable[[], dict[str, Any] | None]:
        def cond() -> dict[str, Any] | None:
            for e in list(self.events):
                if e.get("event") == kind and all(e.get(k) == v for k, v in match.items()):
                    return e
            return None

        return cond

    def until(self, t: float) -> None:
        self.wait(f"virtual time {t}", lambda: self.now() >= t)

    def close(self) -> None:
        for s in (self.sock, self._ev_sock):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


# ---- MQTT ---------------------------------------------------------------------------------------


class Subscriber:
    """A real paho client subscribed to the box's whole topic tree; keeps every message."""

    def __init__(self, host: str, port: int, base: str) -> None:
        self.base = base
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(base + "/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the MQTT subscriber never got its SUBACK"

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            payload = {"raw": msg.payload.decode(errors="replace")}
        with self.lock:
            self.messages.append((msg.topic[len(self.base) + 1 :], payload, bool(msg.retain)))

    def on(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


# ---- the box ------------------------------------------------------------------------------------


def box_config(
    tmp: Path, broker_host: str, broker_port: int, box_id: str, mode: str = "ring"
) -> Path:
    """dev.toml cut down to one trunk and two stations in `mode` (agents 1001, 1002 in sales),
    its relative prompt paths made absolute, records/sockets in `tmp`, MQTT on the test broker."""
    with open(DEV_TOML, "rb") as fh:
        data = absolute_paths(tomllib.load(fh), DEV_TOML.parent)
    data["box"].update(site="itest", id=box_id, clock="virtual", virtual_start=EPOCH)
    data["board"]["card"] = (
        f"sim://?trunks=1&stations=2&seed=7&zone=us&control={tmp / 'sim.sock'}&start={EPOCH}"
    )
    data["media"]["socket"] = str(tmp / "media.sock")
    data["ports"]["trunks"]["main"]["channels"] = "1"
    data["stations"] = {
        "101": {"channel": 2, "mode": mode},
        "102": {"channel": 3, "mode": mode},
    }
    data["agents"] = {k: data["agents"][k] for k in ("1001", "1002")}
    data["queues"] = {"sales": dict(data["queues"]["sales"], members=["1001", "1002"])}
    data["ivr"]["menus"]["main"]["choices"] = {"1": "queue:sales"}
    data["mqtt"].update(enabled=True, host=broker_host, port=broker_port)
    data["records"] = {"dir": str(tmp / "records")}
    data["sim"] = {
        "seed": 7,
        "agent_pins": {"1001": "1001", "1002": "2002"},
        "seating": {"101": "1001", "102": "1002"},
        "choice_weights": {"1": 1.0},
    }
    path = tmp / "box.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@contextlib.contextmanager
def running_box(cfg: Path, tmp: Path) -> Iterator[SimControl]:
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for prog in ("media", "calld"):
            log = open(tmp / f"{prog}.log", "wb")  # noqa: SIM115
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"firmware.{prog}.main", "--config", str(cfg)],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        sim = SimControl(tmp / "sim.sock", procs, tmp)
        try:
            yield sim
        finally:
            sim.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


# ---- the test -----------------------------------------------------------------------------------


Box = tuple[SimControl, Subscriber, Path]


@contextlib.contextmanager
def box_on_broker(tmp: Path, mosquitto: Any, mode: str) -> Iterator[Box]:
    box_id = "cp" + uuid.uuid4().hex[:8]
    sub = Subscriber(mosquitto.host, mosquitto.port, f"callbox/v1/itest/{box_id}")
    cfg = box_config(tmp, mosquitto.host, mosquitto.port, box_id, mode)
    try:
        with running_box(cfg, tmp) as sim:
            yield sim, sub, tmp
    finally:
        sub.close()


@pytest.fixture
def box(tmp_path: Path, mosquitto: Any) -> Iterator[Box]:
    """Both stations rung (ring mode)."""
    with box_on_broker(tmp_path, mosquitto, "ring") as b:
        yield b


@pytest.fixture
def nailed_box(tmp_path: Path, mosquitto: Any) -> Iterator[Box]:
    """Both stations nailed up."""
    with box_on_broker(tmp_path, mosquitto, "nailed") as b:
        yield b


def test_call_path_greeting_moh_whisper_talk_hangup_records_mqtt(box: Box) -> None:
    sim, sub, tmp = box
    rec = tmp / "audio"
    rec.mkdir()
    # both stations record what they hear and send from before any call
    t_rec_stations = sim.now()
    for ch in (2, 3):
        for what in ("heard", "sent"):
            sim("record", channel=ch, on=True, file=str(rec / f"ch{ch}-{what}.wav"), what=what)

    # agent 1002 logs in first, 1001 eight virtual seconds later: 1002 has been idle longest
    sim("login", agents=[{"station": 2, "agent": "1002", "pin": "2002", "mode": "ring"}])
    login2 = sim.wait("agent 1002 login", sim.event("login", party="agent-1002"))
    sim.until(login2["t"] + 8.0)
    sim("login", agents=[{"station": 1, "agent": "1001", "pin": "1001", "mode": "ring"}])
    sim.wait("agent 1001 login", sim.event("login", party="agent-1001"))

    wrapup_s = float(tomllib.loads((tmp / "box.toml").read_text())["queues"]["sales"]["wrapup_s"])
    placed = sim("call", trunk=1, number="5551234", name="ALICE", digits="1", hold=12.0)
    caller = placed["party"]
    for what in ("heard", "sent"):
        sim("record", channel=1, on=True, file=str(rec / f"caller-{what}.wav"), what=what)
    t_call = sim.now()

    # the caller's recording must stop while it is still on the line (hold is 12 s)
    talk = sim.wait("caller talks", sim.event("connected", party=caller), timeout=40)
    sim.until(talk["t"] + 7.0)
    for what in ("heard", "sent"):
        sim("record", channel=1, on=False, what=what)
    heard_by_caller = sim("heard", party=caller)["heard"]
    sim.wait("caller hangs up", sim.event("hangup", party=caller), timeout=40)
    sim.wait("agent notices", sim.event("call_end", party="agent-1002"), timeout=20)
    for ch in (2, 3):
        for what in ("heard", "sent"):
            sim("record", channel=ch, on=False, what=what)
    heard_by_agent = sim("heard", party="agent-1002")["heard"]
    heard_by_other = sim("heard", party="agent-1001")["heard"]
    sim.wait("agent 1002 available again", lambda: _state(sub, "1002") == "available")

    def wav(name: str) -> np.ndarray:
        return read_wav(str(rec / name))

    def at(t_rec0: float, offset: int) -> float:
        return t_rec0 + offset / RATE

    caller_heard, caller_sent = wav("caller-heard.wav"), wav("caller-sent.wav")
    agent_heard, agent_sent = wav("ch3-heard.wav"), wav("ch3-sent.wav")
    other_heard = wav("ch2-heard.wav")
    answered = sim.event("answered", party=caller)()
    assert answered is not None
    offered = sub.on("event/offered")
    answered_ev = sub.on("event/answered")
    assert len(offered) == 1 and len(answered_ev) == 1, (offered, answered_ev)
    call_id = offered[0]["call_id"]
    t_answer, t_connect = answered["t"], answered_ev[0]["t"]
    t_queued = next(p["since"] for p in sub.on("port/1/status") if p["state"] == "queued")

    # 1. the caller hears the greeting: hello, then the main menu, after the box answered
    hello = read_wav(str(SOUNDS / "hello.wav"))
    menu = read_wav(str(ROOT / "firmware" / "prompts" / "main-menu.wav"))
    o_hello, r_hello = find(voiced(hello, 0.5), caller_heard)
    o_menu, r_menu = find(voiced(menu), caller_heard)
    assert r_hello > MATCH and r_menu > MATCH, (r_hello, r_menu)
    assert t_answer - 0.1 <= at(t_call, o_hello) < at(t_call, o_menu) < t_queued

    # 2. after the digit, on hold: what the caller hears is the music-on-hold recording
    hold = caller_heard[
        int((t_queued + 0.2 - t_call) * RATE) : int((t_connect - 0.2 - t_call) * RATE)
    ]
    assert hold.size >= RATE // 2, f"on hold for only {hold.size / RATE:.2f} s"
    chunk = hold[: RATE // 2]
    best = max((find(chunk, read_wav(str(f)))[1], f.name) for f in sorted(MOH_DIR.glob("*.wav")))
    assert best[0] > MATCH, f"the hold audio is no MOH file (best {best})"

    # 3. the longest-idle agent (1002, logged in 8 s before 1001) gets the call and hears the
    #    whisper before the caller is connected; the caller and agent 1001 never hear it
    whisper = voiced(read_wav(str(ROOT / "firmware" / "prompts" / "sales-call.wav")))
    o_wh, r_wh = find(whisper, agent_heard)
    assert r_wh > MATCH, r_wh
    assert t_queued < at(t_rec_stations, o_wh) < t_connect
    assert find(whisper, caller_heard)[1] < 0.5
    assert find(whisper, other_heard)[1] < 0.5

    # 4. caller and agent hear each other: each side's own voice (what it sent) is found in
    #    what the other side heard after the connect, and agent 1001 heard neither
    a0 = int((t_connect - t_rec_stations) * RATE)
    agent_voice = voiced(agent_sent[a0:])
    o_av, r_av = find(agent_voice, caller_heard)
    assert r_av > MATCH and at(t_call, o_av) > t_connect - 0.1, (r_av, o_av)
    c0 = int((t_connect - t_call) * RATE)
    caller_voice = voiced(caller_sent[c0:])
    o_cv, r_cv = find(caller_voice, agent_heard)
    assert r_cv > MATCH and at(t_rec_stations, o_cv) > t_connect - 0.1, (r_cv, o_cv)
    assert find(agent_voice, other_heard)[1] < 0.5 and find(caller_voice, other_heard)[1] < 0.5
    # the card's own listener agrees: each heard exactly the other, agent 1001 heard nobody
    assert {h["who"] for h in heard_by_caller} == {"agent-1002"}
    assert {h["who"] for h in heard_by_agent} == {caller}
    assert heard_by_other == []

    # 5. records: queue_log, the CDR in SQLite and Master.csv
    records = tmp / "records"
    # who hung up first, as the simulated people did it (the agent may notice 3 s of quiet
    # at the end of the caller's hold time and hang up first): the records must say the same
    t_caller_gone = sim.event("hangup", party=caller)()["t"]
    t_agent_gone = sim.event("call_end", party="agent-1002")()["t"]
    side = "caller" if t_caller_gone <= t_agent_gone else "agent"
    lines = [ln.split("|") for ln in (records / "queue_log").read_text().splitlines()]
    assert [ln[1:5] for ln in lines] == [
        ["NONE", "NONE", "Agent/1002", "AGENTLOGIN"],
        ["NONE", "sales", "Agent/1002", "ADDMEMBER"],
        ["NONE", "NONE", "Agent/1001", "AGENTLOGIN"],
        ["NONE", "sales", "Agent/1001", "ADDMEMBER"],
        [call_id, "sales", "NONE", "ENTERQUEUE"],
        [call_id, "sales", "Agent/1002", "CONNECT"],
        [call_id, "sales", "Agent/1002", "COMPLETE" + side.upper()],
    ]
    enter, connect, complete = lines[4:]
    assert enter[5:] == ["", "5551234", "1"]
    holdtime = round(t_connect - t_queued)
    assert connect[5:7] == [str(holdtime), call_id]
    assert complete[5] == str(holdtime) and complete[7] == "1"
    assert abs(int(complete[6]) - 12) <= 2  # calltime: the caller's 12 s hold, plus a reaction
    # written when the box saw the first hang-up: the same moment, or a tick or two later
    t_first_gone = min(t_caller_gone, t_agent_gone)
    assert int(t_first_gone) <= int(complete[0]) <= int(t_first_gone + 0.1), complete

    db = sqlite3.connect(records / "callbox.sqlite")
    db.row_factory = sqlite3.Row
    cdrs = [dict(r) for r in db.execute("SELECT * FROM cdr")]
    db.close()
    assert len(cdrs) == 1
    cdr = cdrs[0]
    assert {k: cdr[k] for k in ("uniqueid", "src", "dst", "dcontext", "clid", "dstchannel")} == {
        "uniqueid": call_id,
        "src": "5551234",
        "dst": "5550100",
        "dcontext": "queue-sales",
        "clid": '"ALICE" <5551234>',
        "dstchannel": "sim/station/2",
    }
    assert (cdr["lastapp"], cdr["disposition"], cdr["userfield"]) == (
        "Queue",
        "ANSWERED",
        "main=1;queue:sales;agent:1002",
    )
    assert abs(cdr["answer"] - t_answer) < 0.2
    assert (
        cdr["duration"] == int(cdr["end"] - cdr["start"])
        or abs(cdr["duration"] - (cdr["end"] - cdr["start"])) < 1
    )
    with open(records / "Master.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1
    assert rows[0][1:3] == ["5551234", "5550100"] and rows[0][16:] == [call_id, cdr["userfield"]]
    assert rows[0][12:15] == [str(cdr["duration"]), str(cdr["billsec"]), "ANSWERED"]

    # 6. MQTT as a real subscriber saw it: 1002 went ringing → whisper → on_call → wrap_up →
    #    available, every transition published; 1001 never left available; the queue counted
    #    one offered and answered call. A ring-mode agent is available only on hook: when the
    #    agent was still off hook as the wrap-up ended (the sim agent leaves a busy tone after
    #    10 s without the caller, the queue's wrap-up is 10 s too), `unavailable` comes between.
    agent_states = [(p["state"], p["since"]) for p in sub.on("agent/1002/state")]
    ports = [(p["state"], p["since"]) for p in sub.on("port/3/status")]
    t_ring = next(t for st, t in ports if st == "ringing")
    t_onhook = next(t for st, t in ports if st == "idle" and t > t_ring)
    # the box saw the station go on hook when the simulated agent hung up (one tick later)
    assert 0 <= t_onhook - t_agent_gone < 0.1, (t_onhook, t_agent_gone)
    i_ring = next(i for i, (st, _) in enumerate(agent_states) if st == "ringing")
    tail = agent_states[i_ring:]
    assert [st for st, _ in tail[:4]] == ["ringing", "whisper", "on_call", "wrap_up"], tail
    assert tail[0][1] == t_ring and tail[2][1] == t_connect
    t_wrapup_end = round(tail[3][1] + wrapup_s, 3)
    if t_onhook > t_wrapup_end:
        assert tail[4:] == [("unavailable", t_wrapup_end), ("available", t_onhook)], tail
    else:
        assert tail[4:] == [("available", t_wrapup_end)], tail
    assert [p["state"] for p in sub.on("agent/1001/state")][-1] == "available"
    assert not any(p["call_id"] for p in sub.on("agent/1001/state"))
    assert answered_ev[0]["agent"] == "1002" and answered_ev[0]["queue"] == "sales"
    assert offered[0]["caller_number"] == "5551234" and offered[0]["caller_name"] == "ALICE"
    completed = sub.on("event/completed")
    assert [(c["call_id"], c["agent"], c["side"]) for c in completed] == [(call_id, "1002", side)]
    stats = sub.on("queue/sales/stats")[-1]
    assert (stats["offered"], stats["answered"], stats["abandoned"], stats["waiting"]) == (
        1,
        1,
        0,
        0,
    )
    assert stats["agents"] == {"available": 2}
    assert sub.on("status")[-1]["state"] == "online"


def test_nailed_agent_ends_the_call_with_a_hook_flash_and_stays_off_hook(nailed_box: Box) -> None:
    """The simulated agent flashes (its phone on hook for FLASH_SECONDS, then back off hook: the
    card reports one hook flash); calld releases the trunk, wrap-up follows, and the agent,
    still off hook, is available for the next call."""
    sim, sub, tmp = nailed_box
    sim("login", agents=[{"station": 2, "agent": "1002", "pin": "2002", "mode": "nailed"}])
    sim.wait("agent 1002 login", sim.event("login", party="agent-1002"))
    sim.wait("agent 1002 available", lambda: _state(sub, "1002") == "available")
    placed = sim("call", trunk=1, number="5551234", name="ALICE", digits="1", hold=4.0,
                 ender="agent")  # fmt: skip
    caller = placed["party"]
    talk = sim.wait("caller talks", sim.event("connected", party=caller), timeout=40)
    flash = sim.wait("agent flashes", sim.event("call_end", party="agent-1002"), timeout=40)
    gone = sim.wait("box releases the caller", sim.event("hangup", party=caller), timeout=20)
    sim.wait("agent 1002 available again", lambda: _state(sub, "1002") == "available"
             and any(p["state"] == "wrap_up" for p in sub.on("agent/1002/state")))  # fmt: skip

    # the agent ended the call after its 4 s of talk, with a flash, and kept the phone off hook
    assert flash["reason"] == "done" and flash["t"] - talk["t"] >= 4.0
    phones = {c["channel"]: c for c in sim("state")["state"]["phones"]}
    assert phones[3]["offhook"], phones[3]
    # the box released the trunk when the line came back from the flash: the loop was open
    # for FLASH_SECONDS (0.5 s) and the card reported the flash then, not before
    assert gone["reason"] == "box hung up"
    completed = sub.on("event/completed")
    assert [(c["agent"], c["side"]) for c in completed] == [("1002", "agent")]
    t_done = completed[0]["t"]
    assert 0.5 - 0.03 <= t_done - flash["t"] <= 0.5 + 0.1, (t_done, flash["t"])
    assert t_done <= gone["t"] < t_done + 0.5

    lines = [ln.split("|") for ln in (tmp / "records" / "queue_log").read_text().splitlines()]
    assert [ln[4] for ln in lines if ln[1] != "NONE"] == ["ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    # nailed: no ringing; whisper, on call, wrap-up, then available with the station off hook
    states = [p["state"] for p in sub.on("agent/1002/state")]
    i = states.index("whisper")
    assert states[i - 1 :] == ["available", "whisper", "on_call", "wrap_up", "available"], states
    wrap = next(p for p in sub.on("agent/1002/state") if p["state"] == "wrap_up")
    assert wrap["since"] == t_done
    ports = [p["state"] for p in sub.on("port/3/status")]
    assert ports[ports.index("connected") :] == ["connected", "offhook"], ports


def test_agent_feature_codes_dialled_from_the_station(box: Box) -> None:
    """Every agent feature code, dialled as DTMF by the simulated agent at its station and
    confirmed by the box: login, pause with a reason, unpause, wrap-up done, logout."""
    sim, sub, tmp = box
    agent = "agent-1001"
    # the simulated agent dials *15 two seconds into its wrap-up (the queue's is 10 s)
    sim("login", agents=[{"station": 1, "agent": "1001", "pin": "1001", "mode": "ring",
                          "wrapup": 2.0}])  # fmt: skip
    sim.wait("login", sim.event("login", party=agent))
    sim.wait("available", lambda: _state(sub, "1001") == "available")

    # one thing at a time, as a person would: the next request once the agent is done (heard
    # the confirmation, hung up) with the last
    sim("pause", party=agent, reason="2")  # *13 2 #: reason 2 is "lunch" in dev.toml
    done = sim.wait("pause dialled", sim.event("state", party=agent, state="paused"))
    paused = sim.wait("paused", lambda: _latest(sub, "1001", "paused"))
    assert paused["reason"] == "lunch" and paused["since"] <= done["t"]
    sim("unpause", party=agent)  # *14
    sim.wait("unpause dialled", lambda: _event_after(sim, done["t"], "state", party=agent))
    sim.wait("available after unpause", lambda: _latest(sub, "1001", "available", paused))

    placed = sim("call", trunk=1, number="5551234", name="ALICE", digits="1", hold=3.0,
                 ender="agent")  # fmt: skip
    sim.wait("agent hangs up", sim.event("call_end", party=agent), timeout=40)
    sim.wait("caller released", sim.event("hangup", party=placed["party"]), timeout=20)
    wrap = sim.wait("wrap-up", lambda: _latest(sub, "1001", "wrap_up"))
    back = sim.wait("wrap-up done", lambda: _latest(sub, "1001", "available", wrap), timeout=20)
    states = [p["state"] for p in sub.on("agent/1001/state")]
    i = states.index("wrap_up")
    # *15 ended the wrap-up while the agent was off hook dialling it: unavailable until it
    # hung up, then available; all well before the queue's 10 s wrap-up timer
    assert states[i:] == ["wrap_up", "unavailable", "available"], states
    ended = sub.on("agent/1001/state")[i + 1]["since"]
    assert 2.0 < ended - wrap["since"] < 10.0 - 1.0, (wrap, ended)
    assert back["since"] > ended

    sim.wait("agent idle", lambda: _event_after(sim, wrap["since"], "state", party=agent,
                                                 state="idle"))  # fmt: skip
    sim("logout", party=agent)  # *12
    sim.wait("logout", sim.event("logout", party=agent))
    sim.wait("logged out", lambda: _state(sub, "1001") == "logged_out")

    lines = [ln.split("|") for ln in (tmp / "records" / "queue_log").read_text().splitlines()]
    mine = [(ln[2], ln[4], ln[5:]) for ln in lines if ln[3] == "Agent/1001"]
    assert [(q, ev) for q, ev, _ in mine] == [
        ("NONE", "AGENTLOGIN"),
        ("sales", "ADDMEMBER"),
        ("sales", "PAUSE"),
        ("sales", "UNPAUSE"),
        ("sales", "CONNECT"),
        ("sales", "COMPLETEAGENT"),
        ("sales", "REMOVEMEMBER"),
        ("NONE", "AGENTLOGOFF"),
    ], mine
    assert mine[2][2][0] == "lunch" and mine[3][2][0] == "lunch"


def _event_after(sim: SimControl, t: float, kind: str, **match: Any) -> dict[str, Any] | None:
    for e in list(sim.events):
        if e.get("event") == kind and e["t"] > t and all(e.get(k) == v for k, v in match.items()):
            return e
    return None


def _latest(
    sub: Subscriber, agent: str, state: str, after: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The agent's latest state message if it is `state` (and newer than `after`)."""
    states = sub.on(f"agent/{agent}/state")
    if not states or states[-1]["state"] != state:
        return None
    if after is not None and states[-1]["since"] <= after["since"]:
        return None
    return states[-1]


def _state(sub: Subscriber, agent: str) -> str:
    states = sub.on(f"agent/{agent}/state")
    return str(states[-1]["state"]) if states else ""
