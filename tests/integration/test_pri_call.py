"""A call on a simulated PRI span through the real box, like the analog call path.

The simulated card (`pri=T1`) plays the carrier with firmware/isdn in the network role; calld
runs the CPE side of `[spans.carrier]`; the D-channel goes card → media engine (`dframe`) →
calld → media engine (`send_frame`) → card as real LAPD frames (HDLC FCS checked at the card
edge). The caller hears the greeting, presses 1 as DTMF audio, reaches agent 1001, both hear
each other, the agent hangs up, and the carrier must see DISCONNECT cause 16 from the box; the
CDR names the B-channel, MQTT has the span's status. Fixtures and helpers are the analog test's.
"""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from cython_ext.wavfile import read_wav
from tests.integration.test_call_path import (
    EPOCH,
    MATCH,
    ROOT,
    SOUNDS,
    SimControl,
    Subscriber,
    box_config,
    find,
    running_box,
    voiced,
)

BCHAN_1 = 4  # trunks=1, stations=2: the span's timeslot 1 is card channel 4, the D-channel 27


@pytest.fixture
def pri_box(tmp_path: Path, mosquitto: Any) -> Iterator[tuple[SimControl, Subscriber, Path]]:
    box_id = "pri" + uuid.uuid4().hex[:8]
    sub = Subscriber(mosquitto.host, mosquitto.port, f"callbox/v1/itest/{box_id}")
    cfg = box_config(tmp_path, mosquitto.host, mosquitto.port, box_id)
    data = tomllib.loads(cfg.read_text())
    data["board"]["card"] = (
        f"sim://?trunks=1&stations=2&seed=7&zone=us&pri=T1&pri_called=5550100"
        f"&control={tmp_path / 'sim.sock'}&start={EPOCH}"
    )
    data["spans"] = {
        "carrier": {
            "kind": "T1",
            "switch": "ni2",
            "role": "cpe",
            "channels": "1-4",
            "base_channel": BCHAN_1,
            "ivr_menu": "main",
            "number": "5550100",
        }
    }
    cfg.write_text(tomli_w.dumps(data))
    try:
        with running_box(cfg, tmp_path) as sim:
            yield sim, sub, tmp_path
    finally:
        sub.close()


def test_pri_call_reaches_ivr_and_agent_and_clears_on_the_d_channel(
    pri_box: tuple[SimControl, Subscriber, Path],
) -> None:
    sim, sub, tmp = pri_box
    rec = tmp / "audio"
    rec.mkdir()
    # the box brings the data link up and restarts the interface (B-channels "restarting" until
    # the carrier acknowledges); the span is reported up with its provisioned channels idle

    def span_status() -> dict[str, Any] | None:
        st = sub.on("span/carrier/status")
        ok = st and st[-1]["link"] == "up" and st[-1]["channels"].get("idle") == [1, 2, 3, 4]
        return st[-1] if ok else None

    status = sim.wait("span up, RESTART acknowledged, on MQTT", span_status)
    assert status["alarm"] == "clear" and status["calls"] == 0
    assert any(
        s["channels"].get("restarting") == [1, 2, 3, 4] for s in sub.on("span/carrier/status")
    )
    assert sim("state")["state"]["span"]["link"] == "up"  # the carrier's side of the data link
    assert status["channels"]["out_of_service"] == list(range(5, 24))

    t_rec = sim.now()
    for what in ("heard", "sent"):
        sim("record", channel=2, on=True, file=str(rec / f"agent-{what}.wav"), what=what)
    sim("login", agents=[{"station": 1, "agent": "1001", "pin": "1001", "mode": "ring"}])
    sim.wait("agent login", sim.event("login", party="agent-1001"))

    # the B-channel records from before the call: the box answers a SETUP within a tick or two
    sim("record", channel=BCHAN_1, on=True, file=str(rec / "caller-heard.wav"), what="heard")
    t_call = sim.now()  # at or just after the recording's start: times from it are not early
    sim("record", channel=BCHAN_1, on=True, file=str(rec / "caller-sent.wav"), what="sent")
    placed = sim(
        "call", trunk=BCHAN_1, number="5551234", name="ALICE", digits="1", hold=8.0, ender="agent"
    )
    caller = placed["party"]
    assert placed["channel"] == BCHAN_1
    setup = sim.wait("SETUP", sim.event("pri", dir="tx", message="SETUP"))
    assert (setup["called"], setup["calling"], setup["channel"]) == ("5550100", "5551234", 1)

    talk = sim.wait("caller talks", sim.event("connected", party=caller), timeout=40)
    sim.until(talk["t"] + 5.0)
    for what in ("heard", "sent"):
        sim("record", channel=BCHAN_1, on=False, what=what)
    end = sim.wait("box hangs up", sim.event("hangup", party=caller), timeout=40)
    assert end["reason"] == "box hung up"
    for what in ("heard", "sent"):
        sim("record", channel=2, on=False, what=what)
    heard_by_caller = sim("heard", party=caller)["heard"]
    heard_by_agent = sim("heard", party="agent-1001")["heard"]

    # the D-channel as the carrier saw it: CONNECT from the box, then the box's DISCONNECT
    # with normal clearing (16), the carrier's RELEASE and the box's RELEASE COMPLETE
    seen = [(e["dir"], e["message"], e.get("cause")) for e in sim.events if e["event"] == "pri"]
    call_msgs = seen[seen.index(("tx", "SETUP", None)) :]
    assert [m for m in call_msgs if m[1] in ("CALL_PROCEEDING", "CONNECT")] == [
        ("rx", "CALL_PROCEEDING", None),
        ("rx", "CONNECT", None),
    ], seen
    clearing = [m for m in call_msgs if m[1] in ("DISCONNECT", "RELEASE", "RELEASE_COMPLETE")]
    assert clearing == [
        ("rx", "DISCONNECT", 16),
        ("tx", "RELEASE", 16),
        ("rx", "RELEASE_COMPLETE", 16),
    ], seen
    disconnect = next(e for e in sim.events if e.get("message") == "DISCONNECT")
    assert disconnect["channel"] in (None, 1)

    # audio: the caller heard the greeting after CONNECT, and caller and agent heard each other
    caller_heard, caller_sent = (
        read_wav(str(rec / "caller-heard.wav")),
        read_wav(str(rec / "caller-sent.wav")),
    )
    agent_heard, agent_sent = (
        read_wav(str(rec / "agent-heard.wav")),
        read_wav(str(rec / "agent-sent.wav")),
    )
    answered = sim.event("answered", party=caller)()
    assert answered is not None
    hello = read_wav(str(SOUNDS / "hello.wav"))
    menu = read_wav(str(ROOT / "firmware" / "prompts" / "main-menu.wav"))
    o_hello, r_hello = find(voiced(hello, 0.5), caller_heard)
    o_menu, r_menu = find(voiced(menu), caller_heard)
    assert r_hello > MATCH and r_menu > MATCH, (r_hello, r_menu)
    assert answered["t"] - 0.1 <= t_call + o_hello / 8000 < t_call + o_menu / 8000
    t_connect = talk["t"]
    c0 = int((t_connect - t_call) * 8000)
    caller_voice = voiced(caller_sent[c0:])
    assert float(np.abs(caller_voice).max()) > 1000
    assert find(caller_voice, agent_heard)[1] > MATCH
    a0 = int((t_connect - t_rec) * 8000)
    agent_voice = voiced(agent_sent[a0:])
    assert find(agent_voice, caller_heard)[1] > MATCH
    assert {h["who"] for h in heard_by_caller} == {"agent-1001"}
    assert {h["who"] for h in heard_by_agent} == {caller}

    # records: the CDR names the B-channel; queue_log has the call through the queue
    records = tmp / "records"
    offered = sub.on("event/offered")
    assert len(offered) == 1 and offered[0]["channel"] == BCHAN_1
    assert offered[0]["trunk_group"] == "carrier"
    assert (offered[0]["caller_number"], offered[0]["caller_name"]) == ("5551234", "ALICE")
    call_id = offered[0]["call_id"]
    sim.wait("CDR written", lambda: (records / "Master.csv").exists())
    lines = [ln.split("|") for ln in (records / "queue_log").read_text().splitlines()]
    events = [ln[4] for ln in lines if ln[1] == call_id]
    assert events == ["ENTERQUEUE", "CONNECT", "COMPLETEAGENT"], lines
    db = sqlite3.connect(records / "callbox.sqlite")
    db.row_factory = sqlite3.Row
    cdrs = [dict(r) for r in db.execute("SELECT * FROM cdr")]
    db.close()
    assert len(cdrs) == 1
    assert {k: cdrs[0][k] for k in ("uniqueid", "src", "dst", "channel", "dstchannel")} == {
        "uniqueid": call_id,
        "src": "5551234",
        "dst": "5550100",
        "channel": "sim/span/1/1",
        "dstchannel": "sim/station/1",
    }
    with open(records / "Master.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][5] == "sim/span/1/1"

    # MQTT: the port is a bchan, and the span showed B-channel 1 in use during the call
    ports = sub.on(f"port/{BCHAN_1}/status")
    assert ports and {p["kind"] for p in ports} == {"bchan"}
    assert [p["state"] for p in ports][-1] == "idle"
    spans = sub.on("span/carrier/status")
    assert any(s["channels"].get("in_use") == [1] and s["calls"] == 1 for s in spans), spans
    assert sim.wait("B-channel idle again", lambda: sub.on("span/carrier/status")[-1]["calls"] == 0)
    assert sub.on("span/carrier/status")[-1]["channels"]["idle"] == [1, 2, 3, 4]

    # the console: `callbox status` draws the span from calld's view
    out = subprocess.run(
        [sys.executable, "-m", "firmware.cli", "status", "--socket", str(tmp / "calld.sock")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    row = next(ln for ln in out.stdout.splitlines() if ln.startswith("carrier "))
    assert row.split()[1:5] == ["T1", "ni2", "up", "clear"], row
    assert "4 idle, 19 out of service" in row, row

    # layer 1: a red alarm on the span reaches call control, MQTT and the console; clear restores
    sim("span_alarm", alarm="red")

    def alarm_is(alarm: str, link: str) -> Any:
        last = sub.on("span/carrier/status")[-1]
        return last if (last["alarm"], last["link"]) == (alarm, link) else None

    red = sim.wait("red alarm on MQTT", lambda: alarm_is("red", "down"))
    assert sim.event("span_alarm", alarm="red")() is not None
    sim("span_alarm", alarm="clear")
    up = sim.wait("span back up", lambda: alarm_is("clear", "up"))
    assert up["since"] > red["since"]
    alarms = [(a["source"], a["alarm"]) for a in sub.on("event/alarm")]
    assert alarms == [("span/carrier", "red"), ("span/carrier", "clear")], alarms
